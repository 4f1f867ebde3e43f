"""Addresses and words of the accelerator's host bus, from the shared register and bus map."""

import numpy as np

from hw.bus import Reg, Region, bus_addr_width, pattern_address, region_addr_width



__all__ = ["address", "register_address", "output_address", "activation_words",
           "weight_writes", "input_writes", "setting_writes"]


def address(cfg, region, index):
    """Bus word address of ``index`` (int or array) within ``region``."""
    shift = bus_addr_width(cfg) - Region.as_shape().width
    return (int(region.value) << shift) | np.asarray(index, dtype=np.int64)


def register_address(cfg, reg):
    return int(address(cfg, Region.REGS, reg.value))


def output_address(cfg, row):
    return address(cfg, Region.OUTPUTS, row)


def activation_words(cfg, x):
    """Pack one quantized input vector into bus words, lowest column in the low bits."""
    x = np.asarray(x, dtype=np.int64)
    per_word = cfg.acts_per_word
    padded = np.zeros(-(-len(x) // per_word) * per_word, dtype=np.int64)
    padded[:len(x)] = x & ((1 << cfg.data_width) - 1)
    shifts = np.arange(per_word, dtype=np.int64) * cfg.data_width
    return (padded.reshape(-1, per_word) << shifts).sum(axis=1).astype(np.uint32)


def weight_writes(cfg, layer, *, first_beat=0):
    """``(addresses, words)`` that stream an encoded layer's beats into the weight memory,
    from beat ``first_beat``.

    Each run of beats of one size starts with ``WEIGHT_POINTER`` and ``WORDS_PER_BEAT``; its
    words follow at consecutive addresses of the weight region (the address itself is
    ignored), so they travel in long frames.
    """
    addresses, words = [np.zeros(0, np.int64)], [np.zeros(0, np.uint32)]
    sizes = layer.packed_words
    starts = np.r_[0, np.flatnonzero(np.diff(sizes)) + 1] if len(sizes) else []
    stream = address(cfg, Region.WEIGHTS, 0)
    span = 1 << region_addr_width(cfg, Region.WEIGHTS)
    for start, stop in zip(starts, np.r_[starts[1:], len(sizes)]):
        addresses += [register_address(cfg, Reg.WEIGHT_POINTER),
                      register_address(cfg, Reg.WORDS_PER_BEAT)]
        words += [first_beat + start, sizes[start]]
        run = layer.packed[start:stop, :sizes[start]].reshape(-1)
        addresses.append(stream + np.arange(len(run)) % span)
        words.append(run)
    return (np.concatenate([np.atleast_1d(a) for a in addresses]).astype(np.int64),
            np.concatenate([np.atleast_1d(w) for w in words]).astype(np.uint32))


def input_writes(cfg, layer, x):
    """``(addresses, words)`` that load one quantized input vector into every lane's memory,
    laid out as the layer's format reads it (:meth:`~host.encode.EncodedLayer.activations`)."""
    words = activation_words(cfg, layer.activations(x))
    return address(cfg, Region.ACTIVATIONS, np.arange(len(words))), words


def setting_writes(cfg, layer):
    """``(addresses, words)`` that describe an encoded layer to the decoder and the sequencer:
    its format registers, its pattern table, and ``N_BEATS``, ``N_ROWS`` and ``N_LANES``."""
    registers = {**layer.settings, Reg.N_BEATS: layer.n_beats, Reg.N_ROWS: len(layer.rows),
                 Reg.N_LANES: layer.n_lanes}
    addresses = [register_address(cfg, reg) for reg in registers]
    words = list(registers.values())
    if layer.pattern is not None:
        beats, word_count = layer.pattern.shape
        index = pattern_address(cfg, np.arange(beats)[:, None], np.arange(word_count))
        addresses.extend(address(cfg, Region.PATTERN, index.reshape(-1)))
        words.extend(layer.pattern.reshape(-1))
    return np.array(addresses, dtype=np.int64), np.array(words, dtype=np.uint32)
