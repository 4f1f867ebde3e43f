"""Plots of the build report, the formats bench, a run's costs and a sweep, as PNG files.

They need matplotlib, the ``plots`` extra (the ``test`` extra pulls it too); without it each
function raises :class:`PlotsUnavailable` saying how to install it. Figures are drawn
off-screen on matplotlib's Agg canvas: no display, no pyplot state.
"""

from pathlib import Path


__all__ = ["PlotsUnavailable", "cost_plot", "formats_plot", "pareto_plot", "require",
           "resources_plot"]


class PlotsUnavailable(RuntimeError):
    """matplotlib is not installed."""


def require():
    """Raise :class:`PlotsUnavailable` unless matplotlib can be imported: a command checks
    before its work, not after."""
    try:
        import matplotlib
    except ImportError as error:
        raise PlotsUnavailable("plots need matplotlib, which the plots extra installs: "
                               "pip install -e \".[plots]\"") from error
    return matplotlib


def _figure(columns, width=5.0, height=3.6):
    require()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=(width * columns, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(1, columns, squeeze=False)[0]


def _save(figure, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def resources_plot(report, path):
    """Used share of each resource of the device, for the accelerator and (when built)
    the dense baseline, from a :func:`gen.build.write_report` document."""
    kinds = ("luts", "ffs", "dsps", "brams")
    labels = ("LUTs", "FFs", "DSPs", "block RAMs")
    builds = [(label, report[key]) for label, key in (("sparse accelerator", "sparse"),
                                                      ("dense MAC array", "dense"))
              if report.get(key) is not None]
    figure, (axes,) = _figure(1, width=6.0)
    width = 0.8 / len(builds)
    for index, (label, build) in enumerate(builds):
        shares = [100 * build["resources"][kind]["used"] /
                  max(1, build["resources"][kind]["available"]) for kind in kinds]
        positions = [position + (index - (len(builds) - 1) / 2) * width
                     for position in range(len(kinds))]
        bars = axes.bar(positions, shares, width, label=label)
        axes.bar_label(bars, labels=[str(build["resources"][kind]["used"]) for kind in kinds],
                       fontsize=7)
    sparse = report["sparse"]
    axes.set_xticks(range(len(kinds)), labels)
    axes.set_ylabel("% of the device")
    axes.set_title(f"{sparse['board']}, P = {sparse['config']['pes']}: resources used")
    axes.legend(fontsize=8)
    return _save(figure, path)


def formats_plot(rows, path):
    """Cycles, eta and link bytes per format and layer; ``rows`` are dicts with ``layer``,
    ``pattern``, ``cycles``, ``eta`` and ``bytes``."""
    layers = list(dict.fromkeys(row["layer"] for row in rows))
    patterns = list(dict.fromkeys(row["pattern"] for row in rows))
    figure, panels = _figure(3, width=4.6, height=4.0)
    width = 0.8 / len(layers)
    for axes, key, label in zip(panels, ("cycles", "eta", "bytes"),
                                ("cycles per input", "eta (nnz/P over cycles)",
                                 "weight stream and table bytes")):
        for index, layer in enumerate(layers):
            values = {row["pattern"]: row[key] for row in rows if row["layer"] == layer}
            positions = [position + (index - (len(layers) - 1) / 2) * width
                         for position in range(len(patterns))]
            axes.bar(positions, [values.get(pattern, 0) for pattern in patterns], width,
                     label=layer)
        axes.set_xticks(range(len(patterns)), patterns, rotation=60, ha="right", fontsize=8)
        axes.set_title(label, fontsize=10)
    panels[0].legend(fontsize=8)
    return _save(figure, path)


def cost_plot(title, layers, times, path):
    """A run's cycles per layer (``layers``: ``(label, cycles, ideal_cycles)``) and its
    compute and link time on each target (``times``: ``{target: (compute_s, link_s)}``)."""
    figure, (left, right) = _figure(2)
    labels = [label for label, _, _ in layers]
    left.bar(labels, [cycles for _, cycles, _ in layers], label="cycles")
    left.plot(labels, [ideal for _, _, ideal in layers], "k_", markersize=20,
              label="ideal (nnz/P)")
    left.set_ylabel("accelerator cycles")
    left.set_title(title, fontsize=10)
    left.legend(fontsize=8)
    targets = list(times)
    compute = [1e3 * times[target][0] for target in targets]
    link = [1e3 * times[target][1] for target in targets]
    right.bar(targets, compute, label="compute")
    right.bar(targets, link, bottom=compute, label="link")
    right.set_yscale("log")
    right.set_ylabel("ms")
    right.set_title("time per run: compute and link", fontsize=10)
    right.legend(fontsize=8)
    return _save(figure, path)


def pareto_plot(rows, fronts, path):
    """Throughput against each resource of ``fronts`` (``{"luts": rows, "brams": rows}``,
    the Pareto front of each): a panel per resource, a colour per workload, every row of
    ``rows`` (:func:`bench.sweep.rows`) with a throughput as a point, its front as a line."""
    labels = {"luts": "LUTs (logic cells)", "ffs": "FFs", "dsps": "DSPs",
              "brams": "block RAMs"}
    workloads = list(dict.fromkeys(row["workload"] for row in rows if row.get("gmacs")))
    figure, panels = _figure(len(fronts), width=4.8, height=3.8)
    for axes, (resource, front) in zip(panels, fronts.items()):
        for colour, workload in enumerate(workloads):
            points = [(row[resource], row["gmacs"]) for row in rows
                      if row["workload"] == workload and row.get("gmacs") and
                      row.get(resource) is not None]
            if not points:
                continue
            axes.scatter(*zip(*points), s=14, color=f"C{colour}", alpha=0.6, label=workload)
            line = sorted((row[resource], row["gmacs"]) for row in front
                          if row["workload"] == workload)
            axes.plot(*zip(*line), color=f"C{colour}", drawstyle="steps-post", linewidth=1)
        axes.set_xlabel(labels.get(resource, resource))
        axes.set_ylabel("throughput (GMAC/s: Fmax x useful MACs per cycle)")
        axes.set_title(f"throughput against {labels.get(resource, resource)}", fontsize=10)
        axes.yaxis.label.set_size(8)
    panels[0].legend(fontsize=7)
    return _save(figure, path)
