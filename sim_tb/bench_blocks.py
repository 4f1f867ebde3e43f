"""Stream bench for one block: feed beats with random pauses, take results with random
back-pressure, packing and unpacking payloads with the block's own Amaranth layouts."""

import json

import cocotb
import numpy as np
from amaranth.lib import data
from cocotb.triggers import FallingEdge

from hw.config import AccelConfig
from hw.layouts import fetch_layout, operand_layout, product_layout, sum_layout
from sim_tb.runner import load_stimulus, save_response
from sim_tb.streams import StreamSink, StreamSource, start_clock


#: Input and output layouts of each block the bench drives.
LAYOUTS = {
    "fetch":  (fetch_layout, operand_layout),
    "reduce": (product_layout, sum_layout),
}


def lanes_of(layout):
    """The lane array of a beat layout: the layout itself, or its ``lanes`` field."""
    return layout if isinstance(layout, data.ArrayLayout) else layout["lanes"].shape


def beat_field_names(layout):
    """The fields of a beat beside its lanes; a beat's ``controls`` hold one copy of their
    fields for each group of lanes."""
    if isinstance(layout, data.ArrayLayout):
        return []
    if "controls" in dict(layout):
        return [name for name, _ in layout["controls"].shape.elem_shape]
    return [name for name, _ in layout if name != "lanes"]


def pack(layout, lane_fields, beat_fields, beat):
    lanes = [{name: int(values[beat, lane]) for name, values in lane_fields.items()}
             for lane in range(lanes_of(layout).length)]
    if isinstance(layout, data.ArrayLayout):
        return layout.const(lanes).as_value().value
    fields = {name: ([int(value) for value in values[beat]] if np.ndim(values) > 1
                     else int(values[beat]))
              for name, values in beat_fields.items()}
    if "controls" in dict(layout):
        fields = {"controls": [fields] * layout["controls"].shape.length}
    return layout.const({"lanes": lanes, **fields}).as_value().value


@cocotb.test()
async def stream_block(dut):
    stimulus = load_stimulus()
    cfg = AccelConfig(**json.loads(str(stimulus["config"])))
    in_layout, out_layout = (make(cfg) for make in LAYOUTS[str(stimulus["block"])])
    lane_fields = {name: stimulus[f"in_{name}"] for name, _ in lanes_of(in_layout).elem_shape}
    beat_fields = {name: stimulus[f"in_{name}"] for name in beat_field_names(in_layout)}
    beats = len(next(iter(lane_fields.values())))

    # Every input is driven before the clock starts: an undriven valid is Z in Icarus.
    pause = float(stimulus["pause"])
    source = StreamSource(dut, "i", pause=pause, seed=int(stimulus["seed"]))
    sink = StreamSink(dut, "o", pause=pause, seed=int(stimulus["seed"]) + 1)
    if "act_words" in stimulus:
        dut.act_write__en.value = 0
    await start_clock(dut)
    if "act_words" in stimulus:
        # Words written to every lane's memory.
        for addr, word in enumerate(stimulus["act_words"]):
            await FallingEdge(dut.clk)
            dut.act_write__addr.value = int(addr)
            dut.act_write__data.value = int(word)
            dut.act_write__mask.value = (1 << len(dut.act_write__mask)) - 1
            dut.act_write__en.value = 1
        await FallingEdge(dut.clk)
        dut.act_write__en.value = 0
        for _ in range(2):                  # the last write lands two cycles later
            await FallingEdge(dut.clk)

    cocotb.start_soon(source.send(pack(in_layout, lane_fields, beat_fields, beat)
                                  for beat in range(beats)))
    received = await sink.receive(beats)

    save_response(**unpack(out_layout, received))


def unpack(layout, received):
    """The fields of the received beats, as arrays: ``(beats, P)`` for the fields of a lane
    array, ``(beats, n)`` for an array field of a beat, ``(beats,)`` for a scalar one."""
    views = [layout.from_bits(raw) for raw in received]
    if isinstance(layout, data.ArrayLayout):
        return {name: np.array([[int(view[lane][name]) for lane in range(layout.length)]
                                for view in views], dtype=np.int64)
                for name, _ in layout.elem_shape}
    return {name: np.array([[int(value) for value in view[name]]
                            if isinstance(field.shape, data.ArrayLayout) else int(view[name])
                            for view in views], dtype=np.int64)
            for name, field in layout}
