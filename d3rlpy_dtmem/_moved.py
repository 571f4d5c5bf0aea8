"""Deprecated module paths: importing an old path gives the module at its new place.

``import d3rlpy_dtmem.jobs`` (say) returns the very module ``d3rlpy_dtmem.app.jobs``, so
attributes, monkeypatching and ``isinstance`` behave as before, and warns once with a
``DeprecationWarning`` naming the new path.
"""

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["MOVED_MODULES", "install", "renamed_names"]

MOVED_MODULES = {  # old path -> new path (0.1.0.dev0 layout)
    "d3rlpy_dtmem.cli": "d3rlpy_dtmem.app.cli",
    "d3rlpy_dtmem.jobs": "d3rlpy_dtmem.app.jobs",
    "d3rlpy_dtmem.quickstart": "d3rlpy_dtmem.app.quickstart",
    "d3rlpy_dtmem.demo": "d3rlpy_dtmem.app.cartpole",
    "d3rlpy_dtmem.resume": "d3rlpy_dtmem.app.resume",
    "d3rlpy_dtmem.presets": "d3rlpy_dtmem.app.presets",
    "d3rlpy_dtmem.distributed": "d3rlpy_dtmem.app.distributed",
    "d3rlpy_dtmem.config": "d3rlpy_dtmem.algo",
    "d3rlpy_dtmem.policy": "d3rlpy_dtmem.export",
    "d3rlpy_dtmem.evaluation.policy": "d3rlpy_dtmem.inference",
    "d3rlpy_dtmem.evaluation.mixin": "d3rlpy_dtmem.inference",
    "d3rlpy_dtmem.evaluation.expert": "d3rlpy_dtmem.expert",
    "d3rlpy_dtmem.convert.atari": "d3rlpy_dtmem.convert.atari_datasets",
    "d3rlpy_dtmem.convert.metaworld": "d3rlpy_dtmem.convert.metaworld_datasets",
}


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old paths of :data:`MOVED_MODULES` and loads them as their new module."""

    def find_spec(self, fullname, path, target=None):  # noqa: ANN001 (importlib's signature)
        if fullname not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = MOVED_MODULES[spec.name]
        warnings.warn(
            f"{spec.name} moved to {new}; import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(new)
        spec.loader_state = module.__spec__  # the import system sets the alias's spec next
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__spec__ = module.__spec__.loader_state  # the module's own spec again


def install() -> None:
    """Adds the finder to ``sys.meta_path`` (once)."""
    if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())


def renamed_names(module_name: str, renames: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) that serves old names of renamed objects.

    ``renames`` maps an old name to the new name in the same module; using the old one warns
    with a ``DeprecationWarning``.
    """

    def __getattr__(name: str) -> Any:
        if name not in renames:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        new = renames[name]
        warnings.warn(
            f"{module_name}.{name} is now {module_name}.{new}", DeprecationWarning, stacklevel=2
        )
        return getattr(sys.modules[module_name], new)

    return __getattr__
