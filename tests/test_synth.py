"""Artificial segmentation corpus: truth matches the audio; evaluation end to end."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile as sf
import torch

from sonotype.audio import load
from sonotype.data import Item
from sonotype.data.synth import read_index, read_truth, slot_db, synth_segments
from sonotype.evaluate.segments import evaluate_segments
from sonotype.features import FeatureParams
from sonotype.models import SwishNet
from sonotype.preprocess import PreprocessParams
from sonotype.checkpoint import save_checkpoint

from conftest import SIGNALS, write_audio

SR = 16000


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    """Two items per class, 4 s each; each holds a quiet stretch (natural silence)."""
    root = tmp_path_factory.mktemp("items")
    out, seed = [], 0
    rng = np.random.default_rng(0)
    for label, gen in SIGNALS.items():
        for k in range(2):
            seed += 1
            y = gen(4.0, SR, seed)
            y[SR:SR + SR // 2] = rng.standard_normal(SR // 2) * 10 ** (-65 / 20)  # -65 dBFS
            if k:
                y[SR:SR + SR // 2] += 0.01  # ... recorded with a DC offset (-40 dBFS): still silence
            path = write_audio(root / f"{label}{k}.wav", y, SR, subtype="FLOAT")
            out.append(Item(str(path), label, f"{label}{k}"))
    return out


@pytest.fixture(scope="module")
def corpus(items, tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    index = synth_segments(items, out, n=3, seed=1, min_len=6, max_len=10,
                           mean_len={"speech": 2, "music": 2, "noise": 1, "silence": 0.4}, progress=False)
    return out, index


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_index_and_files(corpus):
    out, index = corpus
    assert [r["name"] for r in index] == ["synth-0000", "synth-0001", "synth-0002"]
    assert read_index(out)[0]["audio"] == str(out / "synth-0000.wav")
    for r in index:
        info = sf.info(out / r["audio"])
        assert info.samplerate == SR and info.subtype == "PCM_16"
        assert 6 <= info.duration <= 10 and info.duration == pytest.approx(r["duration"], abs=1e-4)
        rows = _rows(out / r["truth"])
        assert len(rows) == r["segments"]
        assert float(rows[0]["start"]) == 0 and float(rows[-1]["end"]) == pytest.approx(r["duration"], abs=1e-5)
        for a, b in zip(rows, rows[1:]):
            assert a["end"] == b["start"]
    labels = {row["label"] for r in index for row in _rows(out / r["truth"])}
    assert labels == {"speech", "music", "noise", "silence"}


def test_truth_matches_audio(corpus):
    out, index = corpus
    natural = digital = 0
    for r in index:
        y = load(out / r["audio"])
        for row in _rows(out / r["truth"]):
            a, b = round(float(row["start"]) * SR), round(float(row["end"]) * SR)
            seg = y[a:b]
            if row["label"] == "silence":
                assert slot_db(seg, 160).max() < -50, row   # every 10 ms slot quiet, its DC removed
            else:
                # labelled excerpts have no quiet run of 0.2 s or more
                quiet = slot_db(seg, 160) < -50
                run = np.max(np.diff(np.flatnonzero(np.concatenate([[True], ~quiet, [True]])))) - 1
                assert run < 20, row
            if row["source"]:
                natural += row["label"] == "silence"
                o = round(float(row["offset"]) * SR)
                src = load(row["source"])[o:o + b - a]
                assert np.abs(src - seg).max() <= 1.01 / 32768, row   # PCM_16 rounding only
            else:
                digital += 1
                assert row["label"] == "silence"
    assert natural > 0 and digital > 0


def test_slot_level_ignores_a_dc_offset():
    rng = np.random.default_rng(0)
    quiet = rng.standard_normal(1600) * 10 ** (-65 / 20)
    assert np.all(slot_db(quiet + 0.01, 160) < -60)          # a pause with a DC offset is silence
    assert np.all(np.abs(slot_db(quiet + 0.01, 160) - slot_db(quiet, 160)) < 0.5)
    tone = 0.1 * np.sin(2 * np.pi * 1000 * np.arange(1600) / SR)
    assert np.allclose(slot_db(tone, 160), 10 * np.log10(0.005), atol=0.1)  # a 1 kHz tone: -23 dBFS


def test_deterministic(items, corpus, tmp_path):
    out, index = corpus
    again = synth_segments(items, tmp_path, n=1, seed=1, min_len=6, max_len=10,
                           mean_len={"speech": 2, "music": 2, "noise": 1, "silence": 0.4}, progress=False)
    assert again[0] == index[0]
    assert (tmp_path / "synth-0000.wav").read_bytes() == (out / "synth-0000.wav").read_bytes()
    assert (tmp_path / "synth-0000.csv").read_text() == (out / "synth-0000.csv").read_text()


def test_read_truth(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("start,end,label,source,offset\n0,0.5,speech,,\n0.5,0.52,silence,,\n0.52,1.005,music,,\n")
    frames = read_truth(p)
    assert len(frames) == 101
    assert list(frames[[0, 49, 50, 51, 52, 100]]) == ["speech", "speech", "silence", "silence", "music", "music"]
    assert len(read_truth(p, duration=2.0)) == 200 and read_truth(p, duration=2.0)[150] == "silence"


def test_evaluate_segments(corpus, tmp_path):
    out, _ = corpus
    torch.manual_seed(0)
    ck = save_checkpoint(tmp_path / "slim.pt", arch="slim", kwargs={"n_in": 20, "n_classes": 3},
                         model=SwishNet(20, 3, 1), features=FeatureParams(), prep=PreprocessParams(),
                         classes=["speech", "music", "noise"], clip=1.0, mean=np.zeros(20), std=np.ones(20))
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = evaluate_segments(str(ck), out, windows=(0.5, 1.0), median=50, out=tmp_path / "eval",
                                 progress=False, smoothings=("viterbi", "median"))
    finally:
        torch.set_num_threads(n)
    assert [(r["smoothing"], r["window"]) for r in rows] == [("viterbi", 0.5), ("viterbi", 1.0),
                                                             ("median", 0.5), ("median", 1.0)]
    for r in rows:
        st = r["standard"]
        assert 0 <= st["detection_error_rate"] and 0 <= st["boundary_recall"] <= 1 and 0 < st["coverage"] <= 1
        assert 0 < st["purity"] <= 1 and st["tolerance_s"] == 0.5
        assert r["model"] == "slim" and r["files"] == 3 and r["speed"] > 0
        m = r["metrics"]
        assert 0 <= m["accuracy"] <= 1 and 0 <= m["speech_accuracy"] <= 1
        assert set(m["recall"]) == {"speech", "music", "noise"} and m["n_excluded"] > 0
    ev = tmp_path / "eval"
    assert json.loads((ev / "metrics.json").read_text())[0]["window"] == 0.5
    assert "window (s)" in (ev / "table.md").read_text()
    assert (ev / "accuracy_by_window.png").stat().st_size > 0
    assert (ev / "confusion_slim_viterbi_1s.png").is_file() and (ev / "confusion_slim_median_1s.png").is_file()
    assert "detection error rate" in (ev / "table.md").read_text()
