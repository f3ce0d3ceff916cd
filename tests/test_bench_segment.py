"""Segmentation benchmark (quick mode), the exactness of the fast paths, and benchmarks/peers.py."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from sonotype.bench.segment import GROUPS, STAGES, bench_segment, synthetic_blocks
from sonotype.cli.main import main
from sonotype.features import MFCC, FeatureParams, extract, power_spectrogram
from sonotype.infer import DecoderConfig, Segmenter
from sonotype.models import SwishNet
from sonotype.preprocess import PreprocessParams, equalise_loudness
from sonotype.train import save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

SR = 16000
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ck(tmp_path_factory):
    """Untrained slim SwishNet standardised on the synthetic audio, so its outputs vary."""
    torch.manual_seed(0)
    model = SwishNet(20, 3)
    with torch.no_grad():
        model.head.weight.mul_(30)
    F = extract(equalise_loudness(np.concatenate(list(synthetic_blocks(23.0, seed=5)))), MFCC)
    path = tmp_path_factory.mktemp("ck") / "tiny.pt"
    save_checkpoint(path, arch="slim", kwargs={"n_in": 20, "n_classes": 3}, model=model, features=MFCC,
                    prep=PreprocessParams(), classes=["speech", "music", "noise"], clip=1.0,
                    mean=F.mean(1), std=F.std(1))
    return str(path)


def test_synthetic_blocks_length_and_content():
    blocks = list(synthetic_blocks(7.3, seed=2, block_seconds=2.0))
    y = np.concatenate(blocks)
    assert len(y) == int(round(7.3 * SR)) and all(len(b) <= 2 * SR for b in blocks)
    assert y.dtype == np.float32 and np.abs(y).max() <= 1.0 and np.abs(y).max() > 0.01


@pytest.mark.parametrize("fmt", ["flac", "ogg"])
def test_bench_segment_quick(ck, fmt):
    r = bench_segment(synthetic_hours=4.0 / 3600, model=ck, threads=1, fmt=fmt)
    assert r["audio_s"] == pytest.approx(4.0, abs=0.01)
    assert r["x_realtime"] > 0 and r["x_realtime_cpu"] > 0 and r["wall_s"] > 0
    assert set(r["breakdown"]) == set(STAGES) and set(r["groups"]) == set(GROUPS)
    assert all(v >= 0 for v in r["breakdown"].values())
    assert r["breakdown"]["decode"] > 0 and r["breakdown"]["stft"] > 0 and r["breakdown"]["network"] > 0
    assert sum(r["groups"].values()) == pytest.approx(sum(r["breakdown"].values()))
    assert r["threads"] == 1 and r["frames"] == 400
    assert {"cpu", "load_avg"} <= set(r["environment"])


def test_bench_needs_one_source(ck):
    with pytest.raises(ValueError):
        bench_segment(model=ck)


def test_timing_off_by_default_and_same_result(ck):
    y = np.concatenate(list(synthetic_blocks(6.0, seed=4)))
    seg = Segmenter(ck)
    assert seg.engine.timings is None
    plain = seg.segment_array(y)
    t = seg.engine.enable_timing(True)
    timed = seg.segment_array(y)
    assert np.array_equal(plain.probs, timed.probs) and t["network"] > 0
    seg.engine.enable_timing(False)
    assert seg.engine.timings is None


def test_cli_bench_segment(ck, tmp_path, capsys):
    assert main(["bench", "segment", "--synthetic-hours", str(3.0 / 3600), "--model", ck,
                 "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "× real time" in out and "network" in out
    assert (tmp_path / "b.md").is_file() and (tmp_path / "b.json").is_file()
    assert main(["bench", "segment", "--model", ck]) == 2  # neither FILE nor --synthetic-hours


# --------------------------------------------------------------------------- fast paths stay exact
def test_power_spectrogram_frame_position_independent_and_librosa():
    rng = np.random.default_rng(0)
    y = (rng.standard_normal(SR * 7) * 0.1).astype(np.float32)
    P = power_spectrogram(y)
    ref = np.abs(librosa.stft(y, n_fft=512, hop_length=160, win_length=400, center=False)) ** 2
    np.testing.assert_allclose(P, ref, rtol=1e-4, atol=1e-5 * ref.max())
    for k in (1, 3, 255, 257, 300):  # frames at other positions in the call / STFT block
        assert np.array_equal(power_spectrogram(y[160 * k:]), P[:, k:])
    for p in (MFCC, FeatureParams(kind="logmel", n_mels=64)):
        F = extract(y, p)
        assert np.array_equal(extract(y[160 * 77:160 * 700 + 352], p), F[:, 77:78 + 700 - 77])


def test_network_blocks_exact_under_any_chunking(ck, tmp_path):
    """Small network blocks so a short signal spans many: offline == file blocks == streaming."""
    y = np.concatenate(list(synthetic_blocks(23.0, seed=5)))
    seg = Segmenter(ck, window=0.1, median=5, smoothing="median")
    seg.engine.net_block = 300
    off = seg.segment_array(y)
    assert len(set(off.frame_labels.tolist())) >= 2
    sf.write(tmp_path / "a.wav", y, SR, subtype="FLOAT")
    seg2 = Segmenter(ck, window=0.1, median=5, block_seconds=1.37, smoothing="median")
    seg2.engine.net_block = 300
    blk = seg2.segment(tmp_path / "a.wav")
    assert np.array_equal(off.probs, blk.probs) and np.array_equal(off.frame_labels, blk.frame_labels)
    st = seg.streaming()
    st.net_block = 300
    assert st.eager and not seg.engine.eager
    rng = np.random.default_rng(1)
    parts, i = [], 0
    while i < len(y):
        k = int(rng.choice([1, 160, 999, 4000, 40000]))
        parts.append(st.push_arrays(y[i:i + k]))
        i += k
    parts.append(st.flush_arrays())
    probs = np.concatenate([p[3] for p in parts])
    codes = np.concatenate([p[1] for p in parts])
    assert np.array_equal(probs, off.probs) and np.array_equal(codes, off.frame_labels)


# --------------------------------------------------------------------------- peers.py
def _peers():
    spec = importlib.util.spec_from_file_location("peers", ROOT / "benchmarks" / "peers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_peers_frame_accuracy_hand_made():
    peers = _peers()
    true = np.array(["speech", "speech", "music", "silence", "noise", "speech", "silence", "music"], dtype=object)
    pred = np.array([True, False, False, True, True, True, False, False, True])  # one extra frame: cut
    a = peers.frame_accuracy(true, pred, exclude_silence=True)
    # frames 0,1,2,4,5,7: correct 0,2,5,7 -> 4 of 6
    assert a["frames"] == 6 and a["correct"] == 4 and a["accuracy"] == pytest.approx(4 / 6)
    assert a["speech_recall"] == pytest.approx(2 / 3) and a["nonspeech_recall"] == pytest.approx(2 / 3)
    b = peers.frame_accuracy(true, pred, exclude_silence=False)
    # silence frames as non-speech: frame 3 wrong (speech said), frame 6 right
    assert b["frames"] == 8 and b["correct"] == 5
    pooled = peers.pool([a, b])
    assert pooled["frames"] == 14 and pooled["accuracy"] == pytest.approx(9 / 14)
    again = peers.pool([peers.pool([a]), peers.pool([b, a])])   # pooled results pool again (segment_cv's folds)
    assert again == peers.pool([a, b, a])


def test_peers_window_and_span_mapping():
    peers = _peers()
    # 30 ms windows: frame t looks at window (t * 160) // 480
    got = peers.frames_from_windows([True, False, True], 480, 10)
    assert got.tolist() == [True, True, True, False, False, False, True, True, True, True]
    spans = [{"start": 320, "end": 800}, {"start": 1500, "end": 1601}]
    assert peers.frames_from_spans(spans, 12).tolist() == [False, False, True, True, True, False,
                                                             False, False, False, False, True, False]


def test_peers_run_on_tiny_corpus(ck, tmp_path):
    peers = _peers()
    y = np.concatenate(list(synthetic_blocks(6.0, seed=6)))
    sf.write(tmp_path / "f0.wav", y, SR, subtype="PCM_16")
    (tmp_path / "f0.csv").write_text("start,end,label\n0,2,speech\n2,3,silence\n3,6,music\n")
    (tmp_path / "index.csv").write_text("name,audio,truth,duration,segments\nf0,f0.wav,f0.csv,6.0,3\n")
    res = peers.run(tmp_path, models=[ck], silero_probs=False, smoothings=("viterbi", "median"))
    names = [m["method"] for m in res["methods"]]
    assert names[0].startswith("sonotype") and "(viterbi)" in names[0] and "(median)" in names[1]
    for m in res["methods"]:
        assert 0 <= m["no_silence"]["accuracy"] <= 1 and m["no_silence"]["frames"] == 500
        assert m["with_silence"]["frames"] == 600
        st = m["standard"]   # pyannote.metrics on speech / non-speech, every method
        assert 0 <= st["detection_error_rate"] and 0 <= st["boundary_precision"] <= 1 and 0 < st["purity"] <= 1
    assert res["methods"][0]["x_realtime"] > 0
    text = peers.table_markdown(res)
    assert "sonotype" in text
    for pkg, present in (("silero-vad", any("silero" in n for n in names)),
                         ("webrtcvad", any("webrtc" in n for n in names))):
        assert present or pkg in res["missing"]


def test_tune_decoder_on_tiny_corpus(ck, tmp_path):
    spec = importlib.util.spec_from_file_location("tune_decoder", ROOT / "benchmarks" / "tune_decoder.py")
    tune = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tune)
    y = np.concatenate(list(synthetic_blocks(6.0, seed=6)))
    sf.write(tmp_path / "f0.wav", y, SR, subtype="PCM_16")
    (tmp_path / "f0.csv").write_text("start,end,label\n0,2,speech\n2,3,silence\n3,6,music\n")
    (tmp_path / "index.csv").write_text("name,audio,truth,duration,segments\nf0,f0.wav,f0.csv,6.0,3\n")
    out = tmp_path / "tune.json"
    assert tune.main(["--data", str(tmp_path), "--model", ck, "--window", "0.5", "--switch-penalty", "1,5", "--noise-prior", "0",
                      "--speech", "0.2", "--other", "0.5,1", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert [r["smoothing"] for r in res["grid"]] == ["median"] + ["viterbi"] * 4
    assert res["best"]["accuracy"] == max(r["accuracy"] for r in res["grid"] if r["smoothing"] == "viterbi")
    cfg = DecoderConfig.from_json(out)
    assert cfg.window == 0.5 and cfg.switch_penalty == res["best"]["switch_penalty"]
    assert dict(cfg.min_duration)["speech"] == 0.2
    # a speech prior grid, the best point by speech vs non-speech
    assert tune.main(["--data", str(tmp_path), "--model", ck, "--window", "0.5", "--switch-penalty", "5", "--noise-prior",
                      "0", "--speech-prior", "0,3", "--speech", "0.2", "--other", "0.5", "--objective", "speech_accuracy",
                      "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    vit = [r for r in res["grid"] if r["smoothing"] == "viterbi"]
    assert [r["speech_prior"] for r in vit] == [0.0, 3.0]
    assert res["best"]["speech_accuracy"] == max(r["speech_accuracy"] for r in vit)
    assert dict(DecoderConfig.from_json(out).log_prior).get("speech", 0.0) == res["best"]["speech_prior"]


def _tiny_cv(ck, tmp_path):
    """A two-fold CV folder (the same checkpoint as each fold's model) and its fold corpora."""
    import shutil
    y = np.concatenate(list(synthetic_blocks(6.0, seed=6)))
    for f in ("fold0", "fold1"):
        (tmp_path / "cv" / f).mkdir(parents=True)
        shutil.copy(ck, tmp_path / "cv" / f / "model.pt")
        d = tmp_path / "data" / f
        d.mkdir(parents=True)
        sf.write(d / "f0.wav", y, SR, subtype="PCM_16")
        (d / "f0.csv").write_text("start,end,label\n0,2,speech\n2,3,silence\n3,6,music\n")
        (d / "index.csv").write_text("name,audio,truth,duration,segments\nf0,f0.wav,f0.csv,6.0,3\n")
    return tmp_path / "cv", tmp_path / "data"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tune_decoder_by_source_fold_cv(ck, tmp_path):
    tune = _load("tune_decoder")
    cv, data = _tiny_cv(ck, tmp_path)
    out = tmp_path / "tune.json"
    assert tune.main(["--cv", str(cv), "--data", str(data), "--window", "0.5", "--switch-penalty", "5",
                      "--speech", "0.2", "--other", "0.5", "--noise-prior", "0,-0.5", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["files"] == 2 and [Path(m).parent.name for m, _ in res["pairs"]] == ["fold0", "fold1"]
    with pytest.raises(SystemExit, match="no fold"):
        tune.cv_pairs(cv, tmp_path / "nowhere")


def test_segment_cv_pools_the_folds(ck, tmp_path):
    seg_cv = _load("segment_cv")
    cv, data = _tiny_cv(ck, tmp_path)
    res = seg_cv.run(cv, "unused:corpus", data, n=1, vads=False)   # fold corpora exist: nothing is drawn
    assert [f["fold"] for f in res["folds"]] == ["fold0", "fold1"]
    # the same model on the same file in both folds: pooled scores equal each fold's, frames add up
    assert res["pooled"]["frames"] == sum(f["frames"] for f in res["folds"])
    assert res["pooled"]["accuracy"] == pytest.approx(res["folds"][0]["accuracy"])
    s = seg_cv.confusion_scores([[8, 1, 0, 1], [2, 6, 0, 0], [0, 0, 2, 0]], ["speech", "music", "noise"])
    assert s["accuracy"] == pytest.approx(16 / 20) and s["speech_accuracy"] == pytest.approx((8 + 6 + 2) / 20)
    assert s["speech_to_silence"] == pytest.approx(0.1)
    assert "pooled" in seg_cv.table(res)


def test_segment_oracle_labels_whole_segments(ck, tmp_path):
    oracle = _load("segment_oracle")
    classes = ["speech", "music", "noise"]
    true = np.array(["speech"] * 4 + ["silence"] * 2 + ["music"] * 4, dtype=object)
    # frames 0-3: speech by the mean log-probability though frame 1 alone says music; frame 3 silent
    probs = np.array([[.6, .3, .1], [.3, .6, .1], [.7, .2, .1], [.1, .1, .8],
                      [.3, .3, .4], [.3, .3, .4], [.2, .7, .1], [.2, .7, .1], [.5, .4, .1], [.2, .7, .1]])
    silent = np.zeros(10, bool)
    silent[[3, 4, 5]] = True
    decoded = np.array(["music"] * 3 + ["silence"] * 3 + ["speech"] * 4, dtype=object)
    out = oracle.oracle_labels(true, probs, silent, decoded, classes)
    assert list(out) == ["speech"] * 3 + ["silence"] * 3 + ["music"] * 4   # silent frames keep their decoded label
    cv, data = _tiny_cv(ck, tmp_path)
    res_path = tmp_path / "oracle.json"
    assert oracle.main(["--cv", str(cv), "--data", str(data), "--out", str(res_path)]) == 0
    res = json.loads(res_path.read_text())
    pooled = res["pooled"]
    assert pooled["frames"] == 2 * 500   # 5 s of speech and music, 10 ms frames, in each of two folds
    assert set(pooled["recall"]) == set(classes)
    for way in oracle.WAYS:
        assert 0 <= pooled[way] <= 100
    with pytest.raises(SystemExit, match="no fold"):
        oracle.main(["--cv", str(cv), "--data", str(tmp_path / "nowhere")])
