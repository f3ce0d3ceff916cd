"""The ``sonotype features`` and ``sonotype data`` commands, and ``--help`` of every command."""
from __future__ import annotations

import csv
import re
import subprocess
import sys

import numpy as np
import pytest

from sonotype.audio import load
from sonotype.cli.main import main
from sonotype.features import LOGMEL, MFCC, STFT, extract


@pytest.fixture
def speech_file(make_audio):
    return make_audio("speech.wav", kind="speech", dur=1.5, sr=22050, seed=3)


@pytest.mark.parametrize("kind,params", [("mfcc", MFCC), ("logmel", LOGMEL), ("stft", STFT)])
def test_features_writes_npy(tmp_path, capsys, speech_file, kind, params):
    out = tmp_path / "o" / f"{kind}.npy"
    assert main(["features", str(speech_file), "--kind", kind, "-o", str(out)]) == 0
    F = np.load(out)
    n = len(load(speech_file, sr=params.sr))
    assert F.shape == (params.n_channels, params.n_frames(n))
    assert F.shape[0] == {"mfcc": 20, "logmel": 64, "stft": 257}[kind]
    np.testing.assert_allclose(F, extract(load(speech_file, sr=params.sr), params), atol=1e-5)
    text = capsys.readouterr().out
    assert str(speech_file) in text and f"wrote {out}" in text
    assert [p.name for p in out.parent.iterdir()] == [f"{kind}.npy"]


