"""Resuming an interrupted ``dtmem train`` run in its own folder.

d3rlpy's ``fit`` counts epochs and steps from 1 and 0 on every call, and names its per-epoch
checkpoints ``model_<step>.d3`` from that count. A resumed run therefore logs through
:class:`StepOffsetAdapterFactory`, which adds the steps (and epochs) already done, so the
continuation writes into the same run folder as if it had never stopped: CSV rows go on from
the next epoch, checkpoints keep their global step in their name, and nothing is overwritten.
"""

import re
from pathlib import Path
from typing import Any

from d3rlpy.logging import LoggerAdapter, LoggerAdapterFactory

from ..logger_adapters import (
    ADAPTER_CHECKPOINT,
    MODEL_CHECKPOINT,
    DelegatingAdapter,
    WrappingFactory,
)

__all__ = [
    "StepOffsetAdapterFactory",
    "latest_adapter_checkpoint",
    "latest_checkpoint",
    "trim_metrics",
]


def latest_checkpoint(out: Path, run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run: the highest ``run_dir/model_N.d3``, else
    ``out/model.d3``; ``None`` if there is neither.

    Checkpoints are written atomically (to a hidden temporary name, then renamed), so every
    file that matches is complete.
    """
    newest = _newest(run_dir, MODEL_CHECKPOINT)
    if newest is not None:
        return newest
    final = out / "model.d3"
    return final if final.is_file() else None


def latest_adapter_checkpoint(run_dir: Path) -> Path | None:
    """The highest ``run_dir/adapter_N.pt`` of a LoRA fine-tuning run, or ``None``."""
    return _newest(run_dir, ADAPTER_CHECKPOINT)


def _newest(run_dir: Path, pattern: re.Pattern) -> Path | None:
    steps = {
        int(match.group(1)): path
        for path in (run_dir.iterdir() if run_dir.is_dir() else ())
        if (match := pattern.fullmatch(path.name))
    }
    return steps[max(steps)] if steps else None


def trim_metrics(run_dir: Path, step: int) -> int:
    """Drops CSV rows (``epoch,step,value``) logged after ``step``; returns the epochs kept.

    d3rlpy writes an epoch's metrics just before its checkpoint; a run stopped between the
    two would otherwise log that epoch twice once resumed. The epochs kept are the rows left
    in ``loss.csv`` (0 without one).
    """
    epochs = 0
    for path in run_dir.glob("*.csv"):
        lines = path.read_text().splitlines()
        kept = [line for line in lines if _logged_step(line) <= step]
        if len(kept) != len(lines):
            path.write_text("".join(f"{line}\n" for line in kept))
        if path.name == "loss.csv":
            epochs = sum(1 for line in kept if _logged_step(line) > 0)
    return epochs


def _logged_step(line: str) -> int:
    """The step of a CSV row; a header or a row without one counts as step 0 (kept)."""
    fields = line.split(",")
    return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0


class StepOffsetAdapterFactory(WrappingFactory):
    """Wraps a logger factory so that epochs and steps continue from an earlier run.

    Args:
        inner: the factory that writes.
        epochs: epochs already logged (added to every epoch number).
        steps: gradient steps already done (added to every step, and to the step in the
            names of ``model_<step>.d3`` checkpoints).
    """

    def __init__(self, inner: LoggerAdapterFactory, epochs: int, steps: int):
        super().__init__(inner)
        self._epochs = epochs
        self._steps = steps

    def wrap(self, adapter: LoggerAdapter, algo: Any) -> LoggerAdapter:
        return _StepOffsetAdapter(adapter, self._epochs, self._steps)


class _StepOffsetAdapter(DelegatingAdapter):
    """Delegates to ``inner`` with epochs and steps shifted."""

    def __init__(self, inner: LoggerAdapter, epochs: int, steps: int):
        super().__init__(inner)
        self._epochs = epochs
        self._steps = steps

    def before_write_metric(self, epoch: int, step: int) -> None:
        self.inner.before_write_metric(epoch + self._epochs, step + self._steps)

    def write_metric(self, epoch: int, step: int, name: str, value: float) -> None:
        self.inner.write_metric(epoch + self._epochs, step + self._steps, name, value)

    def after_write_metric(self, epoch: int, step: int) -> None:
        self.inner.after_write_metric(epoch + self._epochs, step + self._steps)

    def save_model(self, epoch: int, algo: Any) -> None:
        # d3rlpy passes its own step count here (``model_<step>.d3``)
        self.inner.save_model(epoch + self._steps, algo)

    def watch_model(self, epoch: int, step: int) -> None:
        self.inner.watch_model(epoch + self._epochs, step + self._steps)
