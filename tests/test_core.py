"""The inference core runs with the training extra's modules unimportable.

Each test starts a fresh interpreter whose ``sys.meta_path`` refuses torch, librosa, scipy,
scikit-learn, matplotlib, onnx (the package, not onnxruntime), numba and logmmse, as on a
``pip install sonotype`` machine, and runs a command through ``sonotype.cli.main.main``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import sonotype

SRC = Path(sonotype.__file__).resolve().parents[1]
BLOCKED = ("torch", "librosa", "scipy", "sklearn", "matplotlib", "onnx", "numba", "logmmse", "pyannote")

PRELUDE = textwrap.dedent(f"""
    import importlib.abc, sys
    BLOCKED = {BLOCKED!r}

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
            return None

    sys.meta_path.insert(0, Block())
    from sonotype.cli.main import main
""")


def run_core(args, tmp_path, stdin: bytes | None = None, extra: str = "") -> subprocess.CompletedProcess:
    """``main(args)`` in a fresh interpreter with the training extra blocked; prints loaded heavy modules."""
    code = PRELUDE + extra + textwrap.dedent(f"""
        rc = main({list(args)!r})
        sys.stdout.flush()
        print("LOADED", sorted({{m.split('.')[0] for m in sys.modules}} & set(BLOCKED)), file=sys.stderr)
        sys.exit(rc)
    """)
    env = {**os.environ, "PYTHONPATH": str(SRC), "SONOTYPE_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, "-c", code], input=stdin, capture_output=True, env=env, timeout=300,
                          cwd=tmp_path)


def loaded(r) -> str:
    return r.stderr.decode().strip().splitlines()[-1]


def test_classify_example_without_the_training_extra(tmp_path):
    r = run_core(["classify", "--example", "--json"], tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    row = json.loads(r.stdout.decode().splitlines()[0])
    # the example holds 8 s of speech, 8 s of music and 6 s of noise: a whole-file label is one of the first two
    assert row["label"] in ("speech", "music") and row["noise"] < min(row["speech"], row["music"]) and row["clips"] > 1
    assert loaded(r) == "LOADED []"


@pytest.mark.parametrize("fmt", ["csv", "audacity", "rttm", "json", "textgrid"])
def test_segment_every_format_and_report_without_the_training_extra(tmp_path, fmt):
    r = run_core(["segment", "--example", "--format", fmt, "-o", "out", "--report", "r.html"], tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    outs = list((tmp_path / "out").iterdir())
    assert len(outs) == 1 and "music" in outs[0].read_text()
    assert "<audio" in (tmp_path / "r.html").read_text()
    assert loaded(r) == "LOADED []"


def test_segment_stream_without_the_training_extra(tmp_path):
    t = np.arange(4 * 16000) / 16000
    y = np.concatenate([np.zeros(16000), 0.5 * np.sin(2 * np.pi * 440 * t)])
    pcm = (y * 32767).astype("<i2").tobytes()
    r = run_core(["segment", "-", "--stream"], tmp_path, stdin=pcm)
    assert r.returncode == 0, r.stderr.decode()
    rows = [x.split(",") for x in r.stdout.decode().split()]
    assert rows[0][2] == "silence" and float(rows[-1][1]) == pytest.approx(5.0, abs=0.02)
    assert loaded(r) == "LOADED []"


def test_index_and_models_without_the_training_extra(tmp_path):
    example = Path(sonotype.__file__).parent / "assets" / "example.ogg"
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.ogg").write_bytes(example.read_bytes())
    r = run_core(["index", "a", "--out", "i.jsonl"], tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    line = json.loads((tmp_path / "i.jsonl").read_text())
    assert line["model"]["name"] == "wide" and line["totals"]["speech"] > 5
    r = run_core(["models"], tmp_path)
    assert r.returncode == 0 and "wide.onnx" in r.stdout.decode()
    assert loaded(r) == "LOADED []"


@pytest.mark.parametrize("args", [
    ["train", "--corpus", "musan:x", "--out", "runs/x"],
    ["export", "--model", "wide", "--onnx", "w.onnx"],
    ["features", "--example"],
    ["bench", "models", "--quick"],
    ["genre", "demo", "--out", "g"],
])
def test_training_commands_name_the_extra_in_one_line(tmp_path, args):
    r = run_core(args, tmp_path)
    err = r.stderr.decode().strip().splitlines()
    assert r.returncode == 2, r.stderr.decode()
    assert err[0].startswith(f"sonotype: error: 'sonotype {args[0]}': this needs the training extra")
    assert "pip install 'sonotype[train]'" in err[0] and "Traceback" not in r.stderr.decode()
    assert len(err) == 2  # the line, then the test's own LOADED line


def test_a_pt_checkpoint_needs_torch_in_one_line(tmp_path):
    r = run_core(["classify", "--example", "--model", str(Path(sonotype.__file__).parent / "assets" / "models" /
                                                          "slim.pt")], tmp_path)
    err = r.stderr.decode().strip().splitlines()
    assert r.returncode == 2 and len(err) == 2, r.stderr.decode()
    assert "slim.pt" in err[0] and "sonotype[train]" in err[0]


def test_the_parser_builds_without_the_training_extra(tmp_path):
    r = run_core(["--version"], tmp_path, extra="import sys\n")
    assert r.returncode == 0 and r.stdout.decode().startswith("sonotype")


def test_bench_segment_without_the_training_extra(tmp_path):
    # the core path's throughput benchmark runs where the core path is installed (its warm-up and
    # synthetic audio are numpy only)
    r = run_core(["bench", "segment", "--synthetic-hours", "0.01", "--threads", "1", "--out", "b"], tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    row = json.loads((tmp_path / "b.json").read_text())[0]
    assert row["backend"] == "onnx" and row["x_realtime_cpu"] > 1 and row["frames"] > 3000
    assert loaded(r) == "LOADED []"
