"""The fetch unit: expands weight beats into lanes and gathers their activations."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .config import BUS_WIDTH, ceil_log2
from .layouts import beat_layout, fetch_layout, operand_layout
from .memory import BlockMemory, has_lut_ram, registered_read, write_copy
from .replicas import LANES_PER_COPY, lane_copies, replicas, replicate


__all__ = ["ActivationWriteSignature", "FetchUnit"]



class ActivationWriteSignature(wiring.Signature):
    """Writes one bus word of ``acts_per_word`` activations at word address ``addr`` of
    every lane's memory: activation ``i`` of the word where bit ``i`` of ``mask`` is set."""
    def __init__(self, cfg):
        super().__init__({
            "addr": Out(ceil_log2(cfg.act_memory_words)),
            "data": Out(BUS_WIDTH),
            "mask": Out(cfg.acts_per_word),
            "en":   Out(1),
        })


class FetchUnit(wiring.Component):
    """Gathers the activation of every lane of a decoded beat.

    Each lane reads its own activation memory, so the P reads of a beat never conflict. The
    memories are replicas of the layer's input as the host lays it out (``x`` itself, or for
    a grouped layer each group of M inputs at a multiple of ``2**INDEX_BITS``), written to
    every lane at once, and a lane reads the activation at its ``column``.

    Each lane also has a compact buffer for tile-wise layers. A ``gather`` beat (a tile's
    list) reads ``x[column]`` in every lane and stores it in the lane's compact buffer at
    ``slot``, as it leaves; a ``compact`` beat (the tile's weights) reads every lane's compact
    buffer at ``slot`` instead of ``x``. A tile's list is at least two beats long, so its
    weights read a slot two beats after its store at the earliest.
    The buffers are LUT RAM where the FPGA has it (``lut_ram``, by default all but the
    families of :data:`~hw.memory.FAMILIES_WITHOUT_LUT_RAM`), block RAM elsewhere.

    Latency (:attr:`latency`) is two cycles: the memories' read, and the registers of what
    they give; the output is chosen from those registers, for the multipliers' operand
    registers to take.
    A write reaches the memories two cycles after ``act_write`` carries it.
    Under back-pressure the unit holds its output and does not accept input.

    Members
    -------
    i : ``In(stream.Signature(fetch_layout(cfg)))``
        Decoded beats.
    o : ``Out(stream.Signature(operand_layout(cfg)))``
        Weights with their activations and row ends.
    act_write : ``In(ActivationWriteSignature(cfg))``
        Loads the activation vector.
    """
    def __init__(self, cfg, *, lut_ram=None):
        self.cfg = cfg
        self.lut_ram = lut_ram
        super().__init__({
            "i":         In(stream.Signature(fetch_layout(cfg))),
            "o":         Out(stream.Signature(operand_layout(cfg))),
            "act_write": In(ActivationWriteSignature(cfg)),
        })

    @property
    def latency(self):
        """Cycles from a decoded beat on ``i`` to its operands on ``o``."""
        return 2

    def elaborate(self, platform):
        cfg = self.cfg
        lut_ram = self.lut_ram
        if lut_ram is None:
            lut_ram = has_lut_ram(platform)
        m = Module()

        advance = Signal()
        m.d.comb += advance.eq(~self.o.valid | self.o.ready)
        # Lane fields are sliced from signals of the lane array alone: slicing them out of
        # the whole beat's payload for every lane is slow to elaborate.
        incoming = Signal(beat_layout(cfg))
        beat = Signal(fetch_layout(cfg), reset_less=True)
        landed = Signal(fetch_layout(cfg), reset_less=True)
        lanes = Signal(beat_layout(cfg))
        m.d.comb += [incoming.eq(self.i.payload.lanes), lanes.eq(landed.lanes)]

        # Two stages: the memories are read as a beat is latched into ``beat``, and what they
        # give is registered as it moves on to ``landed`` (block RAM outputs are slow: their
        # registers sit by them). The output chooses between those registers, for the
        # multipliers' own operand registers.
        m.d.comb += self.i.ready.eq(advance)
        read_valid = Signal()
        with m.If(advance):
            m.d.sync += [read_valid.eq(self.i.valid), beat.eq(self.i.payload), landed.eq(beat),
                         self.o.valid.eq(read_valid)]
        # Each group of lanes has its own copy of where the beat's activations come from
        # (``controls``), and of whether the gather beat in ``landed`` is valid (to store
        # into its compact buffers as it leaves), so that no register drives every lane.
        gathers = replicas(1, lane_copies(cfg.pes), name="gathering")
        with m.If(advance):
            m.d.sync += [flag.eq(read_valid & control.gather)
                         for flag, control in zip(gathers, beat.controls)]
        operands = self.o.payload

        # Writes reach the memories through a copy of the request per group of lanes
        # (write_copy), which drives a few memories near it rather than one net reaching all
        # P. The request is registered once first, with each group's choice of it, so that a
        # group's load enable comes from a register of its own.
        word_shift = ceil_log2(cfg.acts_per_word)
        group_lanes = min(cfg.pes, LANES_PER_COPY)
        write = self.act_write
        held_addr = Signal.like(write.addr)
        held_data = Signal.like(write.data)
        held_mask = Signal.like(write.mask)
        m.d.sync += [held_addr.eq(write.addr), held_data.eq(write.data),
                     held_mask.eq(write.mask)]
        # One copy of the write enable for each group of lanes: replicas, kept apart.
        chosen = replicate(m, write.en, -(-cfg.pes // group_lanes), name="write_chosen")
        for index in range(cfg.pes):
            if index % group_lanes == 0:
                group = index // group_lanes
                group_en, copy = write_copy(m, chosen[group], {"addr": held_addr,
                                                               "data": held_data,
                                                               "mask": held_mask},
                                            name=f"write_{group}")
            # One activation per entry, so a lane's read is the activation itself; a bus word
            # is written through one port per activation, which synthesis merges into one
            # wide write port of the block RAM.
            replica = m.submodules[f"activations_{index}"] = \
                BlockMemory(shape=cfg.data_width,
                            depth=cfg.act_memory_words * cfg.acts_per_word)
            for offset in range(cfg.acts_per_word):
                port = replica.write_port()
                m.d.comb += [
                    port.addr.eq((copy["addr"] << word_shift) | offset),
                    port.data.eq(copy["data"].word_select(offset, cfg.data_width)),
                    port.en.eq(group_en & copy["mask"][offset]),
                ]
            read = registered_read(m, replica, name=f"activation_{index}")
            m.d.comb += [read.addr.eq(incoming[index].column), read.en.eq(advance)]
            gathered = Signal(cfg.data_width, name=f"gathered_{index}", reset_less=True)
            with m.If(advance):
                m.d.sync += gathered.eq(read.data)

            # The compact buffer is read at the slot of the beat in ``beat``, as the
            # activation memories give their reads: from LUT RAM asynchronously, then
            # registered; from a block RAM (where there is no LUT RAM) by a synchronous port.
            # A gather beat stores its reads as it leaves ``landed``. A tile's list is at
            # least two beats long, so a slot is read two beats after its store at the
            # earliest.
            compact = m.submodules[f"compact_{index}"] = \
                Memory(shape=cfg.data_width, depth=cfg.compact_buffer_depth, init=[])
            store = compact.write_port()
            m.d.comb += [
                store.addr.eq(landed.controls[group].slot),
                store.data.eq(gathered),
                store.en.eq(gathers[group] & advance),
            ]
            if lut_ram:
                load = compact.read_port(domain="comb")
                loaded = Signal(cfg.data_width, name=f"compact_{index}_data", reset_less=True)
                m.d.comb += load.addr.eq(beat.controls[group].slot)
                with m.If(advance):
                    m.d.sync += loaded.eq(load.data)
            else:
                load = compact.read_port()
                loaded = load.data
                m.d.comb += [load.addr.eq(beat.controls[group].slot), load.en.eq(advance)]
            lane, out = lanes[index], operands[index]
            m.d.comb += [
                out.weight.eq(lane.weight),
                out.activation.eq(Mux(landed.controls[group].compact, loaded, gathered)),
                out.last.eq(lane.last),
            ]
        return m
