"""The run protocol's decisions, on a port that answers as told."""

import numpy as np
import pytest

from hw.bus import ACCEL_ID, Reg, Status
from hw.config import FORMAT_VERSION, AccelConfig
from host.bus import register_address
from host.encode import encode
from host.protocol import AcceleratorError, check_identity, run_input, wait_done


CFG = AccelConfig(pes=4, max_k=16, max_m=8, weight_depth=8)


class ScriptedPort:
    """Records writes; answers a read of STATUS with the next of ``statuses`` (the last one
    for ever after), any other read with ``words`` or zeros."""
    def __init__(self, statuses, words=None):
        self.statuses, self.words, self.writes = list(statuses), words or {}, []

    def write(self, addresses, words):
        self.writes += list(zip(np.asarray(addresses).tolist(), np.asarray(words).tolist()))

    def read(self, address, count):
        if address == register_address(CFG, Reg.STATUS):
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            return np.array([status], dtype=np.uint32)
        return np.array([self.words.get(address + i, 0) for i in range(count)],
                        dtype=np.uint32)


LAYER = encode(np.eye(3, 5, dtype=int), CFG, "unstructured")


def test_a_run_is_polled_until_done_and_read_back():
    port = ScriptedPort([Status.BUSY.value] * 3 + [Status.DONE.value])
    run = run_input(port, CFG, LAYER, np.arange(5))
    assert run.status == Status.DONE.value
    assert port.writes[-1] == (register_address(CFG, Reg.CONTROL), 1)
    assert len(run.sums) == 3 and run.counters.cycles == 0


@pytest.mark.parametrize("flag, message", [
    (Status.ROW_ERROR, r"^The run closed a different number of rows than it was given: the "
                       r"weights in the board's memory are not the layer that was sent$"),
    (Status.OVERRUN, r"^A beat closed more rows than the output stage writes in a cycle: the "
                     r"weight stream is not laid out as host.encode lays it out$"),
])
def test_a_status_reporting_an_error_raises_unless_asked_not_to(flag, message):
    status = Status.DONE.value | flag.value
    with pytest.raises(AcceleratorError, match=message):
        run_input(ScriptedPort([status]), CFG, LAYER, np.arange(5))
    assert run_input(ScriptedPort([status]), CFG, LAYER, np.arange(5), check=False).status \
        == status


def test_a_run_that_never_finishes_times_out():
    with pytest.raises(AcceleratorError, match=r"^The run did not finish in 0.05 s "
                                               r"\(status 0x1\)$"):
        wait_done(ScriptedPort([Status.BUSY.value]), register_address(CFG, Reg.STATUS), 0.05)


def test_the_identity_is_checked_word_by_word():
    good = ScriptedPort([0], {register_address(CFG, Reg.ID): ACCEL_ID,
                              register_address(CFG, Reg.VERSION): FORMAT_VERSION,
                              register_address(CFG, Reg.CONFIG_HASH): 0x1234})
    check_identity(good, CFG, 0x1234)
    with pytest.raises(AcceleratorError, match=r"^The board's config_hash is 0x1234, but the "
                                               r"manifest says 0x4321: load the bitstream "
                                               r"built with this manifest$"):
        check_identity(good, CFG, 0x4321)
