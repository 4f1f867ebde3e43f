import numpy as np
import pytest

from hw.accum import OutputAccumulator
from hw.config import AccelConfig
from hw.layouts import sum_layout
from host.golden import wrap
from tests.sim_streams import feed, latency, simulate


def accumulated_rows(sums, closes, cfg):
    """The rows the output stage writes for beats of run sums (n_beats, C + 1) and closes
    (n_beats,): run ``r < closes`` of a beat ends a row, run ``closes`` carries on into the
    next beat's first run; a beat that closes more than C rows is dropped. Returns the rows,
    wrapped to the accumulator width, and whether a beat was dropped."""
    sums, closes = np.asarray(sums, dtype=np.int64), np.asarray(closes)
    ports = cfg.output_ports
    runs = np.arange(ports + 1)
    sent = (runs <= closes[:, None]) & (closes[:, None] <= ports)
    values, ends = sums[sent], (runs < closes[:, None])[sent]
    row = np.cumsum(ends) - ends
    rows = np.zeros(int(ends.sum()), dtype=np.int64)
    closed = row < len(rows)
    np.add.at(rows, row[closed], values[closed])
    return wrap(rows, cfg.acc_width), bool((closes > ports).any())


def run_accumulator(cfg, layers, *, pause, seed):
    """Run ``layers``, each ``(sums, closes)`` of its beats, through the output stage, with a
    ``clear`` before each and random pauses between beats; read each layer's rows back, the
    last beat's as soon as they may be. Returns, per layer, ``(rows, overrun, retired,
    sums)``: the row count, the overrun flag, the beats retired and the sums read."""
    dut = OutputAccumulator(cfg)
    layout = sum_layout(cfg)
    results = []
    retired = [0]

    async def count_retired(ctx):
        while True:
            _, _, pulse = await ctx.tick().sample(dut.retired)
            retired[0] += pulse

    async def testbench(ctx):
        for number, (sums, closes) in enumerate(layers):
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            retired[0] = 0
            beats = [layout.const({"sums": [int(s) for s in run_sums], "closes": int(close)})
                     for run_sums, close in zip(sums, closes)]
            await feed(ctx, dut.i, beats, pause=pause, seed=seed + number)
            # The cycle after the last beat: its rows are counted, and written.
            rows, overrun = ctx.get(dut.rows), ctx.get(dut.overrun)
            await ctx.tick()
            # Reads, one a cycle, each answered two cycles after it; the last row first, the
            # last beat's as soon as they may be.
            answers = []
            for cycle in range(rows + 2):
                ctx.set(dut.read_row, max(rows - 1 - cycle, 0))
                ctx.set(dut.read_en, int(cycle < rows))
                if cycle >= 2:
                    answers.append(ctx.get(dut.read_data))
                await ctx.tick()
            results.append((rows, overrun, retired[0], answers[::-1]))

    simulate(dut, testbench, background=[count_retired])
    return results


def random_layer(cfg, rng, beats, *, carry_share, overrun_at=None, big=False):
    """Beats of random run sums, each closing 0 rows with probability ``carry_share`` and
    otherwise 1 to C; ``overrun_at``, a beat that closes C + 1; ``big``, sums near the
    largest."""
    ports, top = cfg.output_ports, 1 << (cfg.sum_width - 1)
    sums = rng.integers(-top, top, (beats, ports + 1))
    if big:
        sums = rng.integers(top - 8, top, (beats, ports + 1))
    closes = np.where(rng.random(beats) < carry_share, 0, rng.integers(1, ports + 1, beats))
    if overrun_at is not None:
        closes[overrun_at] = ports + 1
    return sums, closes


@pytest.mark.parametrize("pes, data_width, ports, pause", [
    (4, 4, 1, 0.3), (8, 8, 2, 0.5), (8, 8, 4, 0.0), (4, 4, 16, 0.3),
])
def test_rows_with_stalls(pes, data_width, ports, pause):
    cfg = AccelConfig(pes=pes, data_width=data_width, acc_width=16 if data_width == 4 else 32,
                      max_k=8, max_m=64, weight_depth=8, output_ports=ports)
    rng = np.random.default_rng(ports)
    layers = [
        random_layer(cfg, rng, 24, carry_share=0.3),
        # Rows that span many beats, wrapping the accumulator where it is narrow.
        random_layer(cfg, rng, 70, carry_share=0.9, big=True),
        # Every beat closes C rows, then one closes nothing: the carry is the last run.
        (rng.integers(-5, 5, (4, ports + 1)), np.array([ports] * 3 + [0])),
        # An empty layer, and a layer with a beat that closes too many rows.
        (np.zeros((0, ports + 1), dtype=int), np.zeros(0, dtype=int)),
        random_layer(cfg, rng, 12, carry_share=0.3, overrun_at=5),
    ]
    for (sums, closes), (rows, overrun, retired, answers) in zip(
            layers, run_accumulator(cfg, layers, pause=pause, seed=ports)):
        expected, expected_overrun = accumulated_rows(sums, closes, cfg)
        assert len(expected) <= cfg.max_m
        assert (rows, overrun, retired) == (len(expected), expected_overrun, len(closes))
        assert answers == expected.tolist()


def test_latency():
    cfg = AccelConfig(pes=4, max_k=8, max_m=8, weight_depth=8, output_ports=2)
    dut = OutputAccumulator(cfg)
    beat = sum_layout(cfg).const({"sums": [1, 2, 3], "closes": 2})

    def offer(ctx):
        ctx.set(dut.i.payload, beat)
        ctx.set(dut.i.valid, 1)

    cycles = latency(dut, offer, lambda ctx: ctx.set(dut.i.valid, 0),
                     lambda ctx: ctx.get(dut.rows) == 2)
    assert cycles == dut.latency == 1
