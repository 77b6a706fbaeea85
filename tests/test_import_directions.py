"""The import arrows point one way (docs/architecture.md, "Layers").

Read from the source with ``ast``, every import counted wherever it sits (inside a
function or under TYPE_CHECKING too: a lazy import is still an arrow):

- ``planexe`` (the library) imports nothing of ``planexe_api`` (the service);
- ``planexe.pipeline`` (plumbing over any task graph) imports nothing of ``planexe.plan``
  (the plan's steps and DAG), and ``planexe.llm`` nothing of either;
- no cycle of module-level imports within the library or within the service.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("planexe", "planexe_api")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(path: Path, module: str, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    nodes = list(ast.walk(tree))
    if top_level_only:  # what runs at import, and what type checking imports the same way
        nodes = [n for n in tree.body for n in ([n] if not _is_type_checking(n) else n.body)]  # type: ignore[attr-defined]
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in PACKAGES}


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
    }


MODULES = _modules()


def _arrows(top_level_only: bool = False) -> dict[str, set[str]]:
    """Module -> the project modules it imports (a ``from m import name`` of a submodule counts it)."""
    arrows: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        targets = set()
        for name in _imports(path, module, top_level_only):
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        arrows[module] = targets
    return arrows


ARROWS = _arrows()


def _offenders(source: str, forbidden: str) -> list[str]:
    inside = lambda name, pkg: name == pkg or name.startswith(pkg + ".")  # noqa: E731
    return sorted(
        f"{module} -> {target}"
        for module, targets in ARROWS.items()
        if inside(module, source)
        for target in targets
        if inside(target, forbidden)
    )


@pytest.mark.parametrize(
    ("source", "forbidden"),
    [
        ("planexe", "planexe_api"),
        ("planexe.pipeline", "planexe.plan"),
        ("planexe.llm", "planexe.plan"),
        ("planexe.llm", "planexe.pipeline"),
    ],
)
def test_no_arrow_points_back_up(source: str, forbidden: str) -> None:
    assert _offenders(source, forbidden) == []


def test_the_command_line_client_knows_only_http() -> None:
    # `planexe plans` is a client of the REST API: none of the service's code, only its answers.
    outside = [
        arrow
        for arrow in _offenders("planexe_api.client", "planexe_api")
        if not arrow.split(" -> ")[1].startswith("planexe_api.client")
    ]
    assert outside == []
    assert "planexe_api.client.api" in ARROWS["planexe_api.client.command"]


def test_the_analysis_sees_real_arrows() -> None:
    # A guard on the guard: if the parser missed imports, the checks above would pass vacuously.
    assert "planexe.pipeline.base" in ARROWS["planexe.plan.dag"]
    assert "planexe.plan.graph_command" in ARROWS["planexe_api.services.plan_dag"]
    assert _offenders("planexe.plan", "planexe.pipeline")


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle_at_module_level(package: str) -> None:
    arrows = _arrows(top_level_only=True)
    graph = {
        m: {t for t in ts if t.split(".")[0] == package}
        for m, ts in arrows.items()
        if m.split(".")[0] == package
    }
    # A package's __init__ is imported with each of its modules; it is not an arrow of its own.
    graph = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")
