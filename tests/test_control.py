"""The weight stream's pointer and run control, cycle by cycle."""

import pytest
from amaranth.sim import Simulator

from hw.bus import Status
from hw.control import RunControl, WeightStream


def simulate(dut, testbench):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()


@pytest.mark.parametrize("words, programmable", [(3, False), (1, False), (5, True)])
def test_the_pointer_moves_a_word_per_write_and_a_beat_per_words(words, programmable):
    dut = WeightStream(16, words, programmable=programmable)
    places = []

    async def testbench(ctx):
        per_beat = words
        if programmable:
            per_beat = 2
            ctx.set(dut.words_per_beat.w_stb, 1)
            ctx.set(dut.words_per_beat.w_data, per_beat)
            await ctx.tick()
            ctx.set(dut.words_per_beat.w_stb, 0)
        ctx.set(dut.pointer.w_stb, 1)
        ctx.set(dut.pointer.w_data, 5)
        await ctx.tick()
        ctx.set(dut.pointer.w_stb, 0)
        for cycle in range(3 * per_beat + 1):
            ctx.set(dut.write, cycle % 2 == 0 or cycle > 2)    # a gap: no write, no move
            places.append((ctx.get(dut.beat), ctx.get(dut.word)))
            await ctx.tick()
        places.append(per_beat)

    simulate(dut, testbench)
    per_beat = places.pop()
    moves = [place for cycle, place in enumerate(places) if cycle % 2 == 0 or cycle > 2]
    expected = [(5 + n // per_beat, n % per_beat) for n in range(len(moves))]
    assert moves == expected
    assert places[1] == places[2]                                # the gap held it


@pytest.mark.parametrize("beats", [0, 1, 4])
def test_a_run_is_busy_from_the_request_until_its_beats_retire(beats):
    dut = RunControl(beats_width=4, rows_width=4, copies=3)
    seen = {}

    async def testbench(ctx):
        ctx.set(dut.n_beats, beats)
        ctx.set(dut.n_rows, 2)
        ctx.set(dut.request, 1)
        await ctx.tick()
        ctx.set(dut.request, 0)
        seen["busy_at_once"] = ctx.get(dut.busy)
        seen["start"] = ctx.get(dut.start)          # every copy, the cycle after the request
        await ctx.tick()
        cycles = 0
        while ctx.get(dut.busy):
            ctx.set(dut.retired, cycles % 2)         # a beat retires every other cycle
            ctx.set(dut.rows, min(2, (cycles + 1) // 2))
            await ctx.tick()
            cycles += 1
        ctx.set(dut.retired, 0)
        await ctx.tick()
        seen["cycles"], seen["done"], seen["status"] = cycles, ctx.get(dut.done), \
            ctx.get(dut.status)

    simulate(dut, testbench)
    assert seen["busy_at_once"] == 1
    assert seen["start"] == 0b111
    assert seen["done"] == 1
    assert seen["cycles"] == 2 * beats + 1
    rows_closed = min(2, (2 * beats) // 2) if beats else 0
    error = 0 if rows_closed == 2 else Status.ROW_ERROR.value
    assert seen["status"].value == Status.DONE.value | error


def test_an_overrun_is_reported_in_status():
    dut = RunControl(beats_width=4, rows_width=4, copies=1)
    seen = []

    async def testbench(ctx):
        ctx.set(dut.overrun, 1)
        await ctx.tick().repeat(2)
        seen.append(ctx.get(dut.status))

    simulate(dut, testbench)
    assert seen == [Status.OVERRUN]
