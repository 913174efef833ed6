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
