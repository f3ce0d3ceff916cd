"""Hostile environments and odd data: rows 10-16 of docs/bad-input.md (cache, silence, checkpoints, index search)."""
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sonotype.cli.main import main
from sonotype.train import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")
SR = 16000


def noise(seconds, seed=0):
    return (0.2 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def err_lines(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return [x for x in err.splitlines() if x.strip()]


# --------------------------------------------------------------------------- row 10: the cache heals itself
@pytest.mark.parametrize("damage", [b"", b"\x08\x01garbage that is not a protobuf"])
def test_damaged_onnx_cache_entry_is_rebuilt(ck, tmp_path, monkeypatch, capsys, damage):
    monkeypatch.setenv("SONOTYPE_CACHE", str(tmp_path / "cache"))
    sf.write(tmp_path / "a.wav", noise(1.0), SR)
    old = os.umask(0o022)
    try:
        assert main(["classify", str(tmp_path / "a.wav"), "--model", str(ck)]) == 0
    finally:
        os.umask(old)
    first = capsys.readouterr().out
    (entry,) = (tmp_path / "cache" / "onnx").glob("*.onnx")
    assert stat.S_IMODE(entry.stat().st_mode) == 0o644  # others can read it (not mkstemp's 0600)
    entry.write_bytes(damage)
    assert main(["classify", str(tmp_path / "a.wav"), "--model", str(ck)]) == 0
    out, err = capsys.readouterr()
    assert out == first
    assert [x for x in err.splitlines() if x] == [x for x in err.splitlines() if "is damaged" in x] and \
        err.count(f"sonotype: warning: cache entry {entry} is damaged") == 1 and "rebuilding it" in err
    assert main(["classify", str(tmp_path / "a.wav"), "--model", str(ck)]) == 0  # healed: no warning now
    assert capsys.readouterr().err == ""


def test_unwritable_cache_is_named(ck, tmp_path, monkeypatch, capsys):
    (tmp_path / "cache").write_text("a file where the cache folder should be\n")
    monkeypatch.setenv("SONOTYPE_CACHE", str(tmp_path / "cache"))
    sf.write(tmp_path / "a.wav", noise(1.0), SR)
    assert main(["classify", str(tmp_path / "a.wav"), "--model", str(ck)]) == 2
    (line,) = err_lines(capsys)
    assert line.startswith(f"sonotype: error: cache {tmp_path / 'cache' / 'onnx'}: cannot write") \
        and line.endswith("set SONOTYPE_CACHE to a writable folder"), line


# --------------------------------------------------------------------------- row 11: silence everywhere
def test_silence_is_one_rule(ck, tmp_path, capsys):
    rng = np.random.default_rng(0)
    files = {"zeros-short.wav": np.zeros(1600, np.float32),           # 0.1 s: shorter than min_silence
             "dc-quiet.wav": (0.05 + 1e-5 * rng.standard_normal(2 * SR)).astype(np.float32)}
    for name, y in files.items():
        sf.write(tmp_path / name, y, SR, subtype="FLOAT")
    paths = [str(tmp_path / n) for n in files]
    assert main(["classify", *paths, "--model", str(ck), "--json"]) == 0
    assert [json.loads(x)["label"] for x in capsys.readouterr().out.splitlines()] == ["silence"] * 2
    assert main(["segment", *paths, "--model", str(ck), "-o", str(tmp_path / "seg")]) == 0
    for n in files:
        rows = (tmp_path / "seg" / (Path(n).stem + ".csv")).read_text().splitlines()[1:]
        assert [r.split(",")[2] for r in rows] == ["silence"], rows
    assert main(["index", str(tmp_path), "--out", str(tmp_path / "o.jsonl"), "--model", str(ck)]) == 0
    for r in map(json.loads, (tmp_path / "o.jsonl").read_text().splitlines()):
        assert [s[2] for s in r["segments"]] == ["silence"], r


def test_anti_phase_stereo_warns(ck, tmp_path, capsys):
    y = noise(1.0)
    sf.write(tmp_path / "anti.wav", np.stack([y, -y], 1), SR)
    sf.write(tmp_path / "stereo.wav", np.stack([y, y], 1), SR)
    for cmd in ("classify", "segment"):
        assert main([cmd, str(tmp_path / "anti.wav"), str(tmp_path / "stereo.wav"), "--model", str(ck)]) == 0
        assert err_lines(capsys) == [f"sonotype: warning: {tmp_path / 'anti.wav'}: its channels cancel out when "
                                     "mixed to mono (anti-phase stereo?); it will sound like silence"]


# --------------------------------------------------------------------------- row 12: hand-made checkpoints
@pytest.mark.parametrize("change, cause", [
    ({"clip": 0.0}, "clip is 0 s; it must be a finite number > 0"),
    ({"clip": float("nan")}, "clip is nan s"),
    ({"std": torch.zeros(20)}, "std holds zero, negative, NaN or Inf values"),
    ({"mean": torch.full((20,), float("nan"))}, "mean holds NaN/Inf"),
    ({"std": torch.ones(7)}, "std has shape (7,), expected (20,)"),
    ({"classes": []}, "classes must be a non-empty list"),
])
def test_hand_made_checkpoint_values(ck, tmp_path, capsys, change, cause):
    d = torch.load(ck, weights_only=True)
    d.update(change)
    torch.save(d, tmp_path / "bad.pt")
    sf.write(tmp_path / "a.wav", noise(1.0), SR)
    for cmd in ("classify", "segment"):
        assert main([cmd, str(tmp_path / "a.wav"), "--model", str(tmp_path / "bad.pt")]) == 2
        (line,) = err_lines(capsys)
        assert line.startswith(f"sonotype: error: {tmp_path / 'bad.pt'}: unusable checkpoint: {cause}"), line


def test_wrong_shape_message_is_complete(ck, tmp_path, capsys):
    d = torch.load(ck, weights_only=True)
    key = next(k for k, v in d["state"].items() if v.ndim == 3)
    d["state"][key] = d["state"][key][:1]  # a conv layer with one filter too few
    torch.save(d, tmp_path / "shape.pt")
    sf.write(tmp_path / "a.wav", noise(1.0), SR)
    assert main(["classify", str(tmp_path / "a.wav"), "--model", str(tmp_path / "shape.pt"), "--backend", "torch"]) == 2
    (line,) = err_lines(capsys)
    assert "weights do not fit 'slim': " in line and not line.endswith(":") and "shape" in line.split("fit 'slim': ")[1]


# --------------------------------------------------------------------------- row 13: stdin closed in --stream
def test_stream_with_stdin_closed(ck, monkeypatch, capsys):
    import sys
    monkeypatch.setattr(sys, "stdin", None)
    assert main(["segment", "--stream", "-", "--model", str(ck)]) == 2
    assert err_lines(capsys) == ["sonotype: error: standard input is closed; --stream reads raw PCM from it"]


# --------------------------------------------------------------------------- rows 14-16: what index searches
def test_index_search_reports_what_it_leaves_out(ck, tmp_path, monkeypatch, capsys):
    root = tmp_path / "arch"
    for rel in ("real/a.wav", "real/sub/b.wav", "locked/c.wav"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(root / rel, noise(0.5), SR)
    sf.write(root / "d.opus", noise(0.5), SR, format="OGG", subtype="OPUS")
    (tmp_path / "outside").mkdir()
    sf.write(tmp_path / "outside" / "e.wav", noise(0.5), SR)
    (root / "linked").symlink_to(tmp_path / "outside")          # followed
    (root / "real" / "sub" / "up").symlink_to(root / "real")     # a loop: searched once
    (root / "gone").symlink_to(tmp_path / "nowhere")             # reported
    os.mkfifo(root / "pipe.wav")                                 # reported, never opened
    real_scandir = os.scandir

    def locked(path):  # root reads any folder: simulate one without permission
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)
    monkeypatch.setattr(os, "scandir", locked)
    out = tmp_path / "o.jsonl"
    assert main(["index", str(root), "--out", str(out), "--model", str(ck)]) == 1
    monkeypatch.undo()
    got = sorted(os.path.relpath(json.loads(x)["path"], root) for x in out.read_text().splitlines())
    assert got == ["d.opus", "linked/e.wav", "real/a.wav", "real/sub/b.wav"]
    err = "\n".join(err_lines(capsys))
    for what in (f"{root / 'locked'}: cannot read folder (Permission denied)", f"{root / 'gone'}: broken symbolic link",
                 f"{root / 'pipe.wav'}: is a FIFO (named pipe), not a regular file; left out"):
        assert f"sonotype: warning: {what}" in err and f"  {what}" in err, err


def test_index_arguments_are_not_mistaken_for_lists(ck, tmp_path, capsys):
    sf.write(tmp_path / "a.opus", noise(0.5), SR, format="OGG", subtype="OPUS")
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01binary")
    assert main(["index", str(tmp_path / "a.opus"), "--out", str(tmp_path / "o.jsonl"), "--model", str(ck)]) == 0
    assert main(["index", str(tmp_path / "blob.bin"), "--out", str(tmp_path / "p.jsonl"), "--model", str(ck)]) == 2
    assert err_lines(capsys)[-1].startswith(f"sonotype: error: {tmp_path / 'blob.bin'}: not a list file (binary data")


# --------------------------------------------------------------------------- a checkpoint that cannot be written
def test_failed_checkpoint_write_is_one_line_and_keeps_the_old_file(tmp_path, monkeypatch):
    from sonotype.checkpoint import atomic_save
    from sonotype.cli.commands import UserError, user_errors
    path = tmp_path / "model.pt"
    atomic_save({"a": 1}, path)
    before = path.read_bytes()

    def full_disk(obj, f, *a, **k):  # what torch raises when the disk fills during a save
        Path(f).write_bytes(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0\nmore")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(UserError) as err, user_errors():
        atomic_save({"a": 2}, path)
    line = str(err.value)
    assert line.startswith(f"{path}: cannot write checkpoint (") and "\n" not in line, line
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
