"""The package's layout: dependencies point one way (model -> algorithm -> evaluation ->
application), no import cycles (in-function imports included), a light ``import d3rlpy_dtmem``,
and the old module paths still import, with a deprecation warning."""

import ast
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import d3rlpy_dtmem
from d3rlpy_dtmem._moved import MOVED_MODULES

PACKAGE_DIR = Path(d3rlpy_dtmem.__file__).parent
MODEL = ("d3rlpy_dtmem.nn", "d3rlpy_dtmem.targets")
ALGORITHM = (
    "d3rlpy_dtmem.algo",
    "d3rlpy_dtmem.impl",
    "d3rlpy_dtmem.adapters",
    "d3rlpy_dtmem.finetuning",
    "d3rlpy_dtmem.checkpoint",
    "d3rlpy_dtmem.export",
    "d3rlpy_dtmem.inference",
    "d3rlpy_dtmem.expert",
    "d3rlpy_dtmem.logger_adapters",
)
EVALUATION = ("d3rlpy_dtmem.evaluation",)
APPLICATION = ("d3rlpy_dtmem.app",)


def _module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = ["d3rlpy_dtmem", *path.relative_to(PACKAGE_DIR).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


MODULES = _module_names()


def _type_checking_blocks(tree: ast.Module) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:`` (typing only, never run)."""
    skipped = set()
    for node in ast.walk(tree):
        test = getattr(node, "test", None)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(test):
            skipped |= {id(inner) for stmt in node.body for inner in ast.walk(stmt)}
    return skipped


def _imports(name: str) -> set[str]:
    """The package's own modules that ``name`` imports, anywhere in its code."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    skipped = _type_checking_blocks(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            stem = ".".join(base + [node.module] if node.module else base)
            stem = stem if node.level else (node.module or "")
            targets = [
                f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in MODULES else stem
                for alias in node.names
            ]
        else:
            continue
        found |= {target for target in targets if target in MODULES and target != name}
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def _in(name: str, layer: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in layer)


def test_the_import_graph_sees_in_function_imports():
    assert "d3rlpy_dtmem.app.jobs" in GRAPH["d3rlpy_dtmem.app.cli"]  # imported inside functions
    assert "d3rlpy_dtmem.algo" not in GRAPH["d3rlpy_dtmem.inference"]  # TYPE_CHECKING only


def test_no_import_cycles():
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(GRAPH[name]):
            if state.get(target) == 1:
                cycles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        (MODEL, ALGORITHM + EVALUATION + APPLICATION + ("d3rlpy_dtmem.data",)),
        (ALGORITHM, EVALUATION + APPLICATION),
        (EVALUATION, APPLICATION),
        (("d3rlpy_dtmem.data", "d3rlpy_dtmem.convert", "d3rlpy_dtmem.envs"), APPLICATION),
    ],
)
def test_dependencies_point_one_way(layer, forbidden):
    wrong = sorted(
        f"{name} -> {target}"
        for name, targets in GRAPH.items()
        if _in(name, layer)
        for target in targets
        if _in(target, forbidden)
    )
    assert not wrong


def _loaded_after(code: str) -> list[str]:
    """Top-level and project modules loaded by ``code`` in a fresh interpreter."""
    code += "; import sys; print('\\n'.join(m for m in sys.modules if '.' not in m or "
    code += "m.startswith('d3rlpy_dtmem')))"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()


def test_importing_the_package_loads_neither_torch_nor_d3rlpy():
    loaded = _loaded_after("import d3rlpy_dtmem")
    assert "torch" not in loaded and "d3rlpy" not in loaded
    assert not [name for name in loaded if _in(name, APPLICATION + EVALUATION)]


@pytest.mark.parametrize(
    "code",
    [
        "import d3rlpy_dtmem, d3rlpy",
        "import d3rlpy, d3rlpy_dtmem",
        "import d3rlpy_dtmem.algo",
        "from d3rlpy_dtmem.nn import WorkingMemory",  # a module that imports d3rlpy itself
        "import d3rlpy_dtmem.data, d3rlpy.dataset",
    ],
)
def test_importing_d3rlpy_registers_the_algorithm_whatever_the_order(code):
    # the algorithm (which registers itself) is loaded; a wrapped loader still serves sources
    check = "import inspect, d3rlpy_dtmem.algo as a; inspect.getsource(a)"
    loaded = _loaded_after(
        f"{code}; import sys; assert 'd3rlpy_dtmem.algo' in sys.modules; {check}"
    )
    assert "d3rlpy_dtmem.algo" in loaded
    project = [name for name in loaded if name.startswith("d3rlpy_dtmem")]
    assert len(project) <= 26, project  # the library core: model, algorithm, data windows
    assert not [name for name in loaded if _in(name, APPLICATION + EVALUATION)]


def test_the_command_line_parses_options_without_torch():
    loaded = _loaded_after("import d3rlpy_dtmem.app.cli")
    assert "torch" not in loaded and "d3rlpy" not in loaded
    help_text = subprocess.run(
        [sys.executable, "-c", "from d3rlpy_dtmem.app.cli import dtmem; dtmem(['--help'])"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert help_text.returncode == 0 and "train" in help_text.stdout, help_text.stderr


@pytest.mark.parametrize("old", sorted(MOVED_MODULES))
def test_old_module_paths_still_import_with_a_warning(old):
    new = importlib.import_module(MOVED_MODULES[old])
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert module is new
    assert module.__spec__.name == MOVED_MODULES[old]  # the real module keeps its own spec
    assert any(
        issubclass(w.category, DeprecationWarning) and MOVED_MODULES[old] in str(w.message)
        for w in caught
    )


def test_moved_public_names_keep_working():
    from d3rlpy_dtmem.evaluation import BatchedTransformerPolicy, ExpertReturnMixin, ReturnSampler
    from d3rlpy_dtmem.inference import BatchedTransformerPolicy as moved_policy

    assert BatchedTransformerPolicy is moved_policy
    assert issubclass(d3rlpy_dtmem.DTMem, ExpertReturnMixin)
    assert ReturnSampler is importlib.import_module("d3rlpy_dtmem.expert").ReturnSampler
    data = importlib.import_module("d3rlpy_dtmem.data")
    assert callable(data.load_minari)
    assert set(data.__all__) == set(data._HOMES)  # every public name has a home
    assert all(getattr(data, name) is not None for name in data.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        data.nope  # noqa: B018


def test_no_two_modules_or_classes_share_a_name():
    modules = [path.stem for path in MODULES.values() if path.name != "__init__.py"]
    assert sorted({m for m in modules if modules.count(m) > 1}) == []
    classes = [
        node.name
        for path in MODULES.values()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
    ]
    assert sorted({c for c in classes if classes.count(c) > 1}) == []


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [
        ("d3rlpy_dtmem.inference", "Windows", "EpisodeWindows"),
        ("d3rlpy_dtmem.evaluation", "Windows", "EpisodeWindows"),
        ("d3rlpy_dtmem.convert.metaworld_datasets", "TaskResult", "ConvertedTask"),
    ],
)
def test_renamed_classes_keep_their_old_names_with_a_warning(module, old, new):
    imported = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=new):
        assert getattr(imported, old) is getattr(imported, new)
    with pytest.raises(AttributeError):
        imported.NoSuchName  # noqa: B018
