"""d3rlpy logger adapters that wrap another one: a delegating base, and adapter checkpoints.

d3rlpy's ``fit`` talks to one ``LoggerAdapter``; a wrapper changes one thing and passes the
rest through. :class:`DelegatingAdapter` passes everything through, so a wrapper overrides
only what it changes (the evaluation metrics of :mod:`d3rlpy_dtmem.evaluation.loggers`, the
step offset of a resumed run, the adapter checkpoints below).

While a LoRA adapter trains, the network's base weights do not change, so d3rlpy's per-epoch
``model_<step>.d3`` would be copies of the base. :class:`AdapterCheckpointFactory` (which
``DTMem.fit`` puts around the logger whenever an adapter is active) makes each epoch write
``adapter_<step>.pt`` instead, in the same folder: the adapter with its optimizer state and
step count, which :meth:`~d3rlpy_dtmem.DTMem.resume_adapter` continues from.
"""

import re
from pathlib import Path
from typing import Any

from d3rlpy.logging import LOG, LoggerAdapter, LoggerAdapterFactory

__all__ = [
    "ADAPTER_CHECKPOINT",
    "MODEL_CHECKPOINT",
    "AdapterCheckpointFactory",
    "DelegatingAdapter",
    "WrappingFactory",
    "adapter_checkpoint_name",
]

# the per-epoch checkpoint names: d3rlpy's of the model, and the adapter's that replace them
MODEL_CHECKPOINT = re.compile(r"model_(\d+)\.d3")
ADAPTER_CHECKPOINT = re.compile(r"adapter_(\d+)\.pt")


class DelegatingAdapter:
    """A ``LoggerAdapter`` that passes every call to ``inner``; subclasses override some."""

    def __init__(self, inner: LoggerAdapter):
        self.inner = inner

    def write_params(self, params: dict[str, Any]) -> None:
        self.inner.write_params(params)

    def before_write_metric(self, epoch: int, step: int) -> None:
        self.inner.before_write_metric(epoch, step)

    def write_metric(self, epoch: int, step: int, name: str, value: float) -> None:
        self.inner.write_metric(epoch, step, name, value)

    def after_write_metric(self, epoch: int, step: int) -> None:
        self.inner.after_write_metric(epoch, step)

    def save_model(self, epoch: int, algo: Any) -> None:
        self.inner.save_model(epoch, algo)

    def close(self) -> None:
        self.inner.close()

    def watch_model(self, epoch: int, step: int) -> None:
        self.inner.watch_model(epoch, step)


def adapter_checkpoint_name(model_checkpoint: str | Path) -> Path:
    """``.../model_<step>.d3`` -> ``.../adapter_<step>.pt``."""
    path = Path(model_checkpoint)
    match = MODEL_CHECKPOINT.fullmatch(path.name)
    step = match.group(1) if match else path.stem
    return path.with_name(f"adapter_{step}.pt")


class WrappingFactory(LoggerAdapterFactory):
    """A logger factory whose adapters wrap those of ``inner`` (see :meth:`wrap`)."""

    def __init__(self, inner: LoggerAdapterFactory):
        self.inner = inner

    def create(self, algo: Any, experiment_name: str, n_steps_per_epoch: int) -> LoggerAdapter:
        return self.wrap(self.inner.create(algo, experiment_name, n_steps_per_epoch), algo)

    def wrap(self, adapter: LoggerAdapter, algo: Any) -> LoggerAdapter:
        """The adapter that ``fit`` talks to, around ``inner``'s ``adapter``."""
        raise NotImplementedError


class AdapterCheckpointFactory(WrappingFactory):
    """Wraps a logger factory so that per-epoch checkpoints hold the active LoRA adapter.

    The wrapped loggers choose where checkpoints go (d3rlpy's file logger:
    ``<root>/<experiment>/model_<step>.d3``); the adapter checkpoint takes that place as
    ``adapter_<step>.pt``.
    """

    def wrap(self, adapter: LoggerAdapter, algo: Any) -> LoggerAdapter:
        return _AdapterCheckpoints(adapter)


class _AdapterCheckpoints(DelegatingAdapter):
    def save_model(self, epoch: int, algo: Any) -> None:
        self.inner.save_model(epoch, _AdapterWriter(algo))


class _AdapterWriter:
    """What the wrapped loggers see as the algorithm: ``save`` writes the adapter."""

    def __init__(self, algo: Any):
        self._algo = algo

    def save(self, fname: str) -> None:
        path = adapter_checkpoint_name(fname)
        self._algo.save_adapter(path, training_state=True)
        LOG.info(f"Adapter checkpoint saved to {path}")
