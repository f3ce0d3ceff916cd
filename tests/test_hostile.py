"""Hostile input and hostile environments: one test per row of docs/bad-input.md (rows named in comments)."""
import json
import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
import torch

from sonotype.cli.main import main

pytestmark = pytest.mark.usefixtures("one_thread")
SR = 16000
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "OMP_NUM_THREADS": "1"}


def noise(seconds, seed=0, sr=SR):
    return (0.2 * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


def wav(path, y=None, sr=SR):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, noise(1.0) if y is None else y, sr, subtype="PCM_16")
    return path


def err_lines(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return [x for x in err.splitlines() if x.strip()]


def cli(*args, timeout=120, **kw):
    """The CLI in a subprocess (for what must not hang or must see real pipes)."""
    return subprocess.run([sys.executable, "-m", "sonotype.cli.main", *map(str, args)], env=ENV, timeout=timeout,
                          capture_output=True, text=True, **kw)


# --------------------------------------------------------------------------- row 1: numeric options
@pytest.mark.parametrize("argv", [
    ["segment", "a.wav", "--window", "inf"], ["segment", "a.wav", "--window", "0"],
    ["segment", "a.wav", "--median", "0"], ["segment", "a.wav", "--silence-db", "nan"],
    ["classify", "a.wav", "--clip", "-1"], ["classify", "a.wav", "--clip", "nan"], ["classify", "a.wav", "--clip", "inf"],
    ["segment", "-", "--stream", "--rate", "0"], ["segment", "-", "--stream", "--rate", "-1"],
    ["index", "d", "--out", "o", "--workers", "0"], ["features", "a.wav", "--sr", "1"],
    ["train", "--corpus", "c", "--out", "o", "--temperature", "nan"], ["train", "--corpus", "c", "--out", "o", "--lr", "inf"],
    ["train", "--corpus", "c", "--out", "o", "--silence-rel-db", "0"], ["train", "--corpus", "c", "--out", "o", "--silence-rel-db", "nan"],
    ["evaluate-segments", "--model", "m", "--data", "d", "--out", "o", "--window", "1,inf"],
])
def test_numeric_options_checked_at_parser(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = err_lines(capsys)
    assert err[-1].startswith("sonotype ") and f"argument {argv[-2]}: expected" in err[-1] \
        or "temperature must be" in err[-1], err


# --------------------------------------------------------------------------- rows 2-3: outputs vs inputs
def test_no_output_over_an_input(ck, tmp_path, capsys):
    v = wav(tmp_path / "v.wav")
    before = v.read_bytes()
    assert main(["segment", str(v), "--model", str(ck), "--report", str(v)]) == 2
    assert main(["features", str(v), "-o", str(v)]) == 2
    link = tmp_path / "v-link.npy"
    link.symlink_to(v)
    assert main(["features", str(v), "-o", str(link)]) == 2  # through a link too
    assert main(["export", "--model", str(ck), "--onnx", str(ck)]) == 2
    err = err_lines(capsys)
    assert len(err) == 4 and all("output would overwrite the input" in x for x in err), err
    assert v.read_bytes() == before


def test_segment_output_folder_errors_name_the_output(ck, tmp_path, capsys):
    v = wav(tmp_path / "v.wav")
    before = v.read_bytes()
    assert main(["segment", str(v), "--model", str(ck), "-o", str(v)]) == 2  # a file where the folder should be
    blocker = tmp_path / "plain"
    blocker.write_text("x")
    assert main(["segment", str(v), "--model", str(ck), "-o", str(blocker / "sub")]) == 2  # cannot be created
    err = err_lines(capsys)
    assert len(err) == 2 and "output folder is a file" in err[0] and "cannot create the output folder" in err[1], err
    assert v.read_bytes() == before and blocker.read_text() == "x"


def test_two_inputs_never_share_an_output(ck, tmp_path, capsys):
    a, b = wav(tmp_path / "a" / "x.wav"), wav(tmp_path / "b" / "x.wav", noise(1.0, 1))
    out = tmp_path / "out"
    assert main(["segment", str(a), str(b), "--model", str(ck), "-o", str(out)]) == 2
    assert main(["segment", str(a), str(b), "--model", str(ck), "--report", str(tmp_path / "r.html")]) == 2
    err = err_lines(capsys)
    assert len(err) == 2 and all(f"output of both {a} and {b}" in x for x in err), err
    assert not out.exists() and not list(tmp_path.glob("r*.html"))
    assert main(["segment", str(a), str(a), "--model", str(ck), "-o", str(out)]) == 0  # the same file twice: fine


# --------------------------------------------------------------------------- row 4: special and linked outputs
def test_outputs_write_through_links_and_to_devices(tmp_path, capsys):
    v = wav(tmp_path / "v.wav")
    target, link = tmp_path / "t.npy", tmp_path / "l.npy"
    link.symlink_to(target)
    assert main(["features", str(v), "-o", str(link)]) == 0
    assert link.is_symlink() and np.load(target).shape[0] == 20
    assert main(["features", str(v), "-o", os.devnull]) == 0
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)  # still the device
    if os.path.exists("/dev/full"):
        assert main(["features", str(v), "-o", "/dev/full"]) == 2
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
        assert err_lines(capsys)[-1] == "sonotype: error: /dev/full: No space left on device"


# --------------------------------------------------------------------------- row 5: the umask
def test_written_files_follow_the_umask(tmp_path):
    from sonotype.atomic import write_text
    old = os.umask(0o027)
    try:
        write_text(tmp_path / "a.txt", "x")
        assert stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode) == 0o640
        os.umask(0o022)
        write_text(tmp_path / "b.txt", "x")
        assert stat.S_IMODE(os.stat(tmp_path / "b.txt").st_mode) == 0o644
        os.chmod(tmp_path / "b.txt", 0o600)
        write_text(tmp_path / "b.txt", "y")  # a replaced file keeps its mode
        assert stat.S_IMODE(os.stat(tmp_path / "b.txt").st_mode) == 0o600
    finally:
        os.umask(old)


