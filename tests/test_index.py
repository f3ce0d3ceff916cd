"""``sonotype index``: kill and resume, shards, determinism, workers, input discovery."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf

from sonotype.cli.main import main
from sonotype.index import IndexFailure, find_inputs, index, parse_shard, take_shard

pytestmark = pytest.mark.usefixtures("one_thread")

SR = 16000
N = 12


def _wav(path, k):
    rng = np.random.default_rng(k)
    n = int((1.0 + 0.5 * (k % 4)) * SR)
    t = np.arange(n) / SR
    y = 0.3 * np.sin(2 * np.pi * (150 + 40 * k) * t) + 0.05 * rng.standard_normal(n)
    y[n // 3: n // 3 + SR // 2] = 0  # some silence
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y.astype(np.float32), SR, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """12 files in nested folders, one of them not audio, plus a text file that is ignored."""
    root = tmp_path_factory.mktemp("archive")
    for k in range(N):
        if k == 2:
            (root / "b" / "broken.wav").parent.mkdir(parents=True, exist_ok=True)
            (root / "b" / "broken.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEnot really")
        else:
            _wav(root / "abc"[k % 3] / f"f{k:02d}.wav", k)
    (root / "a" / "notes.txt").write_text("not audio")
    return root


@pytest.fixture(scope="module")
def ref(archive, ck, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.jsonl"
    s = index(archive, out, model=ck)
    return out.read_bytes(), s


def _lines(b: bytes):
    return b.decode().splitlines()


def test_reference_run_content(archive, ref):
    data, s = ref
    recs = [json.loads(x) for x in _lines(data)]
    assert [r["path"] for r in recs] == find_inputs(archive) and len(recs) == N
    bad = [r for r in recs if "error" in r]
    assert len(bad) == 1 and bad[0]["path"].endswith("broken.wav") and "\n" not in bad[0]["error"]
    assert s.ok == N - 1 and list(s.failed) == [bad[0]["path"]]
    for r in recs:
        assert set(r) >= {"path", "size", "sha1", "model", "settings"} and "elapsed" not in r
        assert r["model"]["name"] == "tiny.pt" and len(r["model"]["sha1"]) == 40
        if "error" in r:
            continue
        assert r["size"] == os.path.getsize(r["path"]) and len(r["sha1"]) == 40
        segs = r["segments"]
        assert segs[0][0] == 0 and segs[-1][1] == r["duration"]
        assert all(a[1] == b[0] for a, b in zip(segs, segs[1:]))
        assert sum(r["totals"].values()) == pytest.approx(r["duration"], abs=0.01)
        assert r["totals"]["silence"] >= 0.4
    assert s.hours()["silence"] > 0


def test_determinism_two_runs_identical(archive, ck, ref, tmp_path):
    index(archive, tmp_path / "again.jsonl", model=ck)
    assert (tmp_path / "again.jsonl").read_bytes() == ref[0]


def test_shards_union_equals_unsharded(archive, ck, ref, tmp_path):
    parts = []
    for i in (1, 2, 3):
        assert main(["index", str(archive), "--out", str(tmp_path / f"s{i}.jsonl"), "--model", str(ck),
                     "--shard", f"{i}/3"]) in (0, 1)
        parts.append(_lines((tmp_path / f"s{i}.jsonl").read_bytes()))
    assert sorted(len(p) for p in parts) == [4, 4, 4]
    union = [x for p in parts for x in p]
    assert set(union) == set(_lines(ref[0])) and len(union) == N
    by_path = lambda lines: sorted(lines, key=lambda x: json.loads(x)["path"])
    assert by_path(union) == by_path(_lines(ref[0]))


def test_workers_2_equals_workers_1(archive, ck, ref, tmp_path):
    index(archive, tmp_path / "w2.jsonl", model=ck, workers=2)
    assert (tmp_path / "w2.jsonl").read_bytes() == ref[0]


def test_kill_and_resume_equals_uninterrupted(ck, tmp_path):
    """SIGKILL a running index (blocked on the 6th file), then --resume."""
    files = [_wav(tmp_path / "in" / f"g{k:02d}.wav", k) for k in range(N)]
    files[1].write_bytes(b"not audio at all")  # a failure before the kill: retried on resume
    fifo = files[5]
    listing = tmp_path / "list.txt"
    listing.write_text("# archive\n" + "".join(f"in/{f.name}\n" for f in files) + "\n")
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    block = ("import sys, time; import sonotype.index.run as r; real = r.hash_file; "  # g05 blocks until killed
             "r.hash_file = lambda p: time.sleep(3600) if p.endswith('g05.wav') else real(p); "
             "from sonotype.cli.main import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", block, "index", str(listing), "--out", str(out),
                             "--model", str(ck)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            if out.exists() and out.read_bytes().count(b"\n") >= 5:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()
        assert out.read_bytes().count(b"\n") == 5
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    with open(out, "ab") as f:  # as if the kill had torn the next line
        f.write(b'{"path": "in/g05.wav", "size": 12')
    fifo.unlink()
    _wav(fifo, 5)
    assert main(["index", str(listing), "--out", str(out), "--model", str(ck)]) == 2  # no --resume: refused
    assert main(["index", str(listing), "--out", str(out), "--model", str(ck), "--resume"]) == 1
    full = tmp_path / "full.jsonl"
    assert main(["index", str(listing), "--out", str(full), "--model", str(ck)]) == 1
    assert out.read_bytes() == full.read_bytes()
    # a second resume has nothing to do and changes nothing but retrying the failure
    assert main(["index", str(listing), "--out", str(out), "--model", str(ck), "--resume"]) == 1
    assert out.read_bytes() == full.read_bytes()


def test_resume_reindexes_changed_file_and_refuses_other_settings(archive, ck, tmp_path, capsys):
    src = tmp_path / "src"
    for k in range(3):
        _wav(src / f"x{k}.wav", k)
    out = tmp_path / "o.jsonl"
    assert main(["index", str(src), "--out", str(out), "--model", str(ck)]) == 0
    _wav(src / "x1.wav", 7)  # content changed
    assert main(["index", str(src), "--out", str(out), "--model", str(ck), "--resume"]) == 0
    recs = [json.loads(x) for x in _lines(out.read_bytes())]
    assert [r["path"] for r in recs] == find_inputs(src)
    full = tmp_path / "full.jsonl"
    index(src, full, model=ck)
    assert out.read_bytes() == full.read_bytes()
    capsys.readouterr()
    assert main(["index", str(src), "--out", str(out), "--model", str(ck), "--resume", "--window", "2"]) == 2
    err = capsys.readouterr().err
    assert "other settings" in err and len(err.strip().splitlines()) == 1


def test_timings_summary_and_progress(archive, ck, tmp_path, capsys):
    out = tmp_path / "t.jsonl"
    assert main(["index", str(archive), "--out", str(out), "--model", str(ck), "--timings", "--shard", "1/4"]) == 1
    recs = [json.loads(x) for x in _lines(out.read_bytes())]
    assert all(r["elapsed"] >= 0 for r in recs)
    err = capsys.readouterr().err
    assert "3 files: 2 ok, 1 failed" in err and "broken.wav" in err and "hours per class" in err


def test_inputs_and_shard_parsing(archive, tmp_path):
    files = find_inputs(archive)
    assert files == sorted(files) and len(files) == N and not any(f.endswith(".txt") for f in files)
    assert find_inputs([archive, archive]) == files
    assert take_shard(list(range(7)), (2, 3)) == [1, 4] and take_shard([1, 2], None) == [1, 2]
    assert parse_shard("3/16") == (3, 16) and parse_shard(None) is None
    for bad in ("0/3", "4/3", "x", "1/2/3"):
        with pytest.raises(IndexFailure):
            parse_shard(bad)
    with pytest.raises(IndexFailure, match="no such folder"):
        find_inputs(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexFailure, match="no audio files"):
        index(tmp_path / "empty", tmp_path / "o.jsonl", model="x")


def test_decoder_options_reach_every_worker_and_the_settings(archive, ck, tmp_path, capsys):
    """--smoothing and --prior are segment's; every line records the whole decoder; workers use it;
    a resume with another decoder is refused."""
    from sonotype.infer import Classifier, DecoderConfig, Segmenter

    opts = ["--smoothing", "median", "--prior", "none", "--median", "51"]
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert main(["index", str(archive), "--out", str(one), "--model", str(ck), *opts]) == 1  # broken.wav
    assert main(["index", str(archive), "--out", str(two), "--model", str(ck), "--workers", "2", *opts]) == 1
    assert one.read_bytes() == two.read_bytes()
    recs = [json.loads(x) for x in _lines(one.read_bytes())]
    settings = recs[0]["settings"]
    assert settings["smoothing"] == "median" and settings["median"] == 51 and settings["log_prior"] == {}
    assert settings["switch_penalty"] == DecoderConfig().switch_penalty and settings["silence_db"] == -50.0
    seg = Segmenter(Classifier(ck), smoothing="median", median=51, decoder=DecoderConfig().with_(log_prior=()))
    rec = next(r for r in recs if "error" not in r)
    want = [[round(s.start, 3), round(s.end, 3), s.label] for s in seg.segment(rec["path"]).segments]
    assert [s[:3] for s in rec["segments"]] == want
    index(archive, tmp_path / "d.jsonl", model=ck)
    default = json.loads(_lines((tmp_path / "d.jsonl").read_bytes())[0])["settings"]
    assert default == {**DecoderConfig().to_dict(), "silence_db": -50.0}  # segment's defaults
    capsys.readouterr()
    assert main(["index", str(archive), "--out", str(one), "--model", str(ck), "--resume", "--smoothing", "median",
                 "--median", "51"]) == 2  # the default prior now: another decoder
    err = capsys.readouterr().err
    assert "other settings" in err and len(err.strip().splitlines()) == 1
    for bad, says in (("nosie=-1", "no class nosie"), ("noise", "expected CLASS=NATS")):
        assert main(["index", str(archive), "--out", str(tmp_path / "x.jsonl"), "--model", str(ck),
                     "--prior", bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith("sonotype: error: --prior") and says in err and "Traceback" not in err
        assert not (tmp_path / "x.jsonl").exists() or not (tmp_path / "x.jsonl").read_bytes()
