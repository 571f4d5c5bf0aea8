"""Evaluation reports: a markdown table, per-episode CSV, JSON summary and bar plots.

Each task's episodes (all seeds pooled) are its runs: a task's score is the mean over its
episodes with a bootstrap interval, and tasks measured with the same score (human-normalized,
DQN-normalized, success rate, return) are aggregated together by IQM and mean with
stratified-bootstrap intervals (:mod:`d3rlpy_dtmem.evaluation.aggregate`). A task may carry
several scores (Atari games: human- and DQN-normalized); each is reported under its kind.
"""

import csv
import dataclasses
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from d3rlpy.types import NDArray

from ..files import atomic_path
from .aggregate import Interval, aggregate_scores, task_intervals
from .plots import plot_task_scores
from .rollouts import EvaluationResult

__all__ = ["TaskResult", "markdown_report", "summarize", "write_report"]


@dataclasses.dataclass(frozen=True)
class TaskResult:
    """The evaluation of one task and its per-episode scores.

    Args:
        label: task name, e.g. ``"atari:Pong"``.
        score_name: what ``scores`` measures (``"human-normalized score"``...).
        result: the rollouts.
        scores: (seeds, episodes) task scores.
        other_scores: further (seeds, episodes) scores of the same episodes by kind, e.g.
            ``{"DQN-normalized score": ...}`` beside a human-normalized ``scores``.
        capped: episodes were cut by a step cap below the env's protocol (e.g.
            ``--max-episode-steps 10`` on Atari): normalized scores of its truncated episodes
            are not comparable with published ones.
        notes: warnings about the task's scores for the report (e.g. a DQN reference barely
            above random play).
    """

    label: str
    score_name: str
    result: EvaluationResult
    scores: NDArray
    other_scores: Mapping[str, NDArray] = dataclasses.field(default_factory=dict)
    capped: bool = False
    notes: tuple[str, ...] = ()

    @property
    def cut_short(self) -> bool:
        """Some episodes were truncated by a cap below the protocol's."""
        return self.capped and self.result.truncated_episodes > 0

    def all_scores(self) -> dict[str, NDArray]:
        """``{score kind: (seeds, episodes) scores}``, the main score first."""
        return {self.score_name: self.scores, **self.other_scores}


def _scored(tasks: Sequence[TaskResult]) -> Iterator[tuple[TaskResult, str, NDArray]]:
    """``(task, score kind, scores)`` for every score of every task."""
    for task in tasks:
        for name, scores in task.all_scores().items():
            yield task, name, scores


def summarize(
    tasks: Sequence[TaskResult],
    repetitions: int = 2000,
    seed: int = 0,
    allow_truncated: bool = False,
) -> dict[str, Any]:
    """Per-task intervals and, per score kind, IQM and mean with stratified intervals.

    Normalized scores of tasks whose episodes were cut short (:attr:`TaskResult.cut_short`)
    are left out of the aggregates unless ``allow_truncated``; ``"not_aggregated"`` names
    them by score kind.

    Returns:
        ``{"tasks": [...], "aggregates": {score_name: {"tasks", "task_names", "iqm",
        "mean"}}, "not_aggregated": {score_name: [task, ...]}, "notes": [...]}`` of plain
        values (JSON-ready);
        intervals are ``{"point", "low", "high"}``. A task with several scores has one row
        per score kind, with its count of ``truncated`` episodes.
    """
    if not tasks:
        raise ValueError("no tasks to summarize")
    rows = []
    groups: dict[str, list[NDArray]] = {}
    members: dict[str, list[str]] = {}
    left_out: dict[str, list[str]] = {}
    for task, name, scores in _scored(tasks):
        if task.cut_short and "normalized" in name and not allow_truncated:
            left_out.setdefault(name, []).append(task.label)
        else:
            groups.setdefault(name, []).append(scores)
            members.setdefault(name, []).append(task.label)
        (interval,) = task_intervals(scores.reshape(-1, 1), repetitions, seed=seed)
        rows.append(
            {
                "task": task.label,
                "score_name": name,
                "seeds": list(task.result.seeds),
                "episodes": int(scores.size),
                "mean_return": task.result.mean_return,
                "success_rate": task.result.success_rate,
                "truncated": task.result.truncated_episodes,
                "score": dataclasses.asdict(interval),
            }
        )
    aggregates = {}
    for name, group in groups.items():
        if len({scores.size for scores in group}) != 1:
            continue  # stratified bootstrap needs as many runs per task
        matrix = np.stack([scores.reshape(-1) for scores in group], axis=1)  # (R, M)
        found = aggregate_scores(matrix, repetitions, seed=seed)
        aggregates[name] = {
            "tasks": len(group),
            "task_names": members[name],
            **{key: dataclasses.asdict(value) for key, value in found.items()},
        }
    notes = [note for task in tasks for note in task.notes]
    return {"tasks": rows, "aggregates": aggregates, "not_aggregated": left_out, "notes": notes}


