"""Training logs: d3rlpy's CSV files and TensorBoard together, evaluation scores per epoch.

:func:`training_logger` combines d3rlpy's ``FileAdapterFactory`` (CSV metrics, params and
per-epoch checkpoints in ``<root>/<experiment>``) with its ``TensorboardAdapterFactory``
(event files in ``<root>/runs/<experiment>``, through tensorboardX).

:class:`EvaluationAdapterFactory` wraps any d3rlpy logger factory and adds evaluation metrics
at every epoch: when d3rlpy commits an epoch's metrics it calls the given function on the
algorithm and logs what it returns next to the losses, in every wrapped adapter. (d3rlpy's
own ``fit(eval_env=...)`` runs 10 sequential episodes of one env and logs only the raw
return; this runs any evaluation, batched rollouts over several envs included.)
"""

import os
from collections.abc import Callable, Mapping
from typing import Any

from d3rlpy.logging import (
    CombineAdapterFactory,
    FileAdapterFactory,
    LoggerAdapter,
    LoggerAdapterFactory,
    TensorboardAdapterFactory,
)

from ..logger_adapters import DelegatingAdapter, WrappingFactory

__all__ = ["EvaluationAdapterFactory", "training_logger"]

EpochEvaluation = Callable[[Any], Mapping[str, float]]
"""``algo -> {metric name: value}``, called once per epoch."""


def training_logger(
    root_dir: str | os.PathLike, tensorboard: bool = True, gradients: bool = False
) -> LoggerAdapterFactory:
    """d3rlpy's CSV logger, combined with its TensorBoard logger unless ``tensorboard=False``.

    ``gradients``: also let d3rlpy log every parameter's gradient statistics at each epoch
    (one ``<parameter>_grad.csv`` and one TensorBoard histogram per parameter); off by
    default.
    """
    files: LoggerAdapterFactory = FileAdapterFactory(root_dir=str(root_dir))
    if tensorboard:
        board = TensorboardAdapterFactory(root_dir=str(root_dir))
        files = CombineAdapterFactory([files, board])
    return files if gradients else _WithoutGradients(files)


class _WithoutGradients(WrappingFactory):
    def wrap(self, adapter: LoggerAdapter, algo: Any) -> LoggerAdapter:
        return _GradientsIgnored(adapter)


class _GradientsIgnored(DelegatingAdapter):
    def watch_model(self, epoch: int, step: int) -> None:
        pass  # d3rlpy's per-epoch gradient statistics: not wanted


class EvaluationAdapterFactory(WrappingFactory):
    """Logs ``evaluate(algo)``'s metrics at every epoch through the wrapped factory's adapter.

    Args:
        inner: the logger factory that writes (e.g. :func:`training_logger`'s).
        evaluate: ``algo -> {name: value}``; names become CSV files and TensorBoard tags,
            so use letters, digits, ``_``, ``-`` and ``.``.
    """

    def __init__(self, inner: LoggerAdapterFactory, evaluate: EpochEvaluation):
        super().__init__(inner)
        self._evaluate = evaluate

    def wrap(self, adapter: LoggerAdapter, algo: Any) -> LoggerAdapter:
        return _EvaluationAdapter(adapter, algo, self._evaluate)


class _EvaluationAdapter(DelegatingAdapter):
    """Delegates to ``inner``; adds the evaluation metrics when an epoch is written."""

    def __init__(self, inner: LoggerAdapter, algo: Any, evaluate: EpochEvaluation):
        super().__init__(inner)
        self._algo = algo
        self._evaluate = evaluate

    def before_write_metric(self, epoch: int, step: int) -> None:
        self.inner.before_write_metric(epoch, step)
        for name, value in self._evaluate(self._algo).items():
            self.inner.write_metric(epoch, step, name, float(value))
