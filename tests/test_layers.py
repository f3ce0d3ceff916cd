"""The layering contracts of pyproject.toml ([tool.importlinter]) hold, and they can fail."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import sonotype

pytest.importorskip("importlinter")

ROOT = Path(__file__).resolve().parents[1]
SRC = Path(sonotype.__file__).resolve().parents[1]  # the tree under test


def lint(config: Path, src: Path, cwd: Path) -> subprocess.CompletedProcess:
    """Run import-linter on ``config`` in a fresh interpreter with ``src`` first on the path."""
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(config)!r}, no_cache=True, no_logo=True))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_project_contracts_are_kept():
    r = lint(ROOT / "pyproject.toml", SRC, ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout
    for name in ("Layers", "Inference never imports training", "Nothing imports the CLI", "No import cycles"):
        assert name in r.stdout


def test_contracts_catch_a_cycle_hidden_in_a_function(tmp_path):
    # the shape issue 14 removed: infer imports train at module level, train imports infer inside a function
    pkg = tmp_path / "src" / "toy"
    for sub in ("infer", "train"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "infer" / "classify.py").write_text("from ..train import loop\n")
    (pkg / "train" / "loop.py").write_text("def f():\n    from ..infer import classify\n    return classify\n")
    config = tmp_path / "pyproject.toml"
    config.write_text(textwrap.dedent("""
        [tool.importlinter]
        root_package = "toy"

        [[tool.importlinter.contracts]]
        name = "infer must not import train"
        type = "forbidden"
        source_modules = ["toy.infer"]
        forbidden_modules = ["toy.train"]

        [[tool.importlinter.contracts]]
        name = "acyclic"
        type = "acyclic_siblings"
        ancestors = ["toy"]
    """))
    r = lint(config, tmp_path / "src", tmp_path)
    assert r.returncode != 0
    assert "2 broken" in r.stdout, r.stdout
