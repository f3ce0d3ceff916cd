"""Segmentation: gapless cover, silence, exactness under any chunking, streaming, memory."""
from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.ndimage import median_filter

from sonotype.features import FeatureParams, extract
from sonotype.infer import Classifier, DecoderConfig, Segmenter, StreamingSegmenter
from sonotype.infer.decode import viterbi_codes
from sonotype.infer.stream import silence_runs
from sonotype.models import GMMClassifier, MobileNetV1, SwishNet
from sonotype.preprocess import PreprocessParams, equalise_loudness, frame_rms_db
from sonotype.checkpoint import save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

from conftest import music_like, noise_like, speech_like

SR = 16000
CLASSES = ["speech", "music", "noise"]


@pytest.fixture(scope="module")
def slim_ck(tmp_path_factory):
    """Untrained slim SwishNet standardised on real-looking features, so its labels vary."""
    torch.manual_seed(7)  # a seed whose labels vary on mixture(seed=7)
    model = SwishNet(20, 3, 1)
    with torch.no_grad():
        model.head.weight.mul_(10)
    F = extract(equalise_loudness(mixture(seed=7)), FeatureParams())
    path = tmp_path_factory.mktemp("ck") / "slim.pt"
    return str(save_checkpoint(path, arch="slim", kwargs={"n_in": 20, "n_classes": 3}, model=model,
                               features=FeatureParams(), prep=PreprocessParams(), classes=CLASSES, clip=1.0,
                               mean=F.mean(1), std=F.std(1)))


