"""The segment / synth-segments / evaluate-segments commands end to end on tiny data."""
import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from sonotype.cli.main import main
from sonotype.infer import DecoderConfig
from sonotype.infer.formats import read_segments

SR = 16000


def signal(seconds=6.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(len(t))
    y[int(2 * SR):int(3 * SR)] = 0.0  # one second of digital silence
    return y.astype(np.float32)


def test_segment_stdout_csv_covers_file(tmp_path, ck, capsys):
    sf.write(tmp_path / "a.wav", signal(), SR)
    assert main(["segment", str(tmp_path / "a.wav"), "--model", str(ck)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert float(rows[0]["start"]) == 0 and float(rows[-1]["end"]) == pytest.approx(6.0, abs=0.011)
    assert all(float(a["end"]) == float(b["start"]) for a, b in zip(rows, rows[1:]))
    assert any(r["label"] == "silence" and float(r["start"]) <= 2.1 and float(r["end"]) >= 2.9 for r in rows)


def test_segment_prior_option(tmp_path, ck, capsys):
    sf.write(tmp_path / "a.wav", signal(), SR)
    labels = {}
    for prior in ("none", "speech=-60,noise=-60", "music=-60,noise=-60"):
        assert main(["segment", str(tmp_path / "a.wav"), "--model", str(ck), "--prior", prior]) == 0
        labels[prior] = {r["label"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))} - {"silence"}
    # a strong enough prior decides every non-silent frame
    assert labels["speech=-60,noise=-60"] == {"music"} and labels["music=-60,noise=-60"] == {"speech"}
    for bad in ("noise", "noise=x", "noise=inf", "nosie=-0.5"):
        assert main(["segment", str(tmp_path / "a.wav"), "--model", str(ck), "--prior", bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith("sonotype: error: --prior") and "Traceback" not in err


@pytest.mark.parametrize("fmt,suffix", [("json", ".json"), ("audacity", ".txt"), ("textgrid", ".TextGrid"),
                                        ("rttm", ".rttm")])
def test_segment_outdir_formats_and_bad_file(tmp_path, ck, capsys, fmt, suffix):
    sf.write(tmp_path / "a.wav", signal(), SR)
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00")
    out = tmp_path / "out"
    rc = main(["segment", str(tmp_path / "a.wav"), str(tmp_path / "broken.wav"), "--model", str(ck),
               "--format", fmt, "-o", str(out)])
    assert rc == 1 and "broken.wav" in capsys.readouterr().err
    assert (out / f"a{suffix}").is_file() and not (out / f"broken{suffix}").exists()
    if fmt in ("json", "audacity"):
        segs = read_segments(out / f"a{suffix}", fmt)
        assert segs[0].start == 0 and segs[-1].end == pytest.approx(6.0, abs=0.011)


def test_segment_report_html(tmp_path, ck):
    sf.write(tmp_path / "a.wav", signal(), SR)
    assert main(["segment", str(tmp_path / "a.wav"), "--model", str(ck), "-o", str(tmp_path / "o"),
                 "--report", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text()
    assert "data:audio/" in html and "http://" not in html and "https://" not in html


def test_segment_stream_matches_offline(tmp_path, ck):
    y = signal(5.0, seed=1)
    sf.write(tmp_path / "a.wav", y, SR, subtype="PCM_16")
    pcm = sf.read(tmp_path / "a.wav", dtype="int16")[0].astype("<i2").tobytes()
    cmd = [sys.executable, "-m", "sonotype.cli.main", "segment"]
    live = subprocess.run(cmd + ["-", "--stream", "--model", str(ck)], input=pcm, capture_output=True, check=True)
    off = subprocess.run(cmd + [str(tmp_path / "a.wav"), "--model", str(ck)], capture_output=True, check=True)
    off_rows = [r.split(",")[:3] for r in off.stdout.decode().strip().splitlines()[1:]]
    live_rows = [r.split(",")[:3] for r in live.stdout.decode().strip().splitlines()]
    as_labels = lambda rows: [(round(float(a), 2), round(float(b), 2), c) for a, b, c in rows]
    assert as_labels(live_rows) == as_labels(off_rows)
    assert "latency" in live.stderr.decode()


def test_synth_and_evaluate_segments_commands(tmp_path, ck, capsys):
    root = tmp_path / "musan"
    rng = np.random.default_rng(0)
    t = np.arange(4 * SR) / SR
    for label, make in {"speech": lambda k: np.sin(2 * np.pi * (120 + 10 * k) * t) * (np.sin(2 * np.pi * 4 * t) > 0),
                        "music": lambda k: np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 554 * t),
                        "noise": lambda k: rng.standard_normal(len(t))}.items():
        d = root / label / "x"
        d.mkdir(parents=True)
        for k in range(4):
            sf.write(d / f"{label}{k}.wav", (0.2 * make(k)).astype(np.float32), SR)
    assert main(["synth-segments", "--corpus", f"musan:{root}", "--subset", "train", "--n", "2",
                 "--min-len", "5", "--max-len", "8", "--out", str(tmp_path / "syn")]) == 0
    assert len(list((tmp_path / "syn").glob("*.wav"))) == 2
    assert main(["evaluate-segments", "--model", str(ck), "--data", str(tmp_path / "syn"), "--window", "0.5,1",
                 "--smoothing", "viterbi,median", "--out", str(tmp_path / "ev")]) == 0
    rows = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert [r["window"] for r in rows] == [0.5, 1.0, 0.5, 1.0]
    assert [r["smoothing"] for r in rows] == ["viterbi", "viterbi", "median", "median"]
    assert all("boundary_precision" in r["standard"] for r in rows)
    assert all(0 <= r["metrics"]["accuracy"] <= 1 for r in rows)
    assert "frame accuracy" in capsys.readouterr().out
    assert all(r["decoder"]["log_prior"] == dict(DecoderConfig().log_prior) for r in rows)  # segment's default
    assert main(["evaluate-segments", "--model", str(ck), "--data", str(tmp_path / "syn"), "--window", "1",
                 "--prior", "none", "--out", str(tmp_path / "ev0")]) == 0
    rows = json.loads((tmp_path / "ev0" / "metrics.json").read_text())
    assert [r["decoder"]["log_prior"] for r in rows] == [{}]
    capsys.readouterr()
    assert main(["evaluate-segments", "--model", str(ck), "--data", str(tmp_path / "syn"), "--prior", "nosie=-1",
                 "--out", str(tmp_path / "ev1")]) == 2
    assert capsys.readouterr().err.startswith("sonotype: error: --prior: the model has no class nosie")
