"""``SparseAccel`` against the simulated board: the generated board-level Verilog, UART
included, built with Verilator and served on a local TCP port."""

import collections
import types

import numpy as np
import pytest

from hw.accel import pipeline_latency
from hw.config import AccelConfig
from host.driver import AcceleratorError, SparseAccel
from host.golden import golden_matvec
from host.link import FaultyPort, LinkError, SimulatedBoard
from host.patterns import prune
from host.quant import quantize_activations, quantize_weights


#: A small board: layers of these tests need several tiles on it.
SMALL = AccelConfig(pes=4, max_k=64, max_m=32, weight_depth=96, max_group_width=16,
                    baud_divisor=1, link_timeout=4096)


@pytest.fixture(scope="module")
def accel():
    with SparseAccel(config=SMALL, timeout=1.0) as board:
        yield board


def expected(weights, x, pattern=None, sparsity=None):
    pruned = weights if pattern is None else prune(weights, pattern, sparsity=sparsity)
    q, weight_scale = quantize_weights(pruned)
    xq, input_scale = quantize_activations(np.atleast_2d(x))
    y = weight_scale * input_scale[:, None] * golden_matvec(q, xq)
    return y[0] if np.ndim(x) == 1 else y


@pytest.mark.parametrize("pattern, sparsity", [
    (None, None), ("unstructured", 0.6), ("2:4", None), ("1:4", None), ("3:8", None),
    ("bank:16", 0.5), ("tile:4", 0.5), ("dense", None),
])
@pytest.mark.parametrize("batch", [1, 3])
def test_tiled_layers_match_the_golden_model(accel, pattern, sparsity, batch):
    rng = np.random.default_rng(batch)
    weights = rng.normal(size=(45, 90))        # 2 x 2 tiles at least on the small board
    if pattern is None:
        weights *= rng.random(weights.shape) < 0.3
    x = rng.normal(size=(batch, 90)) if batch > 1 else rng.normal(size=90)
    y = accel.run(weights, x, pattern, sparsity=sparsity)
    np.testing.assert_array_equal(y, expected(weights, x, pattern, sparsity))
    stats = accel.last_run
    assert stats.tiles >= 4
    assert stats.inputs == batch
    assert stats.cycles == sum(counters.cycles for counters in stats.counters)
    assert 0 < stats.eta <= 1


def test_a_torch_style_linear_with_bias(accel):
    rng = np.random.default_rng(7)
    weights, bias = rng.normal(size=(8, 20)), rng.normal(size=8)

    class Tensor:
        def __init__(self, value):
            self.value = value

        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return self.value

    linear = types.SimpleNamespace(weight=Tensor(weights), bias=Tensor(bias), in_features=20)
    x = rng.normal(size=20)
    np.testing.assert_array_equal(accel.run(linear, x), expected(weights, x) + bias)


@pytest.mark.parametrize("weights, x, pattern, error, message", [
    (np.full((2, 3), np.nan), np.ones(3), None, ValueError,
     r"^weights must be finite, but weights\[0, 0\] is nan$"),
    (np.ones((2, 3)), np.array([1, np.inf, 0]), None, ValueError,
     r"^x must be finite, but x\[1\] is inf$"),
    (np.ones((2, 3)), np.ones(4), None, ValueError,
     r"^x has 4 inputs, but the layer takes 3$"),
    (np.ones(3), np.ones(3), None, ValueError,
     r"^weights must be a matrix \(M, K\), not shape \(3,\)$"),
    (np.ones((2, 3)), np.ones(3), "3:3", ValueError,
     r"^N:M pattern needs 1 <= N < M <= 16, not '3:3'$"),
    (np.ones((2, 3)), np.ones(3), "blocky", ValueError, r"^Unknown sparsity pattern 'blocky'"),
])
def test_bad_input_is_refused_before_anything_is_sent(accel, weights, x, pattern, error,
                                                      message):
    sent = accel.link.bytes_sent
    with pytest.raises(error, match=message):
        accel.run(weights, x, pattern)
    assert accel.link.bytes_sent == sent


