"""Registers ``DTMemConfig`` with d3rlpy when d3rlpy is imported, not before.

``d3rlpy.load_learnable`` rebuilds a saved model from the config type registered under its
name, so ``import d3rlpy_dtmem`` must register DT-Mem. Importing d3rlpy (and with it torch)
takes seconds, which the command-line ``--help`` and the converters' option parsing should not
pay. So: when d3rlpy is already loaded, the package imports its algorithm at once; otherwise a
one-shot finder waits for ``import d3rlpy`` and imports the algorithm (which registers itself)
right after d3rlpy's own module has run.
"""

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Any

from ._compat import import_gym_quietly

__all__ = ["register_with_d3rlpy"]

_ALGO_MODULE = "d3rlpy_dtmem.algo"


def register_with_d3rlpy() -> None:
    """Registers DT-Mem now if d3rlpy is loaded, else as soon as it is."""
    if "d3rlpy" in sys.modules:
        _import_algo()
    elif not any(isinstance(finder, _D3rlpyFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _D3rlpyFinder())


def _import_algo() -> None:
    if _ALGO_MODULE not in sys.modules:  # when present, it is loading and registers itself
        importlib.import_module(_ALGO_MODULE)


class _D3rlpyFinder(importlib.abc.MetaPathFinder):
    """Finds ``d3rlpy`` once, through the other finders, and wraps its loader."""

    def find_spec(self, fullname, path, target=None):  # noqa: ANN001 (importlib's signature)
        if fullname != "d3rlpy":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


class _RegisteringLoader(importlib.abc.Loader):
    """d3rlpy's own loader, followed by the import of DT-Mem's algorithm module."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        import_gym_quietly()  # d3rlpy imports gym, which prints a banner under numpy 2
        self._loader.exec_module(module)
        _import_algo()

    def __getattr__(self, name: str) -> Any:  # resource readers and the like
        return getattr(self._loader, name)
