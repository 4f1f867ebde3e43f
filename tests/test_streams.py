from hw.streams import StreamRegister
from tests.sim_streams import run_stream


def test_stream_register_passes_every_payload_in_order():
    payloads = list(range(256)) + [0, 255, 0]
    assert run_stream(StreamRegister(8), payloads, pause=0.4, seed=5) == payloads
