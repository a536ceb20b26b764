"""The shape of the code: imports flow one way, the domain stays free of Kedro, and the
project's vocabulary has one home.

Read from the source (``ast``), so lazy imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "cemap"
# Usable from a notebook without a Kedro session (docs/design.md §6).
DOMAIN = (
    "cemap.concepts",
    "cemap.data",
    "cemap.speech",
    "cemap.models",
    "cemap.training",
    "cemap.torch_runtime",
    "cemap.joint",
    "cemap.evaluation",
    "cemap.inputs",
    "cemap.generate",
    "cemap.tracking",
)
KEDRO = ("kedro", "kedro_datasets", "kedro_mlflow", "kedro_viz")


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:`` (never imported at run time)."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and getattr(child.test, "id", None) == "TYPE_CHECKING":
            continue
        yield child
        yield from _runtime_nodes(child)


def _imports(name: str) -> set[str]:
    """Every module ``name`` imports at run time (absolute names; a name imported from a
    package counts as the submodule when there is one)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in MODULES else base)
    return found


GRAPH = {name: {m for m in _imports(name) if m in MODULES and m != name} for name in MODULES}


def _cycle() -> list[str] | None:
    """One import cycle among the project's modules, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for target in sorted(GRAPH[name]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[name] = 2
        return None

    for name in sorted(GRAPH):
        if name not in state and (found := visit(name)):
            return found
    return None


def test_the_walk_sees_the_whole_package():
    assert {"cemap.concepts", "cemap.joint.model", "cemap.pipelines.evaluation.nodes"} <= set(
        MODULES
    )
    assert "cemap.concepts" in GRAPH["cemap.data.splits"]
    assert "cemap.joint.model" not in GRAPH["cemap.joint.objectives"]  # only for type checking


def test_no_import_cycle_in_the_package():
    assert _cycle() is None, " -> ".join(_cycle() or [])


@pytest.mark.parametrize(
    "name", [m for m in MODULES if any(m == d or m.startswith(f"{d}.") for d in DOMAIN)]
)
def test_domain_code_imports_no_kedro(name):
    kedro = sorted(m for m in _imports(name) if m.split(".")[0] in KEDRO)
    assert not kedro, f"{name} imports {kedro}; domain code must work without a Kedro session."


def test_no_pipeline_imports_another_pipelines_nodes():
    offenders = []
    for name, targets in GRAPH.items():
        if not name.startswith("cemap.pipelines."):
            continue
        own = name.split(".")[2]
        for target in targets:
            parts = target.split(".")
            nodes_module = (
                len(parts) > 3 and parts[:2] == ["cemap", "pipelines"] and parts[3] == "nodes"
            )
            if nodes_module and parts[2] != own:
                offenders.append(f"{name} -> {target}")
    assert not offenders, offenders


@pytest.mark.parametrize("constant", ["MODALITIES", "ATTRIBUTES", "SPLITS", "EVALUATION_SPLITS"])
def test_the_vocabulary_is_defined_once(constant):
    homes = []
    for name, path in MODULES.items():
        for node in ast.parse(path.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AnnAssign):
                targets = [node.target]
            if any(isinstance(t, ast.Name) and t.id == constant for t in targets):
                homes.append(name)
    assert homes == ["cemap.concepts"], homes
