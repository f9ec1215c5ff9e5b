"""The package's import drawing, read from the code with ``ast``: no cycles, and no face (the REST
API, the admin, the commands, the notice view) imports a gateway; faces go through the services and
``checks/``. Print the drawing with ``python -m tests.test_layout``."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import kcp_django

PACKAGE = Path(kcp_django.__file__).parent
#: Who uses them: a shop's frontend and back office, staff, operators, KCP's notice sender.
FACES = ("kcp_django.api", "kcp_django.admin", "kcp_django.management", "kcp_django.notices.views")
GATEWAYS = "kcp_django.gateways"
#: Modules that import nothing of the app (kcp_django.exceptions only, for conf).
LEAVES = {"kcp_django.exceptions": set(), "kcp_django.conf": {"kcp_django.exceptions"}}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def top_level_imports(tree: ast.Module, name: str, is_package: bool) -> Iterator[str]:
    """Imports that run when the module is imported: not those under ``if TYPE_CHECKING:`` nor inside
    functions (a function's import runs when it is called, and cannot make an import cycle)."""

    def walk(nodes: list[ast.stmt]) -> Iterator[ast.stmt]:
        for node in nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                yield from walk(node.orelse)
                continue
            yield node
            for field in ("body", "orelse", "finalbody", "handlers"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    yield from walk([child for child in children if isinstance(child, ast.stmt)])
                    for handler in children:
                        if isinstance(handler, ast.ExceptHandler):
                            yield from walk(handler.body)

    for node in walk(tree.body):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name if is_package else name.rsplit(".", 1)[0]
                for _ in range(node.level - 1):
                    package = package.rsplit(".", 1)[0]
                base = f"{package}.{base}" if base else package
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def drawing(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Each module of the package and the modules of the package it imports at import time."""
    paths = {module_name(path, root): path for path in root.rglob("*.py") if "migrations" not in path.parts}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[name] = {
            target
            for target in top_level_imports(tree, name, path.name == "__init__.py")
            if target in paths and target != name
        }
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                found.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def faces_reaching_gateways(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module.startswith(FACES)
        for target in targets
        if target.startswith(GATEWAYS)
    )


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(drawing()) == []


def test_no_face_imports_a_gateway() -> None:
    assert faces_reaching_gateways(drawing()) == []


def test_conf_and_exceptions_import_nothing_else_of_the_app() -> None:
    graph = drawing()
    for module, allowed in LEAVES.items():
        assert graph[module] <= allowed, module


def test_the_check_fails_when_a_face_imports_a_gateway(tmp_path: Path) -> None:
    package = tmp_path / "kcp_django"
    (package / "api").mkdir(parents=True)
    (package / "gateways").mkdir()
    for init in (package, package / "api", package / "gateways"):
        (init / "__init__.py").write_text("")
    (package / "gateways" / "sandbox.py").write_text("from kcp_django.api import views\n")
    (package / "api" / "views.py").write_text("from kcp_django.gateways.sandbox import outbox\n")

    graph = drawing(package)

    assert faces_reaching_gateways(graph) == ["kcp_django.api.views -> kcp_django.gateways.sandbox"]
    assert cycles(graph) == [["kcp_django.api.views", "kcp_django.gateways.sandbox", "kcp_django.api.views"]]


if __name__ == "__main__":
    for module, targets in sorted(drawing().items()):
        print(module, "->", ", ".join(sorted(targets)) or "-")


def test_gateways_import_no_rows_and_no_services() -> None:
    rows_and_services = ("kcp_django.models", "kcp_django.payments", "kcp_django.refunds", "kcp_django.verifications")
    graph = drawing()
    reaching = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module.startswith(GATEWAYS)
        for target in targets
        if target.startswith((*rows_and_services, "kcp_django.core"))
    )
    assert reaching == []


@pytest.mark.parametrize(
    ("old", "name", "new"),
    [
        ("kcp_django.services", "verify_refund_account", "kcp_django.verifications"),
        ("kcp_django.refunds.notices", "receive_notice", "kcp_django.notices.receiving"),
        ("kcp_django.gateways.refund_layout", "render_refund", "kcp_django.gateways.ppcli.refund_layout"),
    ],
)
def test_old_import_paths_still_work_for_one_release_and_say_where_to_go(old: str, name: str, new: str) -> None:
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        value = getattr(module, name)
    assert value is getattr(importlib.import_module(new), name)
