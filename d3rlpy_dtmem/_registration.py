"""Registers ``DTMemConfig`` with d3rlpy once d3rlpy is imported, not before.

``d3rlpy.load_learnable`` rebuilds a saved model from the config type registered under its
name, so ``import d3rlpy_dtmem`` must register DT-Mem. Importing d3rlpy (and with it torch)
takes seconds, which the command-line ``--help`` and option parsing should not pay. So:
when d3rlpy is already loaded, the package imports its algorithm module (which registers
itself) at once; otherwise a finder watches the imports of ``d3rlpy`` and of the project's
own modules, and imports the algorithm as soon as d3rlpy is loaded and no project module is
half-way through its own import (the algorithm imports those modules: importing it from
inside one of them would be circular). Then the finder removes itself.
"""

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import io
import sys
import threading
from types import ModuleType
from typing import Any

from ._moved import MOVED_MODULES

__all__ = ["import_gym_quietly", "register_with_d3rlpy"]

_ALGO_MODULE = "d3rlpy_dtmem.algo"
_loading = threading.local()  # .depth: project modules (and d3rlpy) being executed


def register_with_d3rlpy() -> None:
    """Registers DT-Mem now if d3rlpy is loaded, else as soon as it is."""
    if "d3rlpy" in sys.modules:
        _import_algo()
    elif not any(isinstance(finder, _Watcher) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Watcher())


def import_gym_quietly() -> None:
    """Imports the old ``gym`` package with its stderr notice silenced.

    d3rlpy imports ``gym`` at import time; under numpy 2, ``gym_notices`` then prints a
    multi-line "Gym has been unmaintained" banner. This project never uses old-gym code
    paths, so the banner is only noise. Import errors still propagate.
    """
    with contextlib.redirect_stderr(io.StringIO()), contextlib.suppress(ImportError):
        import gym  # noqa: F401


def _import_algo() -> None:
    if _ALGO_MODULE not in sys.modules:  # when present, it is loading and registers itself
        importlib.import_module(_ALGO_MODULE)
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _Watcher)]


def _watched(name: str) -> bool:
    return name == "d3rlpy" or (name.startswith("d3rlpy_dtmem.") and name not in MOVED_MODULES)


class _Watcher(importlib.abc.MetaPathFinder):
    """Finds watched modules through the other finders and wraps their loaders."""

    def find_spec(self, fullname, path, target=None):  # noqa: ANN001 (importlib's signature)
        if not _watched(fullname):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _WatchedLoader(spec.loader)
                return spec
        return None


class _WatchedLoader(importlib.abc.Loader):
    """A module's own loader; after the outermost watched import, registers DT-Mem if
    d3rlpy is loaded by then."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        if module.__name__ == "d3rlpy":
            import_gym_quietly()  # d3rlpy imports gym, which prints a banner under numpy 2
        depth = getattr(_loading, "depth", 0)
        _loading.depth = depth + 1
        try:
            self._loader.exec_module(module)
        finally:
            _loading.depth = depth
        if depth == 0 and "d3rlpy" in sys.modules:
            _import_algo()

    def __getattr__(self, name: str) -> Any:  # get_source, resource readers and the like
        return getattr(self._loader, name)
