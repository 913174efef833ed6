"""The layering of docs/architecture.md, enforced by import-linter (contracts in pyproject.toml): `lint-imports`
passes, and every module of the packages sits in a layer, so a new module cannot escape the contracts."""
from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import harness

tomllib = pytest.importorskip("tomllib")  # Python 3.11+ reads pyproject.toml itself

ROOT = Path(__file__).resolve().parents[2]


def contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def layered_modules() -> set[str]:
    """The modules the layers contract names (optional ones in parentheses included)."""
    (layers,) = [c["layers"] for c in contracts() if c["type"] == "layers"]
    return {name.strip().strip("()") for layer in layers for name in layer.replace("|", ":").split(":")}


def test_the_import_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports is not installed: pip install -e '.[test]'")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([exe, "--no-cache", "--no-logo", str(ROOT / "pyproject.toml")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_every_harness_module_sits_in_a_layer():
    named = layered_modules()
    modules = {f"harness.{m.name}" for m in pkgutil.iter_modules(harness.__path__)}
    assert modules - named == set(), "add these modules to a layer of the contract in pyproject.toml"
    assert {"harness.lab", "harness.api", "harness.config", "leaderboards", "methods"} <= named


def test_project_imports_sit_at_the_top_of_their_module():
    """A project import inside a function hides a dependency from the contracts: only a deferred optional or heavy
    dependency may be imported there, saying why on its line (``# deferred: …``); type-only imports are fine."""
    import ast

    hidden = []
    for path in sorted(p for d in ("harness", "methods", "leaderboards") for p in (ROOT / d).rglob("*.py")):
        source = path.read_text()
        tree = ast.parse(source)
        typing_only = {n.lineno for node in ast.walk(tree) if isinstance(node, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node) if hasattr(n, "lineno")}
        lines = source.splitlines()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and node.col_offset and node.lineno not in typing_only:
                module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                if (module or "").split(".")[0] in ("harness", "methods", "leaderboards", "cli") \
                        and "# deferred:" not in lines[node.lineno - 1]:
                    hidden.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert hidden == []