@pytest.fixture(scope="module")
def gmm_ck(tmp_path_factory):
    """A tiny GMM on MFCC + Δ + ΔΔ (4 frames look-ahead in streaming)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 60))
    y = np.repeat(CLASSES, 100)
    X[y == "music"] += 0.3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gmm = GMMClassifier(n_components=2, max_iter=5).fit(X, y)
    path = tmp_path_factory.mktemp("ck") / "gmm.pt"
    return str(save_checkpoint(path, arch="gmm", kwargs={"n_components": 2, "max_iter": 5}, model=gmm,
                               features=FeatureParams(deltas=2), prep=PreprocessParams(), classes=CLASSES,
                               clip=1.0, mean=np.zeros(60), std=np.full(60, 10.0)))


def mixture(seconds=(3.0, 1.0, 2.5, 0.7, 3.0), seed=0):
    """speech, zeros, music, zeros, noise (digital silence between)."""
    kinds = [speech_like, None, music_like, None, noise_like]
    parts = [np.zeros(int(s * SR), np.float32) if k is None else k(s, SR, seed + i)
             for i, (k, s) in enumerate(zip(kinds, seconds))]
    return np.concatenate(parts)


def test_segments_cover_file_and_silence_where_zero(slim_ck):
    y = mixture()
    r = Segmenter(slim_ck).segment_array(y)
    assert r.duration == pytest.approx(len(y) / SR)
    assert len(r.frame_labels) == -(-len(y) // 160) == len(r.probs) == len(r.confidence)
    assert r.segments[0].start == 0 and r.segments[-1].end == pytest.approx(r.duration)
    for a, b in zip(r.segments, r.segments[1:]):
        assert a.end == b.start and a.label != b.label
    assert all(s.end > s.start and 0 <= s.confidence <= 1 for s in r.segments)
    labels = r.labels
    assert set(labels) <= set(r.classes) and r.classes[-1] == "silence"
    # the 1 s of zeros at 3.0-4.0 s is silence (edges: half a 25 ms window)
    assert (labels[302:399] == "silence").all()
    assert (labels[652:717] == "silence").all()
    # loud stretches are never silence
    assert not (labels[20:280] == "silence").any()
    assert ((r.probs >= 0) & (r.probs <= 1)).all()  # per-class medians: rows need not sum to 1
    assert r.totals()["silence"] == pytest.approx(1.7, abs=0.05)


def test_matches_direct_reference(slim_ck):
    """The streaming engine equals the pipeline written out on whole arrays."""
    y = mixture(seed=3)
    seg = Segmenter(slim_ck, window=0.5, median=31, smoothing="median")
    r = seg.segment_array(y)
    clf = seg.classifier
    e = equalise_loudness(y, SR, 0.25, clf.prep.target_db, clf.prep.max_gain_db)
    n = -(-len(y) // 160)
    padded = np.concatenate([np.zeros(256, np.float32), e, np.zeros(512, np.float32)])
    X = clf.standardise(extract(padded, clf.params)[:, :n])
    with torch.no_grad():
        p = torch.softmax(clf.model.frame_logits(torch.from_numpy(X.astype(np.float32))[None])[0], 0).T.numpy()
    orig = np.concatenate([np.full(200, y[0], np.float32), y, np.full(400, y[-1], np.float32)])
    raw = frame_rms_db(orig, 400, 160, remove_dc=True)[:n] < -50
    w, h = 50, 25
    avg = np.zeros_like(p, dtype=np.float64)
    for t in range(n):
        lo, hi = max(0, t + h - w + 1), min(n - 1, t + h)
        keep = ~raw[lo:hi + 1]
        win = p[lo:hi + 1]
        avg[t] = win[keep].mean(0) if keep.any() else win.mean(0)
    med = median_filter(avg, size=(31, 1), mode="nearest")
    assert np.abs(r.probs - med).max() < 1e-4
    prior = np.exp(DecoderConfig().prior_offsets(CLASSES))   # the decoder's class prior (noise -0.5 nats)
    labels = np.where(silence_runs(raw, 20), 3, (med * prior).argmax(1))
    top2 = np.sort(med * prior, 1)[:, -2:]
    differ = labels != r.frame_labels
    assert (top2[differ, 1] - top2[differ, 0] < 1e-4).all()  # only float near-ties may differ
    assert differ.mean() < 0.01
    # Viterbi: decoded from the window means themselves (no median filter)
    cfg = DecoderConfig(window=0.5, switch_penalty=2.0, min_duration=(("speech", 0.3), ("music", 0.5)),
                        log_prior=(("speech", 0.2),))
    v = Segmenter(clf, decoder=cfg).segment_array(y)
    assert np.abs(v.probs - avg).max() < 1e-4
    want = viterbi_codes(avg, silence_runs(raw, 20), cfg.min_frames(CLASSES, 100), 2.0, 100, 100,
                         offsets=cfg.prior_offsets(CLASSES))
    assert len(set(want)) >= 3 and (want != v.frame_labels).mean() < 0.01


def test_feature_stream_is_exact():
    from sonotype.features import FeatureStream
    y = speech_like(2.0, SR)
    for p in (FeatureParams(), FeatureParams(kind="logmel", n_mels=64)):
        fs = FeatureStream(p)
        parts = [fs.push(y[i:i + 1234]) for i in range(0, len(y), 1234)]
        assert np.array_equal(np.concatenate(parts, axis=1), extract(y, p))


@pytest.mark.parametrize("prefetch", [False, True])
def test_blockwise_file_equals_whole_array(slim_ck, tmp_path, prefetch):
    """Reading a file in blocks, decoded ahead in a thread or not, gives the whole array's result."""
    y = mixture(seed=5)
    path = tmp_path / "mix.wav"
    sf.write(path, y, SR, subtype="FLOAT")
    whole = Segmenter(slim_ck).segment_array(y)
    blocks = Segmenter(slim_ck, block_seconds=1.37, prefetch=prefetch).segment(path)
    assert np.array_equal(whole.frame_labels, blocks.frame_labels)
    assert np.array_equal(whole.probs, blocks.probs)
    assert whole.segments == blocks.segments
    assert blocks.path == str(path)


@pytest.mark.parametrize("which,smoothing", [("slim_ck", "median"), ("gmm_ck", "median"),
                                             ("slim_ck", "viterbi"), ("gmm_ck", "viterbi")])
