"""Raw-audio ONNX models: the front end inside the graph matches sonotype.features, and the
core (onnxruntime) path gives the torch path's labels with probabilities within 1e-4."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sonotype.audio import load
from sonotype.checkpoint import bundled_path, load_checkpoint
from sonotype.data import Item
from sonotype.data.synth import synth_segments
from sonotype.export.onnx import checkpoint_digest
from sonotype.export.raw import export_raw
from sonotype.features import add_deltas, extract
from sonotype.infer import Classifier, Segmenter
from sonotype.infer.runtime import RawModel, RawModelError
from sonotype.preprocess import apply

from conftest import SIGNALS, write_audio

SR = 16000
EXAMPLE = str(bundled_path("wide").parents[1] / "example.ogg")
# the stated tolerance of the in-graph front end against sonotype.features (float32 DFT by
# matrix product against scipy's float64 FFT), absolute, on MFCC values that span about ±400-570:
# measured 0.0011 / 0.0001 on the example, at most 0.012 / 0.0014 (a chirp, whose mel bands far
# from the tone sit 100 dB down, where the graph's float32 rounding shows); 0.0026 and 0.034 when
# the torch path's FFT was float32
TOL_STATIC, TOL_DELTA = 0.02, 0.002
# probabilities: the 1e-4, on the example and on real recordings (100 synth files of the test
# split: at most 9e-5, benchmarks/agree_backends.py) since the torch path's FFT is float64: the rest is the
# graph's float32 DFT. The generated tones of SYNTH below, with bins 100 dB under the tone, reach 1.3e-4
# (window-averaged frame probabilities; 1.9e-5 for classify). Labels must be identical.
PROB_TOL = 1e-4
SYNTH_PROB_TOL = 2.5e-4


def synthetic():
    """Synthetic test signals (1.5-3 s): the conftest generators, a chirp, clicks, a near-silence."""
    rng = np.random.default_rng(5)
    t = np.arange(3 * SR) / SR
    out = {name: gen(2.0, SR, 3) for name, gen in SIGNALS.items()}
    out["chirp"] = (0.5 * np.sin(2 * np.pi * (100 + 2500 * t) * t)).astype(np.float32)
    clicks = np.zeros(int(1.5 * SR), np.float32)
    clicks[::1234] = 0.9
    out["clicks"] = clicks
    out["quiet"] = (rng.standard_normal(2 * SR) * 1e-4).astype(np.float32)
    return out


def reference(y, params):
    """sonotype.features: static features, then Δ / ΔΔ, as the torch path computes them."""
    static = params.with_(deltas=0) if params.kind == "mfcc" else params
    F = extract(y, static)
    return add_deltas(F, params.deltas) if params.kind == "mfcc" else F


def graph_features(model, y):
    n = 1 + (len(y) - 512) // 160
    return model.run(y[None], np.arange(n))[2][0]


@pytest.fixture(scope="module")
def wide():
    return RawModel(bundled_path("wide", ".onnx"))


def check_close(got, want):
    assert got.shape == want.shape
    assert np.abs(got[:20] - want[:20]).max() <= TOL_STATIC
    assert np.abs(got[20:] - want[20:]).max() <= TOL_DELTA


def test_front_end_matches_features_on_the_example(wide):
    clf = Classifier("wide")
    y = apply(load(EXAMPLE, sr=SR), SR, clf.prep)
    check_close(graph_features(wide, y), reference(y, clf.params))


@pytest.mark.parametrize("name", list(synthetic()))
def test_front_end_matches_features_on_synthetic_signals(wide, name):
    y = synthetic()[name]
    check_close(graph_features(wide, y), reference(y, Classifier("wide").params))


def test_frame_index_picks_and_holds_frames(wide):
    y = synthetic()["music"]
    F = graph_features(wide, y)
    n = F.shape[1]
    looped = wide.run(y[None], np.arange(2 * n) % n)[2][0]
    assert np.allclose(looped[:20, :n], F[:20]) and np.allclose(looped[:20, n:], F[:20])
    held = wide.run(y[None], np.minimum(np.arange(n + 5), n - 1))[2][0]
    assert np.allclose(held[:20, n:], F[:20, -1:])


@pytest.mark.parametrize("name", ["wide", "slim"])
def test_bundled_onnx_is_the_bundled_checkpoint(name):
    meta = RawModel(bundled_path(name, ".onnx")).metadata
    ck = load_checkpoint(bundled_path(name))
    assert meta["source_sha1"] == checkpoint_digest(ck, raw=True)  # rebuild both together
    assert meta["classes"] == ck["classes"] and meta["features"] == ck["features"] and meta["prep"] == ck["prep"]
    assert meta["sample_rate"] == 16000 and meta["frame_hop"] == 160 and meta["receptive_field"] > 0
    assert meta["latency_s"] == pytest.approx(512 / 16000) and meta["delta_context"] == 4


@pytest.mark.parametrize("name", ["wide", "slim"])
def test_classify_labels_and_probs_match_torch(name, tmp_path):
    files = [EXAMPLE]
    for k, (sig, y) in enumerate(synthetic().items()):
        files.append(str(write_audio(tmp_path / f"{k}-{sig}.wav", y, SR, subtype="FLOAT")))
    files.append(str(write_audio(tmp_path / "short.wav", SIGNALS["speech"](0.6, SR, 1), SR, subtype="FLOAT")))
    core, torch_ = Classifier(name), Classifier(name, backend="torch")
    assert core.backend == "onnx" and torch_.backend == "torch"
    for f in files:
        a, b = core.classify(f), torch_.classify(f)
        assert a.label == b.label and a.n_clips == b.n_clips, f
        assert a.clip_probs.shape == b.clip_probs.shape
        assert np.all(np.abs(a.clip_probs - b.clip_probs) <= PROB_TOL), f
    labels = {core.classify(f).label for f in files}
    assert "silence" in labels and labels - {"silence"}  # both kinds of result (a class, silence) were compared


@pytest.fixture(scope="module")
def synth_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw-items")
    items = []
    for label, gen in SIGNALS.items():
        for k in range(2):
            path = write_audio(root / f"{label}{k}.wav", gen(4.0, SR, 10 + k), SR, subtype="FLOAT")
            items.append(Item(str(path), label, f"{label}{k}"))
    out = tmp_path_factory.mktemp("raw-synth")
    synth_segments(items, out, n=4, seed=2, min_len=6, max_len=12, progress=False,
                   mean_len={"speech": 2, "music": 2, "noise": 1, "silence": 0.4})
    return sorted(out.glob("synth-*.wav"))


@pytest.mark.parametrize("smoothing", ["viterbi", "median"])
def test_segment_labels_and_probs_match_torch(synth_corpus, smoothing):
    core = Segmenter(Classifier("wide"), smoothing=smoothing)
    torch_ = Segmenter(Classifier("wide", backend="torch"), smoothing=smoothing)
    for f in [EXAMPLE, *synth_corpus]:
        a, b = core.segment(f), torch_.segment(f)
        assert np.array_equal(a.frame_labels, b.frame_labels), f
        assert np.abs(a.probs - b.probs).max() <= (PROB_TOL if f == EXAMPLE else SYNTH_PROB_TOL), f
        assert [(s.start, s.end, s.label) for s in a.segments] == [(s.start, s.end, s.label) for s in b.segments]


def test_export_writes_what_is_bundled(tmp_path):
    out = export_raw("slim", tmp_path / "slim.onnx")
    mine, shipped = RawModel(out), RawModel(bundled_path("slim", ".onnx"))
    y = synthetic()["noise"]
    idx = np.arange(50)
    assert np.array_equal(mine.run(y[None], idx)[1], shipped.run(y[None], idx)[1])
    assert json.dumps(mine.metadata, sort_keys=True) == json.dumps(shipped.metadata, sort_keys=True)


def test_a_foreign_onnx_file_is_one_line(tmp_path):
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(RawModelError, match=r"x.onnx: not a readable ONNX model"):
        RawModel(bad)
    with pytest.raises(RawModelError, match="model not found"):
        RawModel(tmp_path / "missing.onnx")


def test_factored_dft_is_the_same_spectrum():
    """The factored DFT (export --dft factored) computes the direct DFT's power spectrum: the same
    bins once its slot order is undone, to float32 rounding."""
    import torch

    from sonotype.export.dft import factored_dft
    from sonotype.export.frontend import FrontEnd
    from sonotype.features.params import MFCC_DELTAS

    y = synthetic()["music"][None].astype(np.float32)
    direct, factored = FrontEnd(MFCC_DELTAS), FrontEnd(MFCC_DELTAS, dft="factored")
    with torch.no_grad():
        want = direct.power(torch.from_numpy(y))[0].double().numpy()
        got = factored.power(torch.from_numpy(y))[0].double().numpy()
    bins = factored_dft(MFCC_DELTAS)["bins"].reshape(-1)
    assert sorted(bins[bins >= 0]) == list(range(257))  # every bin once
    assert got.shape[1] == want.shape[1]
    np.testing.assert_allclose(got[bins >= 0][np.argsort(bins[bins >= 0])], want, rtol=0, atol=1e-5 * want.max())
    assert np.all(got[bins < 0] == 0)  # unused slots: nothing
    with pytest.raises(ValueError, match="gcd"):
        FrontEnd(MFCC_DELTAS.with_(hop_length=161), dft="factored")


def test_folded_dft_is_the_same_spectrum():
    """The folded DFT (the bundled graphs' front end) gives the direct DFT's power spectrum and mel
    bands to float32 rounding, for any length (frames at the end of a block included); a window
    not symmetric about the frame's centre has none, and export falls back to the direct DFT."""
    import torch

    from sonotype.export.dft import default_dft, folded_dft
    from sonotype.export.frontend import FrontEnd
    from sonotype.features.params import MFCC_DELTAS

    direct, folded = FrontEnd(MFCC_DELTAS), FrontEnd(MFCC_DELTAS, dft="folded")
    music = synthetic()["music"]
    for n in (512, 512 + 159, 512 + 160, len(music)):
        y = torch.from_numpy(music[None, :n].astype(np.float32))
        with torch.no_grad():
            want, got = direct.power(y)[0].double().numpy(), folded.power(y)[0].double().numpy()
            mel_want, mel_got = direct.mel_power(y).double().numpy(), folded.mel_power(y).double().numpy()
        assert got.shape == want.shape == (257, 1 + (n - 512) // 160)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * want.max())
        np.testing.assert_allclose(mel_got, mel_want, rtol=0, atol=1e-5 * mel_want.max())
    odd = MFCC_DELTAS.with_(n_fft=511)  # 400-sample window in 511: not centred
    assert folded_dft(odd) is None and default_dft(odd) == "direct" and default_dft(MFCC_DELTAS) == "folded"
    with pytest.raises(ValueError, match="symmetric"):
        FrontEnd(odd, dft="folded")


def test_factored_export_labels_and_metadata(tmp_path):
    out = export_raw("slim", tmp_path / "slim-fast.onnx", dft="factored")
    fast, shipped = RawModel(out), RawModel(bundled_path("slim", ".onnx"))
    assert fast.metadata["dft"] == "factored" and shipped.metadata["dft"] == "folded"
    for name, y in synthetic().items():
        idx = np.arange(1 + (len(y) - 512) // 160)
        a, b = fast.run(y[None], idx), shipped.run(y[None], idx)
        assert np.array_equal(a[0].argmax(1), b[0].argmax(1)), name
        # raw frame probabilities of generated tones (bins 100 dB under the tone): measured 1.6e-3 at most
        assert np.abs(a[0] - b[0]).max() <= 5e-3, name


def test_export_dft_option_is_for_raw_graphs(tmp_path, capsys):
    from sonotype.cli.main import main

    assert main(["export", "--model", "slim", "--onnx", str(tmp_path / "f.onnx"), "--input", "features",
                 "--dft", "factored"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--dft" in err[0] and not (tmp_path / "f.onnx").exists()
    assert main(["export", "--model", "slim", "--onnx", str(tmp_path / "r.onnx"), "--dft", "factored"]) == 0
    assert RawModel(tmp_path / "r.onnx").metadata["dft"] == "factored"
    assert main(["export", "--model", "slim", "--onnx", str(tmp_path / "d.onnx")]) == 0
    assert RawModel(tmp_path / "d.onnx").metadata["dft"] == "folded"  # the default
