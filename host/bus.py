"""Addresses and words of the accelerator's host bus, from the shared register and bus map."""

import numpy as np

from hw.config import BUS_WIDTH, ceil_log2
from hw.layouts import Reg, Region, bus_addr_width


__all__ = ["address", "register_address", "output_address", "activation_words", "layer_writes"]


def address(cfg, region, index):
    """Bus word address of ``index`` (int or array) within ``region``."""
    return (int(region.value) << (bus_addr_width(cfg) - 2)) | np.asarray(index, dtype=np.int64)


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


def layer_writes(cfg, layer, x):
    """``(addresses, words)`` that load an encoded layer and one input vector, and describe it.

    Ends with the ``N_BEATS`` and ``N_ROWS`` writes; a write of 1 to ``CONTROL`` then runs it.
    """
    words = layer.words(cfg)
    word_bits = ceil_log2(cfg.words_per_beat)
    beat, word = np.meshgrid(np.arange(layer.n_beats), np.arange(cfg.words_per_beat),
                             indexing="ij")
    weight_addresses = address(cfg, Region.WEIGHTS, (beat << word_bits) | word).reshape(-1)
    x_words = activation_words(cfg, x)
    act_addresses = address(cfg, Region.ACTIVATIONS, np.arange(len(x_words)))
    addresses = np.concatenate([
        weight_addresses, act_addresses,
        [register_address(cfg, Reg.N_BEATS), register_address(cfg, Reg.N_ROWS)]])
    data = np.concatenate([words.reshape(-1), x_words,
                           np.array([layer.n_beats, len(layer.rows)], dtype=np.uint32)])
    return addresses.astype(np.int64), data.astype(np.uint32)
