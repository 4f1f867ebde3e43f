"""The manifest: everything a host needs to drive one generated accelerator."""

from hw.accel import pipeline_latency
from hw.config import BUS_WIDTH, FORMAT_VERSION
from hw.bus import (ACCEL_ID, ACCELERATOR_REGISTERS, BUS_READ_LATENCY, BUS_WRITE_LATENCY,
                    Control, Region, Status, bus_addr_width, byte_address_map,
                    region_addr_width)
from hw.chain import TABLE_WORDS, layer_words
from hw.layouts import Format, field_offsets, layer_layout, pattern_layout, raw_beat_layout
from hw.output import row_params_layout
from hw.top import host_bus
from hw.uart import MAX_BAUD_ERROR, baud_error


__all__ = ["link_rate", "manifest"]


def link_rate(cfg, clock_hz=None, baud_rate=None):
    """The link's speed: the clock (``clock_hz``, ``None`` when not known), the UART's
    divisor, the rate it makes, the rate asked for (``baud_rate``; by default the one it
    makes) and the relative error between them.

    Raises ``ValueError`` when the error exceeds :data:`hw.uart.MAX_BAUD_ERROR`.
    """
    if clock_hz is None:
        if baud_rate is not None:
            raise ValueError(f"A baud rate ({baud_rate!r}) needs the clock it is made from")
        return {"clock_hz": None, "baud_divisor": cfg.baud_divisor, "baud_rate": None,
                "nominal_baud_rate": None, "baud_error": None}
    made = clock_hz / cfg.baud_divisor
    nominal = made if baud_rate is None else baud_rate
    error = baud_error(clock_hz, cfg.baud_divisor, nominal)
    if abs(error) > MAX_BAUD_ERROR:
        raise ValueError(f"Baud divisor {cfg.baud_divisor} of {clock_hz / 1e6:g} MHz makes "
                         f"{made:.0f} baud, {error:+.1%} off {nominal:.0f} baud, more than "
                         f"the {MAX_BAUD_ERROR:.1%} a UART tolerates")
    return {"clock_hz": clock_hz, "baud_divisor": cfg.baud_divisor, "baud_rate": made,
            "nominal_baud_rate": nominal, "baud_error": round(error, 6)}


def manifest(cfg, bus="native", *, clock_hz=None, baud_rate=None):
    """A JSON-ready description of the accelerator built from ``cfg``, behind the host bus
    named ``bus`` (:data:`hw.top.HOST_BUSES`); on a board whose clock is ``clock_hz`` its
    link is meant to run at ``baud_rate`` (:func:`link_rate`)."""
    top = host_bus(bus)
    return {
        "format_version": FORMAT_VERSION,
        "config": cfg.to_dict(),
        "config_hash": cfg.config_hash,
        "id": ACCEL_ID,
        "latency": pipeline_latency(cfg),
        # The core's clock and the UART's rate; clock and rates are null when the Verilog
        # is generated for no particular board.
        "link": link_rate(cfg, clock_hz, baud_rate),
        "bus": {
            "word_width": BUS_WIDTH,
            "addr_width": bus_addr_width(cfg),
            "read_latency": BUS_READ_LATENCY,
            "write_latency": BUS_WRITE_LATENCY,
            "regions": {region.name: {"select": region.value,
                                      "addr_width": region_addr_width(cfg, region)}
                        for region in Region},
        },
        # The top's bus: "native" (word addresses, bus above), "wishbone" or "axi-lite"
        # (byte addresses: word a at byte 4 * a, byte_map below).
        "host_bus": {"name": top.name, "summary": top.summary,
                     "byte_addressed": top.byte_addressed},
        # Byte address of each region and byte offset of each register from REGS's base.
        "byte_map": byte_address_map(cfg),
        # Every register the engine implements: address within REGS, access ("r", "w" or
        # "rw"), width in bits, group of related registers at consecutive addresses, doc.
        "registers": ACCELERATOR_REGISTERS.describe(cfg),
        "status_bits": {flag.name: flag.value for flag in Status},
        "control_values": {flag.name: flag.value for flag in Control},
        "formats": {member.name: member.value for member in Format},
        "memories": {
            "weights": {"beats": cfg.weight_depth, "words_per_beat": cfg.words_per_beat,
                        "bits": cfg.weight_depth * cfg.beat_width},
            "activations": {"lanes": cfg.pes, "words": cfg.act_memory_words,
                            "acts_per_word": cfg.acts_per_word,
                            "bits": cfg.pes * cfg.act_memory_words * BUS_WIDTH},
            "patterns": {"entries": cfg.pattern_depth, "words_per_entry": cfg.words_per_pattern,
                         "bits": cfg.pattern_depth * cfg.words_per_pattern * BUS_WIDTH},
            "outputs": {"banks": cfg.output_ports, "depth": cfg.out_depth,
                        "bits": cfg.output_ports * cfg.out_depth * cfg.acc_width},
            # The resident network's (when cfg.chains): the layer table (words_per_entry
            # words an entry), the output stage's rows (2 words each), the activation
            # tables (TABLE_WORDS words each), the result memory and the layer counters.
            "network": {"supported": cfg.chains, "layers": cfg.max_layers,
                        "words_per_layer": layer_words(cfg), "param_rows": cfg.param_rows,
                        "table_words": TABLE_WORDS, "result_words": cfg.result_words,
                        "activation_words": cfg.act_memory_words},
        },
        "layouts": {
            # Each is a struct of arrays: field `name` of lane i is `width` bits at
            # offset + i * width, or for a field that is not per lane, at offset. A beat's
            # metadata is INDEX_BITS bit planes, index_0 its least significant.
            name: {field: {"offset": offset, "width": width, "signed": is_signed,
                           "per_lane": lanes}
                   for field, (offset, width, is_signed, lanes)
                   in field_offsets(layout).items()}
            for name, layout in (("beat", raw_beat_layout(cfg, cfg.meta_bits)),
                                 ("pattern", pattern_layout(cfg)),
                                 ("layer", layer_layout(cfg)),
                                 ("row_params", row_params_layout(cfg)))
        } | {"lanes_per_beat": cfg.pes},
    }
