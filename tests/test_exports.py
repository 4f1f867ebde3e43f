"""The C header, CSV and JSON that gen writes: the header compiled with the system C compiler,
its values printed by a C program and checked against the manifest."""

import csv
import json
import re
import shutil
import subprocess

import pytest

from gen.__main__ import main
from hw.bus import ACCELERATOR_REGISTERS


def _compiler():
    found = shutil.which("cc") or shutil.which("gcc")
    if found is None:
        raise RuntimeError("No C compiler: install gcc (apt-get install gcc)")
    return found


def _header_values(out, tmp_path):
    """Every macro of ``sparse_accel.h``, by name, as the C compiler evaluates it."""
    names = re.findall(r"^#define (SPARSE_ACCEL_\w+) ", (out / "sparse_accel.h").read_text(),
                       re.M)
    program = tmp_path / "print.c"
    program.write_text("#include <stdio.h>\n#include \"sparse_accel.h\"\nint main(void) {\n" +
                       "".join(f'    printf("{name} %llu\\n", (unsigned long long){name});\n'
                               for name in names) + "    return 0;\n}\n")
    binary = tmp_path / "print"
    subprocess.run([_compiler(), "-std=c99", "-Wall", "-Werror", "-I", str(out), "-o",
                    str(binary), str(program)], check=True, capture_output=True, text=True)
    lines = subprocess.run([str(binary)], check=True, capture_output=True,
                           text=True).stdout.split()
    return dict(zip(lines[::2], map(int, lines[1::2])))


@pytest.mark.parametrize("bus", ["wishbone", "axi-lite"])
def test_the_header_compiles_and_agrees_with_the_manifest(bus, tmp_path):
    out = tmp_path / "out"
    main(["--pes", "4", "--max-k", "20", "--max-m", "10", "--weight-depth", "8",
          "--bus", bus, "--out", str(out), "--quiet"])
    manifest = json.loads((out / "manifest.json").read_text())
    values = _header_values(out, tmp_path)
    expected = {
        "SPARSE_ACCEL_FORMAT_VERSION": manifest["format_version"],
        "SPARSE_ACCEL_ID": manifest["id"],
        "SPARSE_ACCEL_CONFIG_HASH": manifest["config_hash"],
        "SPARSE_ACCEL_BYTE_ADDRESSED": 1,
        "SPARSE_ACCEL_BYTE_ADDR_WIDTH": manifest["byte_map"]["addr_width"],
        "SPARSE_ACCEL_CFG_PES": 4,
        "SPARSE_ACCEL_LANES_PER_BEAT": 4,
    }
    for region, entry in manifest["byte_map"]["regions"].items():
        expected[f"SPARSE_ACCEL_REGION_{region}_BASE"] = entry["base"]
        expected[f"SPARSE_ACCEL_REGION_{region}_SIZE"] = entry["size"]
    for name, entry in manifest["registers"].items():
        expected[f"SPARSE_ACCEL_REG_{name}"] = manifest["byte_map"]["registers"][name]
        expected[f"SPARSE_ACCEL_REG_{name}_WIDTH"] = entry["width"]
    for group, key in (("STATUS", "status_bits"), ("CONTROL", "control_values"),
                       ("FORMAT", "formats")):
        for name, value in manifest[key].items():
            expected[f"SPARSE_ACCEL_{group}_{name}"] = value
    for layout, fields in manifest["layouts"].items():
        if layout == "lanes_per_beat":
            continue
        for field, entry in fields.items():
            stem = f"SPARSE_ACCEL_{layout.upper()}_{field.upper()}"
            expected[f"{stem}_OFFSET"] = entry["offset"]
            expected[f"{stem}_WIDTH"] = entry["width"]
            expected[f"{stem}_PER_LANE"] = int(entry["per_lane"])
    assert {name: values.get(name) for name in expected} == expected
    assert values["SPARSE_ACCEL_REG_IRQ_CLEAR"] == 4 * ACCELERATOR_REGISTERS["IRQ_CLEAR"].address
    assert values["SPARSE_ACCEL_LAYER_N_BEATS_WIDTH"] == \
        manifest["layouts"]["layer"]["n_beats"]["width"]


def test_the_register_tables_list_the_map_in_order(tmp_path):
    main(["--pes", "4", "--max-k", "20", "--max-m", "10", "--weight-depth", "8",
          "--bus", "axi-lite", "--out", str(tmp_path), "--quiet"])
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    with open(tmp_path / "registers.csv", newline="") as table:
        rows = list(csv.DictReader(table))
    listed = json.loads((tmp_path / "registers.json").read_text())
    assert [row["name"] for row in rows] == [register.name
                                             for register in ACCELERATOR_REGISTERS]
    for row, entry in zip(rows, listed["registers"]):
        register = ACCELERATOR_REGISTERS[row["name"]]
        assert int(row["byte_offset"]) == entry["byte_offset"] == 4 * register.address
        assert row["access"] == entry["access"] == register.access.value
        assert int(row["width"]) == entry["width"] == manifest["registers"][row["name"]]["width"]
    assert listed["byte_map"] == manifest["byte_map"]
    assert listed["host_bus"]["name"] == "axi-lite"