def test_features_deltas_and_sr(tmp_path, capsys, speech_file):
    out = tmp_path / "d.npy"
    assert main(["features", str(speech_file), "--deltas", "2", "--sr", "8000", "-o", str(out)]) == 0
    F = np.load(out)
    assert F.shape == (60, 1 + (len(load(speech_file, sr=8000)) - 512) // 160)
    assert "sr 8000" in capsys.readouterr().out


def test_features_missing_file_exits_2(tmp_path, capsys):
    missing = tmp_path / "nope.wav"
    assert main(["features", str(missing), "-o", str(tmp_path / "x.npy")]) == 2
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and str(missing) in lines[0] and lines[0].startswith("sonotype: error:")
    assert "Traceback" not in cap.err and cap.out == ""
    assert not (tmp_path / "x.npy").exists()


def test_features_corrupt_file_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_text("hello\n" * 50)
    assert main(["features", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0]


def test_features_subprocess_smoke(tmp_path, speech_file):
    out = tmp_path / "s.npy"
    r = subprocess.run([sys.executable, "-m", "sonotype.cli.main", "features", str(speech_file), "-o", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert np.load(out).shape[0] == 20
    assert f"wrote {out}" in r.stdout


def _table(text):
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^\| (\w[\w-]*) \| (\d+) \|", line)
        if m and m.group(1) != "class":
            rows[m.group(1)] = int(m.group(2))
    return rows


@pytest.mark.parametrize("spec_attr,counts_attr,prefix", [
    ("musan", "musan_counts", "musan:"), ("musan", "musan_counts", ""),
    ("folders", "folders_counts", "folders:")])
def test_data_info_counts(capsys, corpora, spec_attr, counts_attr, prefix):
    rc = main(["data", "info", f"{prefix}{getattr(corpora, spec_attr)}"])
    out = capsys.readouterr().out
    assert rc == 0
    assert _table(out) == getattr(corpora, counts_attr)
    total = sum(getattr(corpora, counts_attr).values())
    assert f"{total} files" in out
    assert "train files" in out and "test files" in out


def test_data_info_genres_and_split_file(tmp_path, capsys, corpora):
    assert main(["data", "info", str(corpora.gtzan_genres)]) == 0
    assert _table(capsys.readouterr().out) == {g: 2 for g in corpora.genres}
    s = tmp_path / "s.csv"
    assert main(["data", "split", str(corpora.minimusan), "--out", str(s), "--seed", "2"]) == 0
    capsys.readouterr()
    assert main(["data", "info", str(corpora.minimusan), "--split", str(s)]) == 0
    assert _table(capsys.readouterr().out) == {"speech": 3, "music": 3, "noise": 3}


def test_data_info_reports_unreadable(tmp_path, capsys, make_audio):
    make_audio("c/speech/a.wav")
    (tmp_path / "c" / "music").mkdir()
    (tmp_path / "c" / "music" / "b.wav").write_text("junk")
    assert main(["data", "info", f"folders:{tmp_path / 'c'}"]) == 1
    err = capsys.readouterr().err
    assert "unreadable" in err and "b.wav" in err


def test_data_info_missing_corpus(tmp_path, capsys):
    assert main(["data", "info", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path / "none") in err[0]


@pytest.mark.parametrize("which", ["musan", "minimusan", "gtzan_ms", "gtzan_genres", "folders", "manifest"])
def test_data_split_csv(tmp_path, capsys, corpora, which):
    from sonotype.data import open_corpus
    spec = str(getattr(corpora, which))
    out = tmp_path / "s.csv"
    assert main(["data", "split", spec, "--out", str(out)]) == 0
    msg = capsys.readouterr().out
    with open(out, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        rows = list(r)
    assert header == ["path", "label", "group", "source", "split"]
    c = open_corpus(spec)
    assert sorted(row[0] for row in rows) == sorted(i.path for i in c.items)
    assert {row[4] for row in rows} <= {"train", "val", "test"}
    by_path = {i.path: i for i in c.items}
    assert all((row[1], row[2], row[3]) == (by_path[row[0]].label, by_path[row[0]].group, by_path[row[0]].source)
               for row in rows)
    n = {s: sum(row[4] == s for row in rows) for s in ("train", "val", "test")}
    assert msg.strip() == f"wrote {out}: train {n['train']}, val {n['val']}, test {n['test']}"
    assert [p.name for p in tmp_path.iterdir()] == ["s.csv"]


def test_data_split_holdout_and_bad_ratios(tmp_path, capsys, corpora):
    out = tmp_path / "h.csv"
    assert main(["data", "split", str(corpora.musan), "--out", str(out), "--holdout-source", "fma"]) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12
    assert {r["path"] for r in rows if r["split"] == "test"} == {r["path"] for r in rows if r["source"] == "fma"}
    capsys.readouterr()
    assert main(["data", "split", str(corpora.musan), "--out", str(out), "--ratios", "0.5,0.6,0.1"]) == 2
    assert "ratios" in capsys.readouterr().err
    assert main(["data", "split", str(corpora.musan), "--out", str(out), "--holdout-source", "zzz"]) == 2
    assert "zzz" in capsys.readouterr().err


def test_data_cache(tmp_path, capsys, corpora):
    args = ["data", "cache", f"gtzan-ms:{corpora.gtzan_ms}", "--model", "slim", "--cache", str(tmp_path / "c"),
            "--workers", "1"]
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("6/6 files")
    assert len(list((tmp_path / "c").rglob("*.npy"))) == 6
    assert main(args) == 0
    assert len(list((tmp_path / "c").rglob("*.npy"))) == 6


@pytest.mark.parametrize("argv", [["features"], ["data"], ["data", "info"], ["data", "split"], ["data", "cache"],
                                  ["train"], ["evaluate"], ["classify"], ["reproduce"], ["reproduce", "clips"],
                                  ["models"], []])
def test_help(capsys, argv):
    with pytest.raises(SystemExit) as ei:
        main([*argv, "--help"])
    assert ei.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: sonotype" + (" " + " ".join(argv) if argv else ""))
    if argv[-1:] == ["split"]:
        assert "--out" in out and "--ratios" in out


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as ei:
        main(["features", "--kind", "wavelet"])
    assert ei.value.code == 2
    with pytest.raises(SystemExit) as ei:
        main(["data", "split", "x"])  # --out is required
    assert ei.value.code == 2
