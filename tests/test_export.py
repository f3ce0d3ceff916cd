"""ONNX export (standardisation baked in, dynamic batch / time), OnnxModel and the onnx classifier backend."""
import numpy as np
import pytest
import torch

from sonotype.export import OnnxModel, cached_export, cached_raw, export_onnx, read_metadata
from sonotype.infer.runtime import RawModel
from sonotype.features import LOGMEL, MFCC, MFCC_DELTAS
from sonotype.infer import Classifier
from sonotype.models import build_model
from sonotype.models.predict import clip_proba
from sonotype.preprocess import PreprocessParams
from sonotype.checkpoint import load_checkpoint, save_checkpoint

CLASSES = ["speech", "music", "noise"]
SR = 16000


def make_checkpoint(path, arch, features, seed=0):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_model(arch) if arch != "gmm" else None
    C = features.n_channels
    mean = (20 * rng.standard_normal(C)).astype(np.float32)
    std = (10 + 30 * rng.random(C)).astype(np.float32)
    if arch == "mobilenet":  # realistic BatchNorm statistics, else the untrained logits are ~1e-14
        from sonotype.bench.models import _calibrate_batchnorm
        _calibrate_batchnorm(model, C).eval()
    if arch == "gmm":
        X = rng.standard_normal((60, C))
        model = build_model("gmm", n_components=2, max_iter=2).fit(X, np.repeat(np.arange(3), 20))
    save_checkpoint(path, arch=arch, kwargs=getattr(model, "config", {"n_components": 2, "max_iter": 2}),
                    model=model, features=features, prep=PreprocessParams(), classes=CLASSES, clip=1.0,
                    mean=mean, std=std)
    return load_checkpoint(path), mean, std


def torch_outputs(ck, raw):
    from sonotype.checkpoint import build_from_checkpoint
    m = build_from_checkpoint(ck)
    mean = np.asarray(ck["mean"])[None, :, None]
    std = np.asarray(ck["std"])[None, :, None]
    x = torch.from_numpy(((raw - mean) / std).astype(np.float32))
    with torch.no_grad():
        return m.frame_logits(x).numpy(), m(x).numpy()


@pytest.mark.parametrize("arch", ["slim", "wide"])
def test_onnx_parity_swishnet(tmp_path, arch):
    ck, mean, std = make_checkpoint(tmp_path / f"{arch}.pt", arch, MFCC)
    out = export_onnx(ck, tmp_path / f"{arch}.onnx")
    assert out.is_file() and not list(tmp_path.glob(".tmp-*"))
    om = OnnxModel(out, threads=1)
    assert om.input == "raw" and om.outputs == ["frame_logits", "clip_logits"]
    rf = build_model(arch).receptive_field
    rng = np.random.default_rng(1)
    for B in (1, 4):
        for T in (1, 7, rf - 1, 150):  # includes T < receptive field
            raw = (mean[None, :, None] + std[None, :, None] * rng.standard_normal((B, 20, T))).astype(np.float32)
            fl, cl = torch_outputs(ck, raw)
            got = om.run(raw)
            assert got["frame_logits"].shape == (B, 3, T) and got["clip_logits"].shape == (B, 3)
            np.testing.assert_allclose(got["frame_logits"], fl, atol=1e-4, rtol=0)
            np.testing.assert_allclose(got["clip_logits"], cl, atol=1e-4, rtol=0)
            np.testing.assert_allclose(om.frame_logits(raw).numpy(), fl, atol=1e-4, rtol=0)
            np.testing.assert_allclose(om(torch.from_numpy(raw)).numpy(), cl, atol=1e-4, rtol=0)


def test_onnx_metadata_and_output_choice(tmp_path):
    ck, mean, std = make_checkpoint(tmp_path / "slim.pt", "slim", MFCC)
    meta = read_metadata(export_onnx(ck, tmp_path / "a.onnx"))
    assert meta["sonotype_format"] == "sonotype-onnx/1"
    assert meta["classes"] == CLASSES and meta["arch"] == "slim"
    assert meta["features"] == MFCC.to_dict() and meta["input"] == "raw" and meta["deltas_outside"] is False
    np.testing.assert_allclose(meta["mean"], mean, rtol=1e-6)
    np.testing.assert_allclose(meta["std"], std, rtol=1e-6)
    assert meta["receptive_field"] == build_model("slim").receptive_field and meta["clip"] == 1.0

    only_clip = OnnxModel(export_onnx(ck, tmp_path / "b.onnx", frame_logits=False))
    assert only_clip.outputs == ["clip_logits"]
    raw = (mean[None, :, None] + std[None, :, None] * np.random.default_rng(0).standard_normal((2, 20, 30)))
    _, cl = torch_outputs(ck, raw.astype(np.float32))
    np.testing.assert_allclose(only_clip(raw).numpy(), cl, atol=1e-4, rtol=0)
    with pytest.raises(ValueError):
        export_onnx(ck, tmp_path / "c.onnx", frame_logits=False, clip_logits=False)