# --------------------------------------------------------------------------- row 6: inputs that are not regular files
def test_only_regular_files_are_audio(ck, tmp_path):
    good = wav(tmp_path / "good.wav")
    os.mkfifo(tmp_path / "fifo.wav")
    (tmp_path / "loop1.wav").symlink_to(tmp_path / "loop2.wav")
    (tmp_path / "loop2.wav").symlink_to(tmp_path / "loop1.wav")
    (tmp_path / "broken.wav").symlink_to(tmp_path / "gone.wav")
    (tmp_path / "dir.wav").mkdir()
    want = {"fifo.wav": "is a FIFO (named pipe), not a regular file", "loop1.wav": "symbolic link loop",
            "broken.wav": "broken symbolic link", "dir.wav": "is a directory", "/dev/zero": "is a character device"}
    names = [str(tmp_path / n) if "/" not in n else n for n in want]
    p = cli("classify", good, *names, "--model", ck)
    assert p.returncode == 1 and f"{good}," in p.stdout
    err = p.stderr.splitlines()
    assert len(err) == len(want) + 1 and "Traceback" not in p.stderr
    for line, (name, cause) in zip(err, want.items()):
        assert line.startswith(f"sonotype: error: {names[list(want).index(name)]}: {cause}"), line
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join([str(good), *names]) + "\n")
    p = cli("index", listing, "--out", tmp_path / "o.jsonl", "--model", ck)  # never hangs on the FIFO or /dev/zero
    assert p.returncode == 1
    recs = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert "error" not in recs[0] and [c in r["error"] for r, c in zip(recs[1:], want.values())] == [True] * len(want)


# --------------------------------------------------------------------------- row 7: decoded-length guard
def test_header_claiming_hours_is_refused_before_decoding(ck, tmp_path, capsys, monkeypatch):
    bomb = tmp_path / "bomb.wav"
    sf.write(bomb, np.zeros(100_000, np.int16), 1, subtype="PCM_16")  # 200 KB claiming 27.8 h at 1 Hz
    good = wav(tmp_path / "good.wav")
    t = time.time()
    assert main(["classify", str(bomb), str(good), "--model", str(ck)]) == 1
    out, err = capsys.readouterr()
    assert "good.wav" in out and time.time() - t < 60
    assert err.splitlines()[0] == (f"sonotype: error: {bomb}: header claims 27.8 h of audio (100000 frames at 1 Hz), "
                                   "more than the limit of 24 h; set SONOTYPE_MAX_AUDIO_HOURS to raise it")
    monkeypatch.setenv("SONOTYPE_MAX_AUDIO_HOURS", str(0.5 / 3600))  # configurable: 0.5 s
    assert main(["segment", str(good), "--model", str(ck)]) == 1
    assert "more than the limit of 0.000138889 h" in capsys.readouterr().err


# --------------------------------------------------------------------------- row 8: broken pipe
def test_broken_pipe_ends_quietly(ck, tmp_path):
    files = [wav(tmp_path / f"f{k}.wav", noise(3.0, k)) for k in range(3)]
    p = subprocess.Popen([sys.executable, "-m", "sonotype.cli.main", "segment", *map(str, files), "--model", str(ck)],
                         env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.readline().startswith(b"start,end")
    p.stdout.close()  # as `| head -1` does
    _, err = p.communicate(timeout=120)
    assert p.returncode == 141 and err == b"", err


# --------------------------------------------------------------------------- row 9: workers die with the parent
def _children(pid):
    out = []
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/stat") as f:
                if d.isdigit() and int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    return out


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_index_workers_die_with_parent(ck, tmp_path):
    for k in range(4):
        wav(tmp_path / "in" / f"f{k}.wav")
    slow = ("import sys, time; import sonotype.index.run as r; "  # each file takes an hour: only a kill ends it
            "r.index_one = lambda *a, **k: time.sleep(3600); "
            "from sonotype.cli.main import main; sys.exit(main(sys.argv[1:]))")
    p = subprocess.Popen([sys.executable, "-c", slow, "index", str(tmp_path / "in"), "--out", str(tmp_path / "o"),
                          "--model", str(ck), "--workers", "2"], env=ENV, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 90
        while time.time() < deadline and len(_children(p.pid)) < 2:
            time.sleep(0.2)
        kids = _children(p.pid)
        assert len(kids) >= 2
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    deadline = time.time() + 20
    while time.time() < deadline and any(os.path.exists(f"/proc/{k}") and _state(k) != "Z" for k in kids):
        time.sleep(0.2)
    assert not any(os.path.exists(f"/proc/{k}") and _state(k) != "Z" for k in kids)


def _state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"