def test_a_board_that_does_not_match_its_manifest_is_refused():
    from gen.simboard import build_sim_board
    with SimulatedBoard(build_sim_board(SMALL)) as board:
        manifest = dict(board.manifest, config_hash=board.manifest["config_hash"] ^ 1)
        with pytest.raises(AcceleratorError, match=r"^The board's config_hash is 0x"):
            SparseAccel(board.url, manifest=manifest)


def test_link_faults_never_give_a_wrong_result():
    """At least 1000 injected faults; every run returns the exact result or raises."""
    rng = np.random.default_rng(11)
    outcomes = collections.Counter()
    with SparseAccel(config=SMALL, timeout=0.1, retries=6) as accel:
        port = FaultyPort(accel.link.port, seed=3, request_rate=0.2, answer_rate=0.005)
        accel.link.port = port
        while sum(port.faults.values()) < 1000:
            pattern = ["unstructured", "2:4", "tile:4"][outcomes.total() % 3]
            weights = rng.normal(size=(20, 40))
            x = rng.normal(size=40)
            sparsity = None if pattern == "2:4" else 0.5
            try:
                y = accel.run(weights, x, pattern, sparsity=sparsity)
            except (LinkError, AcceleratorError) as error:
                outcomes[f"raised {type(error).__name__}"] += 1
                print(f"raised: {error}")
                continue
            np.testing.assert_array_equal(y, expected(weights, x, pattern, sparsity))
            outcomes["exact"] += 1
        print(f"faults injected: {dict(port.faults)}, total {sum(port.faults.values())}; "
              f"runs: {dict(outcomes)}; retries: {accel.link.retries_made}")
    assert outcomes["exact"] > sum(outcomes.values()) // 2


def test_a_disconnect_raises():
    with SparseAccel(config=SMALL, timeout=0.2) as accel:
        accel._board.close()
        with pytest.raises(LinkError):
            accel.run(np.ones((4, 8)), np.ones(8))


def test_minilm_ffn_on_the_default_simulated_board():
    """``SparseAccel()`` as a user starts it: the 64-PE simulated board, the 384x1536 FFN
    output projection of all-MiniLM-L6-v2, 50 % unstructured."""
    from host.models import load_minilm_linear, minilm_activations
    weights = load_minilm_linear("encoder.layer.0.output.dense")
    x = minilm_activations(1536)
    with SparseAccel() as accel:
        y = accel.run(weights, x, "unstructured", sparsity=0.5)
        stats = accel.last_run
    np.testing.assert_array_equal(y, expected(weights, x, "unstructured", 0.5))
    assert stats.tiles == 1
    # The gap code's filler lanes cost under 1 % of the beats.
    assert stats.cycles <= stats.nnz / 64 * 1.01 + pipeline_latency(accel.cfg)


def test_auto_pattern_runs_the_planners_choice(accel):
    from host.planner import plan_sparsity
    rng = np.random.default_rng(11)
    weights = rng.normal(size=(20, 48))
    x = rng.normal(size=(3, 48))

    def prune_layer(name, choice):
        return prune(weights, choice.pattern, sparsity=choice.sparsity)

    def drift(replaced):
        return float(np.sum((x @ replaced["fc"].T - x @ weights.T) ** 2))

    plan = plan_sparsity({"fc": (weights, 3)}, prune_layer, drift, target_speedup=1.5)
    chosen = plan.choice("fc")
    assert chosen.choice.prunes
    y = accel.run(weights, x, pattern="auto", plan=plan, name="fc")
    assert np.array_equal(y, expected(plan.weights("fc"), x))
    with pytest.raises(ValueError, match=r"^The plan was made for other weights of layer 'fc'$"):
        accel.run(weights + 1, x, pattern="auto", plan=plan, name="fc")
    with pytest.raises(ValueError, match=r"^pattern='auto' takes a planner's choice: pass plan= "):
        accel.run(weights, x, pattern="auto")
    with pytest.raises(ValueError, match=r"^plan and name go with pattern='auto'$"):
        accel.run(weights, x, plan=plan, name="fc")


