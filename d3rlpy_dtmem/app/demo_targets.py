"""The demo's four targets, checked on one quickstart run, each with its margin's interval.

The targets (what the demo is expected to show; docs/results.md measures them over seeds):

* DT-Mem's mean training-task success >= 0.5;
* ... and >= the no-memory model's minus 0.05;
* memory-only LoRA's held-out success > 0;
* ... and >= half of full fine-tuning's.

A target's *margin* is how far the run clears it (negative: missed by that much). Every
margin is a mean over tasks of a per-episode quantity (``A - 0.5``, ``A - B + 0.05``, ``L``,
``L - F / 2``, episodes paired by their index: the models play the same evaluation seeds),
so its 95% interval comes from a bootstrap over episodes stratified by task. An interval that
straddles 0 says the run cannot tell whether the target holds.
"""

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:  # the CLI imports this module: it stays free of torch and d3rlpy
    from ..evaluation.aggregate import Interval

__all__ = [
    "MEASURES",
    "TARGET_NAMES",
    "TargetCheck",
    "check_targets",
    "demo_measures",
    "format_targets",
]

# measure -> the (model, stage) whose mean success over tasks it is
MEASURES: dict[str, tuple[str, str]] = {
    "DT-Mem train": ("DT-Mem", "pretrain"),
    "no memory train": ("no memory", "pretrain"),
    "LoRA": ("DT-Mem", "LoRA"),
    "full FT": ("DT-Mem", "full FT"),
}

Episodes = Mapping[str, NDArray]  # measure -> (episodes, tasks) successes


@dataclasses.dataclass(frozen=True)
class _Target:
    name: str
    measure: str  # the measure the target is about
    # what the measure must reach, from the run's measures (floats) or, for the per-episode
    # margins ``episodes[measure] - needed(episodes)``, from its episodes (arrays)
    needed: Callable[[Any], Any]
    strict: bool = False  # the measure must exceed ``needed`` rather than reach it


_TARGETS = (
    _Target("DT-Mem train >= 0.5", "DT-Mem train", lambda m: 0.5),
    _Target("DT-Mem >= no memory - 0.05", "DT-Mem train", lambda m: m["no memory train"] - 0.05),
    _Target("LoRA > 0", "LoRA", lambda m: 0.0, strict=True),
    _Target("LoRA >= full FT / 2", "LoRA", lambda m: m["full FT"] / 2),
)
TARGET_NAMES = tuple(target.name for target in _TARGETS)


@dataclasses.dataclass(frozen=True)
class TargetCheck:
    """One target on one run: the measure's value, what it needed, whether it holds, and the
    margin ``value - needed`` with its bootstrap interval (``None`` without episodes)."""

    name: str
    value: float
    needed: float
    met: bool
    margin: "Interval | None" = None

    def describe(self) -> str:
        """One line: ``name: value (needed n) met|missed, margin m [low, high]``."""
        text = (
            f"{self.name}: {self.value:.3f} (needed {self.needed:.3f}) "
            f"{'met' if self.met else 'missed'}, margin {self.value - self.needed:+.3f}"
        )
        return text if self.margin is None else f"{text} {_interval(self.margin)}"


def demo_measures(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The four measures of a run from its ``results.json`` rows: mean success over tasks."""
    found = {}
    for measure, key in MEASURES.items():
        values = [row["success"] for row in rows if (row["model"], row["stage"]) == key]
        if not values:
            raise ValueError(f"the results have no {key[0]!r} rows of stage {key[1]!r}")
        found[measure] = float(np.mean(values))
    return found


def _met(value: float, needed: float, strict: bool) -> bool:
    # the measures are means of episode counts: compare them rounded off float noise
    value, needed = round(value, 9), round(needed, 9)
    return value > needed if strict else value >= needed


def check_targets(
    measures: Mapping[str, float], episodes: Episodes | None = None, seed: int = 0
) -> list[TargetCheck]:
    """Every target on one run's ``measures`` (:func:`demo_measures`); with ``episodes``
    (measure -> (episodes, tasks) success matrix, rows paired across measures), each margin's
    95% interval too."""
    from ..evaluation.aggregate import stratified_bootstrap_ci

    checks = []
    for target in _TARGETS:
        value, needed = measures[target.measure], target.needed(measures)
        margin = None
        if episodes is not None:
            margins = episodes[target.measure] - target.needed(episodes)  # (episodes, tasks)
            margin = stratified_bootstrap_ci(margins, "mean", seed=seed)
        checks.append(
            TargetCheck(target.name, value, needed, _met(value, needed, target.strict), margin)
        )
    return checks


def format_targets(checks: Sequence[TargetCheck]) -> list[str]:
    """Markdown table lines of :func:`check_targets`' result."""
    lines = [
        "| target | this run | needed | met | margin | 95% CI of the margin |",
        "|---|---:|---:|---|---:|---|",
    ]
    for check in checks:
        interval = "" if check.margin is None else _interval(check.margin)
        lines.append(
            f"| {check.name} | {check.value:.3f} | {check.needed:.3f} | "
            f"{'yes' if check.met else 'no'} | {check.value - check.needed:+.3f} | {interval} |"
        )
    return lines


def _interval(margin: "Interval") -> str:
    return f"[{margin.low:+.3f}, {margin.high:+.3f}]"
