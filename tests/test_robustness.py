"""Bad inputs through ``sonotype segment`` / ``classify`` / ``index``: one clear line each, nothing else lost."""
import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from sonotype.cli.main import main
from sonotype.features import FeatureParams
from sonotype.models.mobilenet import MobileNetV1
from sonotype.preprocess import PreprocessParams
from sonotype.train import save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

SR = 16000
CLASSES = ["speech", "music", "noise"]


def noise(seconds, sr=SR, seed=0):
    return (0.2 * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


# --------------------------------------------------------------------------- bad audio inputs
def _bad_inputs(d):
    good = d / "good.wav"
    sf.write(good, noise(1.0), SR, subtype="PCM_16")
    raw = good.read_bytes()
    (d / "dir.wav").mkdir()
    (d / "empty.wav").write_bytes(b"")
    (d / "header.wav").write_bytes(raw[:30])
    (d / "text.wav").write_bytes(b"this is a text file renamed .wav\n" * 20)
    sf.write(d / "zero.wav", np.zeros(0, np.float32), SR)
    y = noise(1.0)
    y[100] = np.nan
    sf.write(d / "nan.wav", y, SR, subtype="FLOAT")
    y = noise(1.0)
    y[5] = np.inf
    sf.write(d / "inf.wav", y, SR, subtype="DOUBLE")
    return good


BAD = {  # file -> part of the message
    "missing.wav": "no such file",
    "dir.wav": "is a directory, not an audio file",
    "empty.wav": "empty file (0 bytes)",
    "header.wav": "cannot decode audio: corrupt or unsupported format",
    "text.wav": "cannot decode audio: corrupt or unsupported format",
    "zero.wav": "contains no audio samples",
    "nan.wav": "contains NaN or Inf samples",
    "inf.wav": "contains NaN or Inf samples",
}


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    _bad_inputs(d)
    return d


def _err_lines(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Warning" not in err, err
    return [x for x in err.splitlines() if x.strip()]


@pytest.mark.parametrize("command", ["segment", "classify"])
@pytest.mark.parametrize("name", list(BAD))
def test_bad_audio_segment_classify(bad_dir, ck, capsys, command, name):
    bad = bad_dir / name
    rc = main([command, str(bad_dir / "good.wav"), str(bad), "--model", str(ck)])
    out = capsys.readouterr()
    assert rc == 1  # the good file is still done:
    assert "good.wav,speech" in out.out if command == "classify" else out.out.startswith("start,end,label")
    lines = [x for x in out.err.splitlines() if x.strip()]
    assert len(lines) == 2 and lines[0].startswith(f"sonotype: error: {bad}: {BAD[name]}"), out.err
    assert lines[1] == "sonotype: 1 of 2 files failed"


def test_bad_audio_index(bad_dir, ck, tmp_path, capsys):
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{bad_dir / n}\n" for n in ["good.wav", *BAD]))
    out = tmp_path / "o.jsonl"
    assert main(["index", str(listing), "--out", str(out), "--model", str(ck)]) == 1
    recs = {os.path.basename(r["path"]): r for r in map(json.loads, out.read_text().splitlines())}
    assert set(recs) == {"good.wav", *BAD}
    assert "segments" in recs["good.wav"] and "error" not in recs["good.wav"]
    for name, msg in BAD.items():
        assert msg in recs[name]["error"] and recs[name]["error"].startswith(str(bad_dir / name))
        assert "segments" not in recs[name]
    err = _err_lines(capsys)
    assert f"{len(BAD) + 1} files: 1 ok, {len(BAD)} failed" in "\n".join(err)


# --------------------------------------------------------------------------- odd but valid audio
ODD = {  # name -> (samples, rate, subtype, channels)
    "u8.wav": (1.0, SR, "PCM_U8", 1),
    "s24.wav": (1.0, SR, "PCM_24", 1),
    "float.wav": (1.0, SR, "FLOAT", 1),
    "k8.wav": (1.0, 8000, "PCM_16", 1),
    "k48.wav": (1.0, 48000, "PCM_16", 1),
    "ch6.wav": (1.0, SR, "PCM_16", 6),
    "short.wav": (0.05, SR, "PCM_16", 1),  # shorter than a window: segmented, not an error
    "onesample.wav": (1 / SR, SR, "PCM_16", 1),
}


@pytest.fixture(scope="module")
def odd_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("odd")
    for name, (sec, sr, subtype, ch) in ODD.items():
        y = noise(sec, sr)
        sf.write(d / name, np.tile(y[:, None], (1, ch)) if ch > 1 else y, sr, subtype=subtype)
    sf.write(d / "zeros.wav", np.zeros(2 * SR, np.float32), SR, subtype="PCM_16")
    return d


def test_odd_formats_work_everywhere(odd_dir, ck, tmp_path, capsys):
    names = sorted(p.name for p in odd_dir.iterdir())
    assert main(["segment", *(str(odd_dir / n) for n in names), "--model", str(ck), "-o", str(tmp_path / "s")]) == 0
    assert main(["classify", *(str(odd_dir / n) for n in names), "--model", str(ck), "--json"]) == 0
    rows = {os.path.basename(r["path"]): r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert rows["zeros.wav"]["label"] == "silence"
    out = tmp_path / "o.jsonl"
    assert main(["index", str(odd_dir), "--out", str(out), "--model", str(ck)]) == 0
    recs = {os.path.basename(r["path"]): r for r in map(json.loads, out.read_text().splitlines())}
    assert set(recs) == set(names)
    for name, r in recs.items():
        want = ODD[name][0] if name in ODD else 2.0
        assert r["duration"] == pytest.approx(want, abs=1e-3) and r["segments"][-1][1] == r["duration"]
    assert recs["zeros.wav"]["segments"] == [[0.0, 2.0, "silence", 1.0]]
    assert recs["short.wav"]["segments"][0][:2] == [0.0, 0.05]


# --------------------------------------------------------------------------- runs and outputs
def test_file_disappearing_mid_run(ck, tmp_path, monkeypatch, capsys):
    import sonotype.index.run as ix  # where index_one looks up hash_file
    (tmp_path / "in").mkdir()
    for k in range(4):
        sf.write(tmp_path / "in" / f"f{k}.wav", noise(1.0, seed=k), SR)
    real = ix.hash_file

    def vanish(path):  # f2 is deleted while f1 is being indexed, after the listing
        if path.endswith("f1.wav"):
            os.unlink(tmp_path / "in" / "f2.wav")
        return real(path)
    monkeypatch.setattr(ix, "hash_file", vanish)
    out = tmp_path / "o.jsonl"
    assert main(["index", str(tmp_path / "in"), "--out", str(out), "--model", str(ck)]) == 1
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert [("error" in r) for r in recs] == [False, False, True, False]
    assert recs[2]["error"] == f"{tmp_path / 'in' / 'f2.wav'}: no such file"
    assert "failed files:" in capsys.readouterr().err


def test_output_read_only_and_full(ck, tmp_path, monkeypatch, capsys):
    import sonotype.index.output as ix  # where Output uses os
    src = tmp_path / "in"
    src.mkdir()
    for k in range(3):
        sf.write(src / f"f{k}.wav", noise(1.0, seed=k), SR)
    if os.path.exists("/dev/full"):
        assert main(["index", str(src), "--out", "/dev/full", "--model", str(ck)]) == 2
        assert _err_lines(capsys) == ["sonotype: error: /dev/full: cannot write output (No space left on device)"]
    # read-only location (root ignores chmod, so the failure is simulated)
    real_open = os.open

    def ro_open(path, *a, **k):
        if str(path).endswith(".jsonl"):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, *a, **k)
    monkeypatch.setattr(ix.os, "open", ro_open)
    assert main(["index", str(src), "--out", str(tmp_path / "ro.jsonl"), "--model", str(ck)]) == 2
    want = f"sonotype: error: {tmp_path / 'ro.jsonl'}: cannot open output (Read-only file system)"
    assert _err_lines(capsys) == [want]
    monkeypatch.setattr(ix.os, "open", real_open)
    # disk full after the first line: exit 2, only whole lines, and --resume finishes the job
    real_write, calls = os.write, []

    def full_write(fd, data):
        calls.append(1)
        if len(calls) == 2:
            real_write(fd, bytes(data)[:10])  # a short write, then ENOSPC
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)
    monkeypatch.setattr(ix.os, "write", full_write)
    out = tmp_path / "o.jsonl"
    assert main(["index", str(src), "--out", str(out), "--model", str(ck)]) == 2
    assert _err_lines(capsys) == [f"sonotype: error: {out}: cannot write output (No space left on device)"]
    monkeypatch.setattr(ix.os, "write", real_write)
    assert out.read_bytes().count(b"\n") == 1
    assert main(["index", str(src), "--out", str(out), "--model", str(ck), "--resume"]) == 0
    full = tmp_path / "full.jsonl"
    assert main(["index", str(src), "--out", str(full), "--model", str(ck)]) == 0
    assert out.read_bytes() == full.read_bytes()


def test_segment_output_unwritable(ck, tmp_path, monkeypatch, capsys):
    sf.write(tmp_path / "a.wav", noise(1.0), SR)

    class Full:
        def write(self, s):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def flush(self):
            pass
    monkeypatch.setattr(sys, "stdout", Full())
    assert main(["segment", str(tmp_path / "a.wav"), "--model", str(ck)]) == 2
    assert main(["classify", str(tmp_path / "a.wav"), "--model", str(ck)]) == 2
    monkeypatch.undo()
    assert _err_lines(capsys) == ["sonotype: error: standard output: cannot write (No space left on device)"] * 2
    (tmp_path / "file").write_text("x")
    assert main(["segment", str(tmp_path / "a.wav"), "--model", str(ck), "-o", str(tmp_path / "file" / "o")]) == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and err[0].startswith(f"sonotype: error: {tmp_path / 'file'}")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_classify_to_dev_full_subprocess(ck, tmp_path):
    sf.write(tmp_path / "a.wav", noise(1.0), SR)
    with open("/dev/full", "w") as full:
        p = subprocess.run([sys.executable, "-m", "sonotype.cli.main", "classify", str(tmp_path / "a.wav"),
                            "--model", str(ck)], stdout=full, stderr=subprocess.PIPE, text=True, check=False)
    assert p.returncode == 2
    assert p.stderr.strip() == "sonotype: error: standard output: cannot write (No space left on device)"


# --------------------------------------------------------------------------- bad checkpoints
@pytest.fixture(scope="module")
def bad_models(ck, tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    torch.save({"weights": torch.zeros(3)}, d / "foreign.pt")
    torch.save(torch.nn.Linear(2, 2), d / "module.pt")
    raw = ck.read_bytes()
    (d / "truncated.pt").write_bytes(raw[: len(raw) // 2])
    (d / "text.pt").write_text("not a checkpoint\n")
    save_checkpoint(d / "mobilenet.pt", arch="mobilenet", kwargs={"n_classes": 3, "alpha": 0.25, "n_mels": 64,
                                                                   "dense": 16},
                    model=MobileNetV1(3, 0.25, 64, 16), features=FeatureParams(kind="logmel", n_mels=64),
                    prep=PreprocessParams(), classes=CLASSES, clip=1.0)
    return d


MODELS = {
    "foreign.pt": "not a sonotype checkpoint",
    "module.pt": "not a readable checkpoint",
    "truncated.pt": "not a readable checkpoint",
    "text.pt": "not a readable checkpoint (not a PyTorch file: it begins b'not a ch'",
    "missing.pt": "checkpoint not found",
    "mobilenet.pt": "segmentation with clip-only models (MobileNet) is not implemented",
}


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("command", ["segment", "classify", "index"])
def test_bad_checkpoint_exit_2(bad_models, tmp_path, capsys, name, command):
    sf.write(tmp_path / "a.wav", noise(1.0), SR)
    if name == "mobilenet.pt" and command == "classify":  # clip-level models classify fine
        assert main([command, str(tmp_path / "a.wav"), "--model", str(bad_models / name)]) == 0
        return
    extra = ["--out", str(tmp_path / "o.jsonl")] if command == "index" else []
    assert main([command, str(tmp_path / "a.wav"), "--model", str(bad_models / name), *extra]) == 2
    err = _err_lines(capsys)
    assert len(err) == 1 and err[0].startswith("sonotype: error: ") and MODELS[name] in err[0], err
    assert not (tmp_path / "o.jsonl").exists() or (tmp_path / "o.jsonl").stat().st_size == 0