@pytest.mark.parametrize("structure", ["dense", "2:4", "1:4", "unstructured"])
def test_a_layer_given_no_pattern_runs_in_its_cheapest_format(accel, structure):
    # Which format is cheapest depends on P (tests/test_planner.py checks the names at 64);
    # here, that the driver runs the planner's choice, and that it costs no more than the
    # unstructured stream that was the default.
    from host.planner import cheapest_pattern
    rng = np.random.default_rng(13)
    weights = rng.uniform(0.5, 1, (24, 64)) * rng.choice([-1, 1], (24, 64))
    if structure != "dense":
        weights = prune(weights, structure, sparsity=0.6 if structure == "unstructured" else None)
    x = rng.normal(size=(2, 64))
    y = accel.run(weights, x)
    np.testing.assert_array_equal(y, expected(weights, x))
    auto = accel.last_run
    assert auto.pattern == cheapest_pattern(accel.cfg, quantize_weights(weights)[0])[0].name
    accel.run(weights, x, "unstructured", sparsity=0.0)     # every weight kept, unstructured
    forced = accel.last_run
    assert (auto.cycles, auto.bytes_sent) <= (forced.cycles, forced.bytes_sent)
    if structure == "dense":
        assert auto.pattern == "dense" and auto.bytes_sent < forced.bytes_sent
    # A resident layer given no pattern is placed in its cheapest format too.
    small = weights[:8, :32]
    loaded = accel.load(small, calibration=x[:, :32])
    loaded(x[:, :32])
    q = quantize_weights(small)[0]
    assert loaded.last_run.layers[0].format == cheapest_pattern(accel.cfg, q)[0].name


def test_the_manifest_gives_the_link_its_rate():
    with SparseAccel(config=SMALL, timeout=1.0, progress=False) as accel:
        assert accel.manifest["link"] == {"clock_hz": 100e6, "baud_divisor": 1,
                                          "baud_rate": 100e6, "nominal_baud_rate": 100e6,
                                          "baud_error": 0.0}
        assert accel._serial.baudrate == 100_000_000
        manifest = dict(accel.manifest, link=None)
        with pytest.raises(ValueError, match=r"^The manifest states no baud rate \(it was "
                                             r"generated for no board\): pass baudrate=$"):
            SparseAccel(accel._board.url, manifest=manifest)


def test_the_simulated_board_at_the_real_divisor():
    """The UART at 33 cycles a bit, as on a board at 100 MHz and 3 Mbaud."""
    rng = np.random.default_rng(5)
    weights, x = rng.normal(size=(20, 40)), rng.normal(size=(2, 40))
    with SparseAccel(config=SMALL, real_divisor=True, timeout=1.0, progress=False) as accel:
        assert accel.cfg.baud_divisor == 33
        assert accel.manifest["link"] == {"clock_hz": 100e6, "baud_divisor": 33,
                                          "baud_rate": 100e6 / 33,
                                          "nominal_baud_rate": 3_000_000,
                                          "baud_error": 0.010101}
        assert accel._serial.baudrate == 3_000_000
        y = accel.run(weights, x, "2:4")
    np.testing.assert_array_equal(y, expected(weights, x, "2:4"))


def vcd_variables(path):
    """The names of the variables a VCD file declares, by scope: ``{"TOP": {...}, ...}``."""
    scopes, found = [], {}
    with open(path) as vcd:
        for line in vcd:
            words = line.split()
            if words[:1] == ["$scope"]:
                scopes.append(words[2])
            elif words[:1] == ["$upscope"]:
                scopes.pop()
            elif words[:1] == ["$var"]:
                found.setdefault(".".join(scopes), set()).add(words[4])
            elif words[:1] == ["$enddefinitions"]:
                return found
    return found


def test_a_trace_of_the_simulated_board(tmp_path):
    rng = np.random.default_rng(6)
    weights, x = rng.normal(size=(8, 12)), rng.normal(size=12)
    trace = tmp_path / "board.vcd"
    with SparseAccel(config=SMALL, trace=trace, timeout=1.0, progress=False) as accel:
        y = accel.run(weights, x, "unstructured", sparsity=0.5)
    np.testing.assert_array_equal(y, expected(weights, x, "unstructured", 0.5))
    variables = vcd_variables(trace)
    assert {"clk", "rst", "rx", "tx", "busy", "core_clk", "core_active"} <= variables["TOP"]
    assert {"bus__addr", "bus__w_en"} <= variables["TOP.sparse_board"]
    assert trace.stat().st_size > 100_000          # the cycles of a run, not just a header


