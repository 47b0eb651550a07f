"""pyproject.toml declares what the code imports: no dependency that nothing uses."""

from __future__ import annotations

import ast
import re
import tomllib
from importlib.metadata import packages_distributions

from crawlkit import ROOT

# Used without an import statement.
NOT_IMPORTED = {"pytest-timeout": "a pytest plugin, used through [tool.pytest.ini_options] timeout"}


def imported_modules() -> set[str]:
    found: set[str] = set()
    for path in ROOT.rglob("*.py"):
        if ".git" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_declared_dependency_is_imported_somewhere():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = [re.match(r"[A-Za-z0-9_.-]+", spec)[0] for spec in
                project["dependencies"] + [s for extra in project["optional-dependencies"].values() for s in extra]]
    providers: dict[str, set[str]] = {}
    for module, distributions in packages_distributions().items():
        for distribution in distributions:
            providers.setdefault(canonical(distribution), set()).add(module)
    imported = imported_modules()
    unused = [name for name in declared
              if canonical(name) not in NOT_IMPORTED and not providers.get(canonical(name), set()) & imported]
    assert unused == []