def test_streaming_equals_offline(which, smoothing, request):
    ck = request.getfixturevalue(which)
    y = mixture(seed=7)
    # no class prior: the tiny models' noise is weak, and the labels must vary for the test to mean something
    cfg = DecoderConfig(switch_penalty=1.0, min_duration=(("speech", 0.2), ("music", 0.3), ("noise", 0.25)),
                        log_prior=())
    seg = Segmenter(ck, window=0.3, median=15, smoothing=smoothing, decoder=cfg)
    offline = seg.segment_array(y)
    stream = seg.streaming()
    rng = np.random.default_rng(1)
    got, i = [], 0
    lag = stream.latency_s * SR
    while i < len(y):
        k = int(rng.choice([1, 17, 160, 999, 4000, 12345]))
        got += stream.push(y[i:i + k])
        i += k
        # latency_s bounds how far decisions trail the input
        assert len(got) >= int((min(i, len(y)) - lag) // 160)
    got += stream.flush()
    assert len({g[1] for g in got}) >= 3  # the labels vary: the comparison means something
    assert [g[0] for g in got] == list(range(len(offline.frame_labels)))
    assert [g[1] for g in got] == list(offline.labels)
    assert np.allclose([g[2] for g in got], offline.confidence)
    assert stream.flush() == []
    if smoothing == "viterbi":   # no fragments: every class segment lasts its class's minimum
        mins = dict(cfg.min_duration)
        short = [s for s in offline.segments if s.label != "silence" and s.duration < mins[s.label] - 1e-6]
        assert not short and len(offline.segments) >= 4


def test_latency_formula(slim_ck):
    s = StreamingSegmenter(slim_ck, window=1.0, median=200, smoothing="median")
    assert s.latency_s == pytest.approx((50 + 99) * 0.01 + 256 / SR + 3999 / SR)
    cfg = DecoderConfig(block=1.0, lag=1.5)   # Viterbi: no median; block + lag frames of look-ahead
    s = StreamingSegmenter(slim_ck, window=1.0, decoder=cfg)
    assert s.latency_s == pytest.approx((50 + 100 + 150) * 0.01 + 256 / SR + 3999 / SR)


def test_short_and_empty_signals(slim_ck):
    seg = Segmenter(slim_ck)
    r = seg.segment_array(np.zeros(100, np.float32))
    assert len(r.frame_labels) == 1 and r.segments[0].end == pytest.approx(100 / SR)
    assert seg.segment_array(np.zeros(0, np.float32)).segments == []
    r = seg.segment_array(noise_like(0.3, SR), sr=8000)   # resampled to 16 kHz
    assert r.duration == pytest.approx(0.6, abs=1e-3)


def test_clip_only_model_not_supported(tmp_path):
    ck = save_checkpoint(tmp_path / "mn.pt", arch="mobilenet", kwargs={"n_classes": 3}, model=MobileNetV1(n_classes=3),
                         features=FeatureParams(kind="logmel", n_mels=64), prep=PreprocessParams(), classes=CLASSES,
                         clip=1.0)
    with pytest.raises(NotImplementedError, match="not implemented"):
        Segmenter(str(ck))


def test_long_file_bounded_memory(slim_ck, tmp_path):
    """20 minutes (77 MB as float32) segmented with a Python-heap peak well under the waveform size."""
    path = tmp_path / "long.wav"
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", SR, 1, "PCM_16") as f:
        for i in range(120):
            f.write((rng.standard_normal(SR * 10) * 0.05 * (i % 3)).astype(np.float32))
    seg = Segmenter(Classifier(slim_ck), block_seconds=60)
    tracemalloc.start()
    try:
        r = seg.segment(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(r.frame_labels) == 120 * 1000
    assert peak < 64e6, f"peak {peak / 1e6:.1f} MB"
    # every third 10 s stretch is digital zero -> silence
    assert (r.labels[10 + 0:990] == "silence").all()


@pytest.fixture(scope="module")
def slim_rel_ck(slim_ck, tmp_path_factory):
    """``slim_ck`` saved as a model trained with 30 dB relative silence (``prep.silence_rel_db``)."""
    from sonotype.checkpoint import load_checkpoint
    ck = load_checkpoint(slim_ck)
    model = SwishNet(20, 3, 1)
    model.load_state_dict(ck["state"])
    path = tmp_path_factory.mktemp("ck") / "slim-rel.pt"
    return str(save_checkpoint(path, arch="slim", kwargs=ck["kwargs"], model=model, features=FeatureParams(),
                               prep=PreprocessParams(silence_rel_db=30.0), classes=CLASSES, clip=1.0,
                               mean=ck["mean"], std=ck["std"]))


def words_over_floor(seed=11):
    """Loud parts with a floor about 35 dB under them (above -50 dBFS) in the pauses."""
    def floor(seconds, k):
        x = noise_like(seconds, SR, k)
        return 0.004 * x / np.sqrt(np.mean(x ** 2))
    parts = [speech_like(2.0, SR, seed), floor(1.0, seed + 1), speech_like(1.5, SR, seed + 2), floor(0.8, seed + 3),
             music_like(2.0, SR, seed + 4), floor(0.6, seed + 5), noise_like(1.5, SR, seed + 6)]
    return np.concatenate(parts).astype(np.float32)


def test_relatively_quiet_frames_left_out_of_window_means(slim_rel_ck, slim_ck):
    """With prep.silence_rel_db, frames that far under the last 10 s's loudest are not averaged (stage 4)."""
    y = words_over_floor()
    n = -(-len(y) // 160)
    orig = np.concatenate([np.full(200, y[0], np.float32), y, np.full(400, y[-1], np.float32)])
    db = frame_rms_db(orig, 400, 160, remove_dc=True)[:n].astype(np.float64)
    ref = np.array([db[max(0, t - 999):t + 1].max() for t in range(n)])
    quiet = (db < -50) | (db < ref - 30)
    assert 0.1 < quiet.mean() < 0.5 and (quiet & (db >= -50)).any()  # quiet frames that are not raw silence
    base = Segmenter(slim_ck, window=0.5).segment_array(y)
    rel = Segmenter(slim_rel_ck, window=0.5).segment_array(y)
    # per-frame outputs p_t: the same network, so recover them from a window of one frame
    one = Segmenter(slim_ck, window=0.01, median=1, smoothing="median").segment_array(y).probs.astype(np.float64)
    w, h = 50, 25
    want = np.zeros_like(one)
    for t in range(n):
        lo, hi = max(0, t + h - w + 1), min(n - 1, t + h)
        keep = ~quiet[lo:hi + 1]
        want[t] = one[lo:hi + 1][keep].mean(0) if keep.any() else one[lo:hi + 1].mean(0)
    assert np.abs(rel.probs - want).max() < 1e-4
    assert np.abs(base.probs - want).max() > 1e-3  # without it, the floor frames count
    assert Segmenter(slim_ck).engine.rel_db is None and Segmenter(slim_rel_ck).engine.rel_db == 30.0


def test_relative_quiet_streaming_equals_offline(slim_rel_ck):
    y = np.concatenate([words_over_floor(3), words_over_floor(4)])
    seg = Segmenter(slim_rel_ck, window=0.3, decoder=DecoderConfig(switch_penalty=1.0))
    offline = seg.segment_array(y)
    stream = seg.streaming()
    rng = np.random.default_rng(2)
    got, i = [], 0
    while i < len(y):
        k = int(rng.choice([1, 17, 160, 999, 4000, 12345]))
        got += stream.push(y[i:i + k])
        i += k
    got += stream.flush()
    assert [g[1] for g in got] == list(offline.labels)
    assert np.allclose([g[2] for g in got], offline.confidence)


@pytest.mark.parametrize("which", ["slim_ck", "bundled"])
def test_streaming_runs_the_network_only_when_a_decision_needs_it(which, request):
    """Eagerly, the network runs when the next Viterbi decision needs its frames, not at every
    push: the same frames are decided at the same pushes, with far fewer network calls."""
    model = "slim" if which == "bundled" else request.getfixturevalue(which)
    y = np.concatenate([mixture(seed=7)] * 4)
    pushes = [y[i:i + 1600] for i in range(0, len(y), 1600)]  # 100 ms reads, as --stream
    runs = {}
    for lazy in (False, True):
        st = StreamingSegmenter(Classifier(model))
        if not lazy:  # the network at every push, as before
            st._frames_wanted = lambda: None
        calls = []
        if which == "bundled":
            block = st.net._block
            st.net._block = lambda *a, _b=block: calls.append(1) or _b(*a)
        else:
            logits = st.net._net.frame_logits
            st.net._net.frame_logits = lambda x, _f=logits: calls.append(1) or _f(x)
        runs[lazy] = ([st.push(p) for p in pushes] + [st.flush()], len(calls))
    (eager_out, eager_calls), (lazy_out, lazy_calls) = runs[False], runs[True]
    assert lazy_out == eager_out and sum(map(len, lazy_out)) == st.n_decided > 0
    assert lazy_calls * 4 <= eager_calls


def test_spare_buffer_matches_rolling_through_growth_and_compaction():
    """The samples buffer that copies only what is appended gives the rows the plain rolling buffer gives."""
    from sonotype.infer.smoothing import _Rolling, _Spare

    rng = np.random.default_rng(3)
    plain, spare = _Rolling((), np.float32), _Spare((), np.float32)
    for _ in range(60):
        rows = rng.standard_normal(int(rng.integers(0, 900))).astype(np.float32)
        plain.append(rows), spare.append(rows)
        cut = plain.start + int(rng.integers(0, len(plain.data) + 1))
        plain.drop_before(cut), spare.drop_before(cut)
        assert (spare.start, spare.end) == (plain.start, plain.end)
        a = plain.start + int(rng.integers(0, len(plain.data) + 1))
        assert np.array_equal(spare.get(a, plain.end), plain.get(a, plain.end))
