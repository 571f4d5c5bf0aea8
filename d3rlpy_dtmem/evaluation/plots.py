"""PNG plots: per-task scores with intervals, training curves, memory activity.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot state, no
display needed) and written atomically: to a temporary name, renamed when complete.
"""

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from d3rlpy.types import NDArray

from ..files import atomic_path
from .aggregate import Interval

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "plot_memory_activity",
    "plot_metric_runs",
    "plot_task_scores",
    "plot_training_curves",
    "read_metric_csv",
]

# d3rlpy's timing metrics and per-parameter gradient statistics: not training curves
_SKIPPED_PREFIX = "time_"
_SKIPPED_SUFFIX = "_grad"


def _figure(width: float, height: float) -> "Figure":
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: "Figure", path: str | os.PathLike) -> Path:
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=100)
    return Path(path)


def plot_task_scores(
    labels: Sequence[str],
    intervals: Sequence[Interval],
    path: str | os.PathLike,
    ylabel: str = "score",
    title: str | None = None,
) -> Path:
    """One bar per task (its point estimate) with its confidence interval as error bar."""
    if len(labels) != len(intervals) or not labels:
        raise ValueError("one interval per label, and at least one label, are needed")
    points = np.array([i.point for i in intervals])
    errors = np.array([[i.point - i.low for i in intervals], [i.high - i.point for i in intervals]])
    figure = _figure(max(4.0, 0.7 * len(labels) + 2.0), 3.5)
    axes = figure.add_subplot()
    positions = np.arange(len(labels))
    axes.bar(positions, points, yerr=np.maximum(errors, 0.0), capsize=4, color="tab:blue")
    rotated = len(labels) > 3
    axes.set_xticks(
        positions, labels, rotation=30 if rotated else 0, ha="right" if rotated else "center"
    )
    axes.axhline(0.0, color="black", linewidth=0.8)
    axes.set_ylim(*_score_limits(intervals, ylabel))
    axes.set_ylabel(ylabel)
    axes.set_title(_wrapped(title or f"{ylabel} per task (95% CI)", figure))
    return _save(figure, path)


def _score_limits(intervals: Sequence[Interval], ylabel: str) -> tuple[float, float]:
    """The y range: [0, 1] for rates; otherwise the intervals and 0, never a zero range
    (all-zero scores would get matplotlib's range of +-0.05)."""
    if "rate" in ylabel:
        return 0.0, 1.05
    low = min(0.0, *(i.low for i in intervals))
    high = max(0.0, *(i.high for i in intervals))
    if high - low < 1e-9:
        high = low + 1.0
    margin = 0.05 * (high - low)
    return low - (margin if low < 0 else 0.0), high + margin


def _wrapped(title: str, figure: "Figure") -> str:
    """The title broken into lines that fit the figure's width (about 11 characters an inch
    at the default font size)."""
    import textwrap

    width = max(20, int(figure.get_figwidth() * 11))
    return "\n".join(textwrap.wrap(title, width))


def read_metric_csv(path: str | os.PathLike) -> tuple[NDArray, NDArray]:
    """A d3rlpy metric file (``epoch,step,value`` rows) -> (steps, values)."""
    with open(path, newline="") as f:
        rows = [row for row in csv.reader(f) if row]
    try:
        steps = np.array([int(row[1]) for row in rows], dtype=np.int64)
        values = np.array([float(row[2]) for row in rows], dtype=np.float64)
    except (IndexError, ValueError):
        raise ValueError(f"{path}: not a d3rlpy metric file (rows of epoch,step,value)") from None
    return steps, values


def plot_training_curves(
    log_dir: str | os.PathLike, path: str | os.PathLike, metrics: Sequence[str] | None = None
) -> Path:
    """One panel per metric of a d3rlpy run folder (its ``<metric>.csv`` files) over steps.

    Args:
        log_dir: the run folder (``<root>/<experiment>``) holding d3rlpy's CSV files.
        path: the PNG to write.
        metrics: metric names (default: every CSV file but d3rlpy's ``time_*`` timings and
            ``*_grad`` gradient statistics).
    """
    log_dir = Path(log_dir)
    if metrics is None:
        metrics = sorted(
            p.stem
            for p in log_dir.glob("*.csv")
            if not (p.stem.startswith(_SKIPPED_PREFIX) or p.stem.endswith(_SKIPPED_SUFFIX))
        )
    if not metrics:
        raise ValueError(f"{log_dir}: no metric CSV files (is it a d3rlpy run folder?)")
    columns = min(3, len(metrics))
    rows = -(-len(metrics) // columns)
    figure = _figure(4.0 * columns, 2.8 * rows)
    for panel, metric in enumerate(metrics, start=1):
        csv_path = log_dir / f"{metric}.csv"
        if not csv_path.is_file():
            raise ValueError(f"{log_dir}: no {metric}.csv")
        steps, values = read_metric_csv(csv_path)
        axes = figure.add_subplot(rows, columns, panel)
        axes.plot(steps, values, marker="o" if len(steps) < 20 else None, markersize=3)
        axes.set_title(metric)
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
    return _save(figure, path)


def plot_memory_activity(
    activity: NDArray, path: str | os.PathLike, title: str | None = None
) -> Path:
    """A slot x step heatmap of write weights (a (T, N) array from ``memory_activity``)."""
    activity = np.asarray(activity)
    if activity.ndim != 2 or 0 in activity.shape:
        raise ValueError(f"activity must be a non-empty (steps, slots) array, got {activity.shape}")
    steps, slots = activity.shape
    figure = _figure(min(12.0, 4.0 + steps / 40), min(8.0, 3.0 + slots / 60))
    axes = figure.add_subplot()
    # (T, N) -> (N, T): slots on the vertical axis, time running left to right
    image = axes.imshow(activity.T, aspect="auto", origin="lower", interpolation="nearest")
    figure.colorbar(image, ax=axes, label="write weight w·β")
    axes.set_xlabel("step")
    axes.set_ylabel("memory slot")
    axes.set_title(_wrapped(title or "memory activity", figure))
    return _save(figure, path)


def plot_metric_runs(
    runs: Mapping[str, str | os.PathLike], metric: str, path: str | os.PathLike
) -> Path:
    """One line per d3rlpy run folder (``{label: folder}``) of ``metric`` over steps."""
    figure = _figure(5.5, 3.5)
    axes = figure.add_subplot()
    for label, run_dir in runs.items():
        csv_path = Path(run_dir) / f"{metric}.csv"
        if not csv_path.is_file():
            raise ValueError(f"{run_dir}: no {metric}.csv")
        steps, values = read_metric_csv(csv_path)
        axes.plot(steps, values, marker="o" if len(steps) < 20 else None, markersize=3, label=label)
    axes.set_xlabel("step")
    axes.set_ylabel(metric)
    axes.grid(alpha=0.3)
    axes.legend()
    return _save(figure, path)
