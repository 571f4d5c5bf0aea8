"""What the commands print: their own short lines on the console, d3rlpy's details in a file.

d3rlpy reports through structlog (a ``Parameters params={...}`` dump, the dataset's repr,
"Building models...", one line per epoch with every metric), coloured with ANSI codes even
when the output is a file. :func:`route_d3rlpy_log` sends those events to a log file in the
run's folder instead, as plain text, and back to the console with ``--verbose`` (coloured
only on a terminal), for the duration of a command.
"""

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import structlog
from d3rlpy.logging import LoggerAdapter, LoggerAdapterFactory

from ..logger_adapters import DelegatingAdapter, WrappingFactory

__all__ = ["LOG_FILE_NAME", "EpochLines", "route_d3rlpy_log"]

LOG_FILE_NAME = "d3rlpy.log"


def _processors(colors: bool) -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.StackInfoRenderer(),
        structlog.dev.set_exc_info,
        structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M.%S", utc=False),
        structlog.dev.ConsoleRenderer(colors=colors),
    ]


@contextlib.contextmanager
def route_d3rlpy_log(folder: str | os.PathLike | None, verbose: bool = False) -> Iterator[None]:
    """Within the block, d3rlpy's log events go to ``<folder>/d3rlpy.log`` (appended) or,
    with ``verbose``, to the console (ANSI colours only on a terminal); ``folder=None``
    without ``verbose`` drops them. The previous structlog configuration comes back after.
    """
    previous = structlog.get_config()
    if verbose:
        target: Any = _CurrentStdout()
    elif folder is None:
        target = _Discard()
    else:
        target = _FileOnFirstWrite(Path(folder) / LOG_FILE_NAME)
    colors = verbose and sys.stdout.isatty()
    structlog.configure(
        processors=_processors(colors), logger_factory=structlog.PrintLoggerFactory(target)
    )
    try:
        yield
    finally:
        target.close()
        structlog.configure(**previous)


class _CurrentStdout:
    """Whatever ``sys.stdout`` is when a line is written."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()

    def close(self) -> None:
        pass


class _Discard:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class _FileOnFirstWrite:
    """A text file in a run's folder that never creates the folder: lines wait in memory
    until the command has made it (a command that fails on its input leaves nothing)."""

    def __init__(self, path: Path):
        self.path = path
        self._handle: IO[str] | None = None
        self._waiting: list[str] = []

    def write(self, text: str) -> int:
        if self._handle is None and self.path.parent.is_dir():
            self._handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
            self._handle.write("".join(self._waiting))
            self._waiting.clear()
        if self._handle is None:
            self._waiting.append(text)
            return len(text)
        return self._handle.write(text)

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.flush()

    def close(self) -> None:
        if self._handle is None and self._waiting and self.path.parent.is_dir():
            self.write("")  # the folder appeared after the last line: write what waited
        if self._handle is not None:
            self._handle.close()


class EpochLines(WrappingFactory):
    """Wraps a logger factory so that each epoch also prints one line through ``echo``:
    its step, the losses and any evaluation scores (``eval_*`` metrics)."""

    def __init__(self, inner: LoggerAdapterFactory, echo: Callable[[str], Any]):
        super().__init__(inner)
        self._echo = echo

    def wrap(self, adapter: LoggerAdapter, algo: Any) -> LoggerAdapter:
        return _EpochLine(adapter, self._echo)


_SHOWN = ("loss", "action_loss")


class _EpochLine(DelegatingAdapter):
    def __init__(self, inner: LoggerAdapter, echo: Callable[[str], Any]):
        super().__init__(inner)
        self._echo = echo
        self._metrics: dict[str, float] = {}

    def write_metric(self, epoch: int, step: int, name: str, value: float) -> None:
        self.inner.write_metric(epoch, step, name, value)
        if name in _SHOWN or name.startswith("eval_"):
            self._metrics[name] = value

    def after_write_metric(self, epoch: int, step: int) -> None:
        self.inner.after_write_metric(epoch, step)
        shown = ", ".join(f"{name} {value:.4g}" for name, value in self._metrics.items())
        self._echo(f"epoch {epoch} (step {step}): {shown}")
        self._metrics.clear()