def _interval(value: dict[str, float]) -> str:
    return f"{value['point']:.3f} | [{value['low']:.3f}, {value['high']:.3f}]"


def markdown_report(summary: dict[str, Any], title: str = "Evaluation") -> str:
    """The summary of :func:`summarize` as markdown tables."""
    lines = [
        f"# {title}",
        "",
        "| task | episodes | mean return | score kind | score | 95% CI | truncated |",
        "|---|---:|---:|---|---:|---|---:|",
    ]
    for row in summary["tasks"]:
        lines.append(
            f"| {row['task']} | {row['episodes']} | {row['mean_return']:.2f} | "
            f"{row['score_name']} | {_interval(row['score'])} | {row.get('truncated', 0)} |"
        )
    if summary["aggregates"]:
        lines += [
            "",
            "| aggregate | score kind | tasks | score | 95% CI |",
            "|---|---|---:|---:|---|",
        ]
        for name, group in summary["aggregates"].items():
            for key in ("iqm", "mean"):
                lines.append(
                    f"| {key.upper() if key == 'iqm' else key} | {name} | {group['tasks']} | "
                    f"{_interval(group[key])} |"
                )
        lines.append("")
        for name, group in summary["aggregates"].items():
            tasks = ", ".join(group.get("task_names", []))
            lines.append(f"Aggregated {name} over: {tasks}.")
    for note in summary.get("notes", []):
        lines += ["", f"Note: {note}."]
    for name, labels in summary.get("not_aggregated", {}).items():
        lines += [
            "",
            f"Not aggregated ({name}): {', '.join(labels)}: episodes were cut by a step cap "
            "below the env's protocol, so their normalized scores are not comparable "
            "(`--allow-truncated` aggregates them anyway).",
        ]
    lines += [
        "",
        "Intervals: percentile bootstrap over episodes (stratified by task for aggregates). "
        "Truncated: episodes cut by a step cap (not ended by the task).",
    ]
    if summary.get("provenance"):
        lines += ["", "## Run", ""]
        lines += [f"- {key}: {_plain(value)}" for key, value in summary["provenance"].items()]
    return "\n".join(lines) + "\n"


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key} {item}" for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    return str(value)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def write_report(
    tasks: Sequence[TaskResult],
    out_dir: str | os.PathLike,
    title: str = "Evaluation",
    repetitions: int = 2000,
    seed: int = 0,
    provenance: Mapping[str, Any] | None = None,
    allow_truncated: bool = False,
) -> dict[str, Path]:
    """Writes ``report.md``, ``summary.json``, ``episodes.csv`` and one bar plot per score kind.

    ``provenance``: what produced the results (model, adapter, envs, settings, versions),
    JSON-ready; stored as ``summary.json``'s ``"provenance"`` and listed in ``report.md``.
    ``allow_truncated``: see :func:`summarize`.

    Returns:
        ``{name: path}`` of the files written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(tasks, repetitions, seed, allow_truncated)
    if provenance:
        summary["provenance"] = dict(provenance)
    files = {"report": out / "report.md", "summary": out / "summary.json"}
    with atomic_path(files["report"]) as path:
        path.write_text(markdown_report(summary, title))
    with atomic_path(files["summary"]) as path:
        path.write_text(json.dumps(summary, indent=2) + "\n")
    files["episodes"] = _write_episodes(tasks, out / "episodes.csv")
    for name in dict.fromkeys(row["score_name"] for row in summary["tasks"]):
        rows = [row for row in summary["tasks"] if row["score_name"] == name]
        files[f"plot:{name}"] = plot_task_scores(
            [row["task"] for row in rows],
            [Interval(**row["score"]) for row in rows],
            out / f"{_slug(name)}.png",
            ylabel=name,
        )
    return files


def _write_episodes(tasks: Sequence[TaskResult], path: Path) -> Path:
    """One row per episode: its task's main ``score`` and a column per further score kind."""
    others = list(dict.fromkeys(name for task in tasks for name in task.other_scores))
    with atomic_path(path) as temporary, open(temporary, "w", newline="") as f:
        writer = csv.writer(f)
        header = ["task", "seed", "episode", "return", "length", "success", "score"]
        writer.writerow(header + others)
        for task in tasks:
            result = task.result
            for row, seed in enumerate(result.seeds):
                for episode in range(result.returns.shape[1]):
                    extra = [
                        task.other_scores[name][row, episode] if name in task.other_scores else ""
                        for name in others
                    ]
                    writer.writerow(
                        [
                            task.label,
                            seed,
                            episode,
                            result.returns[row, episode],
                            result.lengths[row, episode],
                            int(result.successes[row, episode]),
                            task.scores[row, episode],
                            *extra,
                        ]
                    )
    return path
