# amaranth: UnusedElaboratable=no
# (a block refused by its constructor is never elaborated)

import numpy as np
import pytest

from hw.config import AccelConfig, ConfigError
from hw.output import MULTIPLIER_WIDTH, OutputStage, row_params_layout
from tests.sim_streams import run_stream, stream_latency


def reference(cfg, sums, rows, params, table_base, tables, param_base):
    """The output rule in Python integers, independent of the block."""
    limit = cfg.quant_max
    values = []
    for row, total in zip(rows, sums):
        bias, multiplier, shift = params[param_base + row]
        acc = (total + bias + (1 << 31)) % (1 << 32) - (1 << 31)
        product = acc * multiplier
        y = (product + (1 << (shift - 1))) >> shift if shift else product
        y = max(-limit, min(limit, y))
        values.append(int(tables[table_base][y + 128]))
    return values


def load(dut, params, tables):
    """An async setup writing ``params`` [(bias, multiplier, shift)] and ``tables`` (each
    256 INT8 entries) through the block's write ports."""
    layout = row_params_layout(dut.cfg)

    async def setup(ctx):
        for entry, (bias, multiplier, shift) in enumerate(params):
            bits = layout.const({"bias": bias, "multiplier": multiplier,
                                 "shift": shift}).as_bits()
            for word in range(dut.param_words):
                ctx.set(dut.param_write.beat, entry)
                ctx.set(dut.param_write.word, word)
                ctx.set(dut.param_write.data, (bits >> (32 * word)) & 0xFFFF_FFFF)
                ctx.set(dut.param_write.en, 1)
                await ctx.tick()
        ctx.set(dut.param_write.en, 0)
        words = np.asarray(tables, dtype=np.int64).reshape(-1, 4) & 0xFF
        for address, entries in enumerate(words):
            ctx.set(dut.table_write.beat, address)
            word = sum(int(entry) << (8 * i) for i, entry in enumerate(entries))
            ctx.set(dut.table_write.data, word)
            ctx.set(dut.table_write.en, 1)
            await ctx.tick()
        ctx.set(dut.table_write.en, 0)
    return setup


def random_case(rng, rows, entries):
    params = [(int(rng.integers(-2**31, 2**31)) if rng.random() < 0.2 else
               int(rng.integers(-5000, 5000)),
               int(rng.integers(1 << (MULTIPLIER_WIDTH - 1), 1 << MULTIPLIER_WIDTH)),
               int(rng.choice([0, 1, 2, 7, 8, 9, 15, 16, 23, 31, 40, 47, 63])))
              for _ in range(entries)]
    scale = rng.choice([1, 1000, 1 << 20, 1 << 31], size=rows)
    sums = [int(v) for v in np.clip(rng.normal(size=rows) * scale, -2**31, 2**31 - 1)]
    return params, sums


@pytest.mark.parametrize("seed, pause", [(0, 0.0), (1, 0.3), (2, 0.6)])
def test_rows_are_biased_requantized_and_activated_exactly(seed, pause):
    cfg = AccelConfig(pes=4, max_m=32)
    rng = np.random.default_rng(seed)
    params, sums = random_case(rng, 40, 48)
    tables = rng.integers(-127, 128, (4, 256))
    rows = [int(r) for r in rng.integers(0, 32, 40)]
    param_base, table = 16, 2
    dut = OutputStage(cfg, param_depth=48, tables=4)

    async def setup(ctx):
        await load(dut, params, tables)(ctx)
        ctx.set(dut.param_base, param_base)
        ctx.set(dut.table, table)

    received = run_stream(dut, [{"row": row, "sum": total} for row, total in zip(rows, sums)],
                          pause=pause, seed=seed, setup=setup)
    assert [int(r.row) for r in received] == rows
    assert [int(r.value) for r in received] == reference(cfg, sums, rows, params, table,
                                                         tables, param_base)


def test_the_extremes_of_the_rule():
    """The largest products, shifts of 0 and 63, the clamp on both sides, rounding of exact
    halves up (towards +inf)."""
    cfg = AccelConfig(pes=4, max_m=8)
    top = (1 << MULTIPLIER_WIDTH) - 1
    params = [(0, top, 0), (0, top, 63), (0, 1 << 15, 16), (0, 1 << 15, 16), (0, 1 << 15, 16),
              (0, 1 << 15, 16), (-2**31, top, 47), (2**31 - 1, top, 47)]
    sums = [-2**31, 2**31 - 1, 3, -3, 1, -1, 0, 0]
    tables = np.tile(np.arange(-128, 128), (1, 1))
    dut = OutputStage(cfg, param_depth=8, tables=1)
    received = run_stream(dut, [{"row": r, "sum": s} for r, s in enumerate(sums)],
                          pause=0.2, setup=load(dut, params, tables))
    values = [int(r.value) for r in received]
    assert values == reference(cfg, sums, range(8), params, 0, tables, 0)
    assert values[:6] == [-127, 0, 2, -1, 1, 0]      # 1.5 -> 2, -1.5 -> -1, 0.5 -> 1, -0.5 -> 0


def test_latency():
    dut = OutputStage(AccelConfig(pes=4, max_m=8), param_depth=8, tables=1)
    assert stream_latency(dut, {"row": 0, "sum": 5}) == dut.latency == 11


def test_chained_layers_need_activations_of_at_most_8_bits():
    with pytest.raises(ConfigError,
                       match=r"^Chained layers need activations of at most 8 bits, not 16$"):
        OutputStage(AccelConfig(pes=1, data_width=16), param_depth=8, tables=1)
