import dataclasses

import pytest

from hw.config import AccelConfig, ConfigError


def test_defaults_and_derived_values():
    cfg = AccelConfig()
    assert (cfg.pes, cfg.data_width, cfg.acc_width) == (64, 8, 32)
    assert cfg.lane_levels == 6
    assert cfg.column_width == 11
    assert cfg.sum_width == 22
    assert cfg.latency == 18
    assert cfg.acts_per_word == 4
    assert cfg.out_depth == 768


def test_variants_and_hash():
    cfg = AccelConfig()
    other = dataclasses.replace(cfg, pes=16)
    assert other.pes == 16
    assert other.config_hash != cfg.config_hash
    assert AccelConfig().config_hash == cfg.config_hash
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.pes = 4


@pytest.mark.parametrize("fields, field, message", [
    ({"pes": 48}, "pes", r"^PE count must be a power of two from 1 to 1024, not 48$"),
    ({"pes": 0}, "pes", r"^PE count must be a power of two from 1 to 1024, not 0$"),
    ({"pes": 2048}, "pes", r"^PE count must be a power of two from 1 to 1024, not 2048$"),
    ({"data_width": 6}, "data_width", r"^Data width must be 4, 8 or 16 bits, not 6$"),
    ({"acc_width": 40}, "acc_width", r"^Accumulator width must be from 16 to 32 bits, not 40$"),
    ({"acc_width": 20}, "acc_width",
     r"^Accumulator width must be at least 22 bits for 64 PEs of 8 bits, not 20$"),
    ({"max_k": 0}, "max_k", r"^max_k must be from 1 to 65536, not 0$"),
    ({"max_m": 70000}, "max_m", r"^max_m must be from 1 to 65536, not 70000$"),
    ({"weight_depth": 0}, "weight_depth", r"^weight_depth must be from 1 to 1048576, not 0$"),
])
def test_bad_values(fields, field, message):
    with pytest.raises(ConfigError, match=message) as error:
        AccelConfig(**fields)
    assert error.value.field == field


def test_bad_type():
    with pytest.raises(TypeError, match=r"^pes must be an integer, not 4\.0$"):
        AccelConfig(pes=4.0)
