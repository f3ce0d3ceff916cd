"""Classifier, the classify / train / evaluate commands, on tiny generated data."""
import csv
import io
import json

import numpy as np
import pytest
import soundfile as sf

from sonotype.checkpoint import load_checkpoint
from sonotype.cli.main import main
from sonotype.features import MFCC
from sonotype.infer import Classifier
from sonotype.models import SwishNet
from sonotype.preprocess import PreprocessParams
from sonotype.train import save_checkpoint

SR = 16000


def tone(seconds, f=440.0, seed=0):
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * f * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def noise(seconds, seed=0):
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


@pytest.fixture
def checkpoint(tmp_path):
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, arch="slim", kwargs={"n_in": 20, "n_classes": 3}, model=SwishNet(20, 3),
                    features=MFCC, prep=PreprocessParams(), classes=["speech", "music", "noise"], clip=1.0,
                    mean=np.zeros(20), std=np.full(20, 50.0))
    return path


def test_classifier_on_array_and_file(tmp_path, checkpoint):
    clf = Classifier(checkpoint)
    r = clf.classify_array(tone(3.0), SR)
    n_frames = (3 * SR - 512) // 160 + 1  # 297 frames: 1 s clips every 0.5 s start at 0, 50, 100, 150
    assert r.label in clf.classes and r.n_clips == len(range(0, n_frames - 100 + 1, 50)) == 4
    assert sum(r.probs.values()) == pytest.approx(1.0, abs=1e-5)
    sf.write(tmp_path / "a.wav", tone(3.0), SR)
    assert Classifier(checkpoint).classify(tmp_path / "a.wav").probs == pytest.approx(r.probs, abs=1e-4)
    silent = clf.classify_array(np.zeros(SR * 2, np.float32), SR)
    assert silent.label == "silence" and silent.n_clips == 0


def test_classify_cli_batch_with_bad_file(tmp_path, checkpoint, capsys):
    sf.write(tmp_path / "a.wav", tone(2.0), SR)
    sf.write(tmp_path / "b.flac", noise(1.5), SR)
    (tmp_path / "bad.wav").write_text("not audio")
    rc = main(["classify", str(tmp_path / "a.wav"), str(tmp_path / "bad.wav"), str(tmp_path / "b.flac"),
               "--model", str(checkpoint)])
    out, err = capsys.readouterr()
    assert rc == 1
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["path"] for r in rows] == [str(tmp_path / "a.wav"), str(tmp_path / "b.flac")]
    assert set(rows[0]) >= {"label", "speech", "music", "noise"}
    assert "bad.wav" in err and "cannot decode" in err
    rc = main(["classify", str(tmp_path / "a.wav"), "--model", str(checkpoint), "--json"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["path"].endswith("a.wav")


def test_classify_cli_bad_checkpoint(tmp_path, capsys):
    (tmp_path / "x.pt").write_bytes(b"\x00" * 10)
    sf.write(tmp_path / "a.wav", tone(1.0), SR)
    assert main(["classify", str(tmp_path / "a.wav"), "--model", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "x.pt" in err


@pytest.fixture
def musan(tmp_path):
    """A tiny MUSAN tree: {speech,music,noise}/<subset>/*.wav."""
    root = tmp_path / "musan"
    makers = {"speech": lambda k: tone(2.0, 150 + 20 * k) * (np.arange(2 * SR) % 4000 < 2500),
              "music": lambda k: tone(2.0, 440 + 50 * k) + tone(2.0, 660 + 50 * k),
              "noise": lambda k: noise(2.0, k)}
    for label, make in makers.items():
        d = root / label / "sub"
        d.mkdir(parents=True)
        for k in range(8):
            sf.write(d / f"{label}-{k}.wav", make(k).astype(np.float32), SR)
    return root


def test_train_and_evaluate_commands(tmp_path, musan, capsys, monkeypatch):
    monkeypatch.setenv("SONOTYPE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    rc = main(["train", "--corpus", f"musan:{musan}", "--model", "slim", "--clip", "0.5", "--out", str(out),
               "--epochs", "2", "--updates-per-epoch", "4", "--workers", "1", "--silence-rel-db", "30",
               "--keep", "last"])
    assert rc == 0
    ck = load_checkpoint(out / "model.pt")
    assert ck["prep"]["silence_rel_db"] == 30.0  # inference repeats it
    assert ck["config"]["keep"] == "last" and ck["metrics"]["epoch"] == 2
    for f in ("model.pt", "last.pt", "split.csv", "train.json", "test/metrics.json", "test/table.md",
              "test/confusion.png"):
        assert (out / f).is_file(), f
    t = json.loads((out / "train.json").read_text())
    assert 0 <= t["test"]["accuracy"] <= 1 and len(t["history"]) == 2 and t["kept_epoch"] == 2
    rc = main(["evaluate", "--model", str(out / "model.pt"), "--corpus", f"musan:{musan}",
               "--split", str(out / "split.csv"), "--out", str(tmp_path / "ev"), "--workers", "1"])
    assert rc == 0
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert m["accuracy"] == pytest.approx(t["test"]["accuracy"])
    assert "| slim |" in capsys.readouterr().out


def test_long_files_are_classified_block_by_block(tmp_path, monkeypatch):
    import sonotype.infer.classify as classify
    rng = np.random.default_rng(0)
    y = (0.1 * rng.standard_normal(16000 * 12)).astype(np.float32)
    y[16000 * 4:16000 * 8] = 0.0  # a silent block in the middle gives no clips, and no error
    path = tmp_path / "long.wav"
    sf.write(path, y, 16000)
    clf = Classifier("wide")
    whole = clf.classify(path)
    monkeypatch.setattr(classify, "LONG_FILE_S", 5.0)
    monkeypatch.setattr(classify, "BLOCK_S", 4.0)
    blocks, real_stream = [], classify.stream

    def counted(*args, **kwargs):
        for b in real_stream(*args, **kwargs):
            blocks.append(len(b))
            yield b
    monkeypatch.setattr(classify, "stream", counted)
    parts = clf.classify(path)
    assert blocks == [16000 * 4] * 3
    assert parts.label == whole.label and parts.duration == whole.duration
    assert 0 < parts.n_clips <= whole.n_clips + 2
    assert max(abs(parts.probs[c] - whole.probs[c]) for c in clf.classes) < 0.1
