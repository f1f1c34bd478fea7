"""What each part of the tree imports is declared where it belongs: the services need only
`[project].dependencies` (the Docker image installs nothing else), the CLI adds its extra, the
benchmark and the tests their dependency groups; and uv.lock matches pyproject.toml."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import pytest

from tests.support.processes import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
GROUPS = PYPROJECT["dependency-groups"]
# our packages
OWN = {"services", "shared", "tests", "bench", "scripts"}


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _group(name: str) -> list[str]:
    out: list[str] = []
    for item in GROUPS[name]:
        out += _group(item["include-group"]) if isinstance(item, dict) else [item]
    return out


def _declared(*requirements: Iterable[str]) -> frozenset[str]:
    """Named directly: a package we import must not reach us only through another's needs."""
    return frozenset(_name(r) for reqs in requirements for r in reqs)


def _imports(paths: Iterable[Path]) -> set[str]:
    """Top-level modules imported at any depth, except our own and the standard library's."""
    found: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in OWN and m not in sys.stdlib_module_names}


def _undeclared(paths: Iterable[Path], declared: frozenset[str]) -> dict[str, list[str]]:
    providers = metadata.packages_distributions()
    missing = {}
    for module in sorted(_imports(paths)):
        dists = [_name(d) for d in providers.get(module, [])]
        if not dists or not any(d in declared for d in dists):
            missing[module] = dists
    return missing


def _files(*folders: str, exclude: str | None = None) -> list[Path]:
    return [
        p
        for folder in folders
        for p in (ROOT / folder).rglob("*.py")
        if exclude is None or exclude not in p.parts
    ]


SERVICES = frozenset(_name(r) for r in PROJECT["dependencies"])


def test_the_services_import_only_the_projects_dependencies() -> None:
    paths = _files("shared", "services", exclude="cli")
    assert _undeclared(paths, _declared(PROJECT["dependencies"])) == {}


def test_the_cli_and_the_local_supervisor_are_extras_not_service_dependencies() -> None:
    assert {"typer", "rich", "httpx", "supervisor"}.isdisjoint(SERVICES)
    extras = PROJECT["optional-dependencies"]
    paths = _files("services/cli")
    assert _undeclared(paths, _declared(PROJECT["dependencies"], extras["cli"])) == {}
    assert "supervisor" in {_name(r) for r in extras["local"]}


@pytest.mark.parametrize(
    ("folder", "group"), [("bench", "bench"), ("tests", "test"), ("scripts", "test")]
)
def test_bench_and_tests_declare_what_they_import(folder: str, group: str) -> None:
    extras = [r for reqs in PROJECT["optional-dependencies"].values() for r in reqs]
    declared = _declared(PROJECT["dependencies"], extras, _group(group))
    assert _undeclared(_files(folder), declared) == {}


def test_the_lock_file_matches_pyproject() -> None:
    uv = Path(sys.prefix) / "bin" / "uv"
    if not uv.exists():
        pytest.fail("uv is missing from the venv: run `make install`", pytrace=False)
    done = subprocess.run(
        [str(uv), "lock", "--check", "--offline"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"uv.lock is stale, run `make lock`:\n{done.stderr}"
