import dataclasses
import inspect
import itertools
import re
from pathlib import Path

import pytest

from hw import config
from hw.accel import pipeline_latency
from hw.config import BUS_WIDTH, FIELD_SPECS, AccelConfig, ConfigError, ceil_log2


def test_defaults_and_derived_values():
    cfg = AccelConfig()
    assert (cfg.pes, cfg.data_width, cfg.acc_width) == (64, 8, 32)
    assert cfg.lane_levels == 6
    assert cfg.column_width == 11
    assert cfg.sum_width == 22
    assert pipeline_latency(cfg) == 21
    assert cfg.meta_bits == 6
    assert cfg.beat_bits == 64 * 14
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
    ({"gap_bits": 0}, "gap_bits", r"^gap_bits must be from 1 to 16 bits, not 0$"),
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


@pytest.mark.parametrize("fields, field, message", [
    ({"max_group_width": 12}, "max_group_width",
     r"^Largest group width must be a power of two from 2 to 256, not 12$"),
    ({"output_ports": 32}, "output_ports",
     r"^Output ports must be a power of two from 1 to 16, not 32$"),
    ({"baud_divisor": 0}, "baud_divisor", r"^Baud divisor must be from 1 to 65535, not 0$"),
    ({"link_timeout": 15}, "link_timeout",
     r"^Link timeout must be from 16 to 1073741824 cycles, not 15$"),
    ({"pattern_depth": 65537}, "pattern_depth",
     r"^pattern_depth must be from 1 to 65536, not 65537$"),
    ({"compact_depth": 0}, "compact_depth", r"^compact_depth must be from 1 to 65536, not 0$"),
])
def test_bad_values_of_the_other_fields(fields, field, message):
    with pytest.raises(ConfigError, match=message) as error:
        AccelConfig(**fields)
    assert error.value.field == field


def test_none_only_where_the_spec_gives_it_a_meaning():
    assert AccelConfig(compact_depth=None).compact_depth is None
    with pytest.raises(TypeError, match=r"^max_k must be an integer, not None$"):
        AccelConfig(max_k=None)


# P = 1 of 4 bits: every field's whole range is valid, acc_width's too (sum_width is 8).
EDGE_BASE = {"pes": 1, "data_width": 4}


@pytest.mark.parametrize("name", list(FIELD_SPECS))
def test_each_field_accepts_its_range_and_refuses_past_it(name):
    spec = FIELD_SPECS[name]
    accepted = spec.choices or (spec.low, spec.high)
    for value in accepted:
        assert getattr(AccelConfig(**{**EDGE_BASE, name: value}), name) == value
    for value in (spec.low - 1, spec.high + 1):
        with pytest.raises(ConfigError, match=rf"^{spec.noun} must be .*, not {value}$") as error:
            AccelConfig(**{**EDGE_BASE, name: value})
        assert error.value.field == name
    if spec.power_of_two:
        with pytest.raises(ConfigError, match=rf"^{spec.noun} must be a power of two "):
            AccelConfig(**{**EDGE_BASE, name: spec.high - 1 if spec.high > 2 else 3})


def test_every_field_has_a_spec_and_its_default_is_valid():
    assert list(FIELD_SPECS) == [field.name for field in dataclasses.fields(AccelConfig)]
    defaults = AccelConfig()
    for name, spec in FIELD_SPECS.items():
        assert spec.accepts(getattr(defaults, name)), name


def test_docstring_parameters_are_the_specs():
    doc = " ".join(inspect.getdoc(AccelConfig).split())
    for name, spec in FIELD_SPECS.items():
        kind = "int or None" if spec.none_means is not None else "int"
        assert f"{name} : {kind} {' '.join(spec.doc.split())}" in doc, name


@pytest.mark.parametrize("value, log2", [
    (0, 0), (1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (1024, 10), (1025, 11),
])
def test_ceil_log2(value, log2):
    assert ceil_log2(value) == log2


def test_ceil_log2_refuses_negatives():
    with pytest.raises(ValueError, match=r"^ceil_log2 needs a value of at least 0, not -1$"):
        ceil_log2(-1)


def _configs():
    for pes, data_width, max_k, max_group_width in itertools.product(
            [1 << n for n in range(11)], (4, 8, 16), (1, 3, 31, 100, 1536, 65536),
            [1 << n for n in range(1, 9)]):
        try:
            yield AccelConfig(pes=pes, data_width=data_width, max_k=max_k,
                              max_group_width=max_group_width)
        except ConfigError:
            pass    # 16-bit data over many PEs needs more than 32 accumulator bits


def test_word_arithmetic_matches_the_layouts():
    from hw.layouts import beat_bits, pattern_layout

    configs = list(_configs())
    assert len(configs) > 1000
    for cfg in configs:
        assert cfg.beat_bits == beat_bits(cfg), cfg
        assert cfg.pattern_bits == pattern_layout(cfg).size, cfg
        assert cfg.words_per_beat == -(-beat_bits(cfg) // BUS_WIDTH), cfg
        assert cfg.words_per_pattern == -(-pattern_layout(cfg).size // BUS_WIDTH), cfg


def test_config_imports_nothing_of_hw():
    source = (Path(config.__file__)).read_text()
    assert not re.search(r"^\s*(from\s+(\.|hw)|import\s+hw)", source, re.MULTILINE)


def test_the_readme_configuration_table_is_the_field_specs():
    """The README's table of options says what each field's FieldSpec says."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    table = readme.split("\n## Configuration\n")[1].split("\n\n")[0].strip().splitlines()[2:]
    fields = dataclasses.fields(AccelConfig)
    assert len(table) == len(fields)
    for row, field in zip(table, fields):
        option, name, default, meaning = (cell.strip() for cell in row.split("|")[1:5])
        assert (option, name) == (f"`--{field.name.replace('_', '-')}`", f"`{field.name}`")
        assert meaning == FIELD_SPECS[field.name].help
        if field.default is not None:
            assert default == str(field.default)
        elif field.name == "compact_depth":
            assert default == "K / P"
        else:
            assert default == FIELD_SPECS[field.name].none_means.replace("``", "`")
