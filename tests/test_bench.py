"""Model benchmark (quick mode, so it cannot rot) and its markdown table / script."""
import importlib.util
import json
from pathlib import Path

import pytest

from sonotype.bench import DEFAULT_MODELS, bench_models, table_markdown

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_models.py"


@pytest.fixture(scope="module")
def rows():
    return bench_models(quick=True, clips=(0.5, 1.0), backend="both")


def test_rows_for_every_model(rows):
    seen = {(r["model"], r["backend"], r["clip_s"]) for r in rows}
    for m in DEFAULT_MODELS:
        for bk in (("sklearn",) if m == "gmm" else ("torch", "onnx")):
            for c in (0.5, 1.0):
                assert (m, bk, c) in seen
    for r in rows:
        assert r["params"] > 0 and r["weight_bytes"] > 0
        for k in ("model_ms", "model_ms_p10", "model_ms_p90", "full_ms", "full_ms_p10", "full_ms_p90"):
            assert r[k] > 0
        assert r["model_ms_p10"] <= r["model_ms"] <= r["model_ms_p90"]
        assert r["runs"] == 5 and r["warmup"] == 1 and r["threads"] == 1
        assert r["torch"] and r["cpu"] and r["device_name"]
        assert (r["onnx_bytes"] is None) == (r["model"] == "gmm")
        if r["onnx_bytes"] is not None:
            assert r["onnx_bytes"] > 0
        assert r["frames"] == round(100 * r["clip_s"])
    sizes = {r["model"]: r["params"] for r in rows}
    assert sizes["slim"] < sizes["wide"] < sizes["snn"] < sizes["mobilenet"]


def test_markdown_has_paper_columns(rows):
    md = table_markdown(rows, note="measured under load")
    assert "paper CPU ms (1 s)" in md and "paper params" in md and "measured under load" in md
    lines = [ln for ln in md.splitlines() if ln.startswith("| ")]
    assert len(lines) == 1 + len(rows)
    slim_1s = [ln for ln in lines if ln.startswith("| slim | torch | 1 |")]
    assert slim_1s and "5,483" in slim_1s[0] and slim_1s[0].rstrip(" |").endswith("0.88")
    wide_1s = [ln for ln in lines if ln.startswith("| wide | onnx | 1 |")]
    assert "18,267" in wide_1s[0] and wide_1s[0].rstrip(" |").endswith("1.1")  # wide-distilled figure
    half = [ln for ln in lines if ln.startswith("| slim | torch | 0.5 |")]
    assert half[0].rstrip().endswith("| — |")


def test_bad_backend():
    with pytest.raises(ValueError, match="backend"):
        bench_models(models=("slim",), backend="tvm", quick=True)


def test_script_writes_markdown_and_json(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_models_script", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--quick", "--models", "slim", "--clips", "1", "--backend", "onnx",
                     "--out", str(tmp_path / "res.md")]) == 0
    md = (tmp_path / "res.md").read_text()
    data = json.loads((tmp_path / "res.json").read_text())
    assert "| slim | onnx | 1 |" in md and data["rows"][0]["backend"] == "onnx"
    assert data["environment"]["threads"] == 1
    assert "| slim | onnx | 1 |" in capsys.readouterr().out