def test_onnx_snn_deltas_outside_and_mobilenet(tmp_path):
    ck, mean, std = make_checkpoint(tmp_path / "snn.pt", "snn", MFCC_DELTAS)
    om = OnnxModel(export_onnx(ck, tmp_path / "snn.onnx"))
    assert om.metadata["deltas_outside"] is True and om.clip_rule == "vote"
    raw = (mean[None, :, None] + std[None, :, None] * np.random.default_rng(0).standard_normal((2, 60, 40)))
    fl, cl = torch_outputs(ck, raw.astype(np.float32))
    np.testing.assert_allclose(om.run(raw)["frame_logits"], fl, atol=1e-4, rtol=0)

    ck, mean, std = make_checkpoint(tmp_path / "mn.pt", "mobilenet", LOGMEL)
    om = OnnxModel(export_onnx(ck, tmp_path / "mn.onnx"))
    assert om.receptive_field is None
    for T in (50, 100):
        raw = (mean[None, :, None] + std[None, :, None] * np.random.default_rng(T).standard_normal((2, 64, T)))
        fl, cl = torch_outputs(ck, raw.astype(np.float32))
        got = om.run(raw)
        assert np.abs(cl).max() > 0.01
        np.testing.assert_allclose(got["clip_logits"], cl, atol=1e-4, rtol=0)
        np.testing.assert_allclose(got["frame_logits"], fl, atol=1e-4, rtol=0)


def test_gmm_has_no_onnx_export(tmp_path):
    ck, _, _ = make_checkpoint(tmp_path / "gmm.pt", "gmm", MFCC_DELTAS)
    with pytest.raises(ValueError, match="GMM has no ONNX export"):
        export_onnx(ck, tmp_path / "gmm.onnx")
    with pytest.raises(ValueError, match="GMM has no ONNX"):
        Classifier(ck, backend="onnx")
    assert not (tmp_path / "gmm.onnx").exists()


def test_clip_proba_unchanged_on_onnx_model(tmp_path):
    ck, _, _ = make_checkpoint(tmp_path / "slim.pt", "slim", MFCC)
    om = OnnxModel(export_onnx(ck, tmp_path / "s.onnx", standardise=False))
    assert om.input == "standardised"
    from sonotype.checkpoint import build_from_checkpoint
    X = np.random.default_rng(0).standard_normal((5, 20, 100)).astype(np.float32)
    np.testing.assert_allclose(clip_proba(om, X), clip_proba(build_from_checkpoint(ck), X), atol=1e-5)
    np.testing.assert_allclose(om.clip_proba(X), clip_proba(om, X))


def test_classifier_onnx_backend_matches_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("SONOTYPE_CACHE", str(tmp_path / "cache"))
    ck, _, _ = make_checkpoint(tmp_path / "wide.pt", "wide", MFCC)
    rng = np.random.default_rng(3)
    t = np.arange(3 * SR) / SR
    y = (0.2 * rng.standard_normal(len(t)) + 0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)

    ref = Classifier(tmp_path / "wide.pt")
    onx = Classifier(tmp_path / "wide.pt", backend="onnx", threads=1)
    assert isinstance(onx.model, RawModel) and onx.backend == "onnx"  # the raw-audio graph, exported once
    cached = list((tmp_path / "cache" / "onnx").glob("*.onnx"))
    assert len(cached) == 1
    a, b = ref.classify_array(y, SR), onx.classify_array(y, SR)
    assert a.n_clips == b.n_clips > 1 and a.label == b.label
    np.testing.assert_allclose(b.clip_probs, a.clip_probs, atol=1e-4, rtol=0)

    # same checkpoint again: the cached export is reused
    mtime = cached[0].stat().st_mtime_ns
    assert cached_raw(ck) == cached[0] and cached[0].stat().st_mtime_ns == mtime
    Classifier(ck, backend="onnx")
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 1
    with pytest.raises(ValueError, match="backend"):
        Classifier(ck, backend="tensorrt")

    # the segmenter takes the onnx classifier as is
    from sonotype.infer.segment import Segmenter
    pa = Segmenter(ref, window=0.5, median=11).segment_array(y, SR).probs
    pb = Segmenter(onx, window=0.5, median=11).segment_array(y, SR).probs
    np.testing.assert_allclose(pb, pa, atol=1e-4, rtol=0)