def test_trace_options_are_checked(monkeypatch):
    import gen.simboard
    with pytest.raises(ValueError, match=r"^A trace file ends in \.vcd or \.fst, not "
                                         r"'board\.txt'$"):
        SparseAccel(config=SMALL, trace="board.txt")
    with pytest.raises(ValueError, match=r"^real_divisor and trace are options of the "
                                         r"simulated board, not of a board on a port$"):
        SparseAccel("loop://", manifest={}, trace="board.vcd")
    with pytest.raises(ValueError, match=r"^trace must be 'vcd' or 'fst', not 'ghw'$"):
        gen.simboard.build_sim_board(SMALL, trace="ghw")
    monkeypatch.setattr(gen.simboard, "fst_buildable", lambda: False)
    with pytest.raises(RuntimeError, match=r"^An FST trace needs the lz4 and zlib headers, "
                                           r"which the C\+\+ compiler does not find"):
        SparseAccel(config=SMALL, trace="board.fst")


class RecordingBar:
    """Stands in for tqdm: records each bar's total and what it was advanced by."""
    bars = []

    def __init__(self, *, total, disable, **options):
        self.total, self.disable, self.steps = total, disable, []
        self.bars.append(self)

    def update(self, amount=1):
        self.steps.append(amount)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


@pytest.mark.parametrize("progress", [True, False])
def test_progress_bars_count_bytes_and_runs(accel, monkeypatch, capsys, progress):
    import host.driver
    monkeypatch.setattr(host.driver, "tqdm", RecordingBar)
    monkeypatch.setattr(RecordingBar, "bars", [])
    monkeypatch.setattr(accel, "progress", progress)
    rng = np.random.default_rng(7)
    accel.run(rng.normal(size=(70, 100)), rng.normal(size=(3, 100)), "2:4")
    sent, runs = RecordingBar.bars
    assert sent.total == sum(sent.steps) > 0 and sent.disable is not progress
    assert runs.total == sum(runs.steps) == 3 * accel.last_run.tiles
    assert accel.last_run.tiles > 1


def test_no_progress_output_when_disabled(accel, capsys):
    accel.progress = False
    rng = np.random.default_rng(8)
    accel.run(rng.normal(size=(70, 100)), rng.normal(size=(3, 100)), "2:4")
    assert capsys.readouterr().err == ""


def test_a_counting_link_counts_the_bytes_a_real_one_carries(accel):
    """:class:`host.link.CountingLink` (the boards' estimates in ``python -m host``): the
    same frames as the real link, but for the extra status polls of a run the board had not
    finished at the first."""
    from hw.link import CRC_BYTES, REQUEST_HEADER_BYTES
    from host.link import CountingLink, frame_overhead
    from host.protocol import run_layer
    from host.tiling import tile_layer
    rng = np.random.default_rng(9)
    weights, x = rng.normal(size=(30, 70)), rng.normal(size=(2, 70))
    link = accel.link
    before = (link.bytes_sent, link.bytes_received, link.transactions)
    accel.run(weights, x, "unstructured", sparsity=0.5)
    sent, received, frames = (link.bytes_sent - before[0], link.bytes_received - before[1],
                              link.transactions - before[2])
    q, _ = quantize_weights(prune(weights, "unstructured", sparsity=0.5))
    xq, _ = quantize_activations(x)
    counting = CountingLink(SMALL.frame_words)
    for tile in tile_layer(q, SMALL, "unstructured"):
        width = tile.layer.shape[1]
        run_layer(counting, SMALL, tile.layer, xq[:, tile.col0:tile.col0 + width], check=False)
    polls = frames - counting.transactions
    request = 1 + REQUEST_HEADER_BYTES + CRC_BYTES
    assert polls >= 0
    assert sent - counting.bytes_sent == polls * request
    assert received - counting.bytes_received == polls * (frame_overhead(1) - request)
    assert counting.bytes_sent > 20 * np.count_nonzero(q) // 8    # 20 bits a weight
