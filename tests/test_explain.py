"""Deconvolution, auralisation, the index page and the feature analysis (tiny models only)."""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F

from sonotype.explain import (deconvolve, inverse_stft, complex_stft, mfcc_to_audio, parse_features,
                              parse_layers, swishnet_saliency, top_features, auralise)
from sonotype.explain.analyse import analyse, synthesise_stimuli
from sonotype.explain.deconv import DeconvError, layer_output
from sonotype.features import MFCC, STFT, extract, mfcc
from sonotype.models import MobileNetV1, MobileNetV2, SwishNet
from sonotype.models.genre_cnn import GenreCNN

SR = 11025
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if shutil.os.path.exists("/usr/bin/chromium") else None)


def clip(dur=1.0, seed=0):
    t = np.arange(int(dur * SR)) / SR
    rng = np.random.default_rng(seed)
    y = 0.5 * np.sin(2 * np.pi * 330 * t) * np.exp(-3 * (t % 0.25)) + 0.03 * rng.standard_normal(len(t))
    return y.astype(np.float32)


def identity_cnn(pool=1, n_layers=1):
    m = GenreCNN(n_classes=2, n_frames=8, channels=1, n_layers=n_layers, pool=pool, fc=2, dropout=0.0)
    with torch.no_grad():
        for c in m.convs:
            c.weight.zero_()
            c.weight[0, 0, 1, 1] = 1.0
            c.bias.zero_()
    return m.eval()


def tiny_cnn(seed=0, channels=4):
    torch.manual_seed(seed)
    return GenreCNN(n_classes=3, channels=channels, fc=8).eval()


# ----------------------------------------------------------------------------- deconvolution
def test_deconvolution_has_input_shape_every_layer():
    m = tiny_cnn()
    X = extract(clip(1.3), STFT)
    for layer in range(1, 6):
        r = deconvolve(m, X, layer, 1)
        assert tuple(r.shape) == (1, *X.shape)
        assert torch.isfinite(r).all()
    lo, acts, switches, pooled = m.forward_with_switches(torch.from_numpy(X[None]), upto=5)
    assert lo is None and len(acts) == len(switches) == len(pooled) == 5
    with pytest.raises(ValueError, match="FC layers need"):
        m(torch.from_numpy(X[None]))


def test_unpooling_places_values_at_switches():
    x = torch.tensor([[[[1., 5., 0., 2.],
                        [3., 4., 7., 1.],
                        [0., 0., 1., 0.],
                        [9., 2., 0., 3.]]]])
    p, idx = F.max_pool2d(x, 2, 2, return_indices=True)
    u = F.max_unpool2d(p, idx, 2, 2, output_size=x.shape[-2:])
    want = torch.tensor([[0., 5., 0., 0.], [0., 0., 7., 0.], [0., 0., 0., 0.], [9., 0., 0., 3.]])
    assert torch.equal(u[0, 0], want)
    # the same through a 1-map identity network with 2x2 pooling: deconvolution keeps
    # the log1p input at the max positions of each pooling window and zeros elsewhere
    m = identity_cnn(pool=2)
    mag = torch.expm1(x[0])  # the model applies log1p
    r = deconvolve(m, mag, 1, 0)[0]
    assert torch.allclose(r, want, atol=1e-5)


def test_top_features_sorted_by_mean_activation():
    m = tiny_cnn(channels=6)
    X = extract(clip(), STFT)
    h = layer_output(m, X, 2)[0].mean(dim=(1, 2))
    top = top_features(m, X, 2, 3)
    assert top == [int(i) for i in torch.argsort(h, descending=True)[:3]]


def test_deconv_errors():
    m = tiny_cnn()
    X = extract(clip(), STFT)
    with pytest.raises(DeconvError):
        deconvolve(m, X, 6, 0)
    with pytest.raises(DeconvError):
        deconvolve(m, X, 1, 99)
    with pytest.raises(DeconvError):
        deconvolve(MobileNetV2(n_classes=3, width=0.25), np.zeros((64, 32), np.float32), 1, 0)


def test_mobilenet_deconvolution_shape():
    torch.manual_seed(0)
    m = MobileNetV1(n_classes=3).eval()
    x = torch.randn(1, 64, 37)
    for layer in (1, 2, 4):
        r = deconvolve(m, x, layer, 0)
        assert tuple(r.shape) == (1, 64, 37) and torch.isfinite(r).all()


def test_swishnet_saliency_and_mfcc_inversion():
    y = clip(1.0)
    y16 = np.interp(np.arange(16000) / 16000, np.arange(len(y)) / SR, y).astype(np.float32)
    C = mfcc(y16)
    net = SwishNet().eval()
    s = swishnet_saliency(net, C, 3, 2)
    assert tuple(s.shape) == (1, *C.shape) and torch.isfinite(s).all()
    assert deconvolve(net, C, 3, 2).shape == s.shape
    z = mfcc_to_audio(C, MFCC, n_samples=len(y16), phase_from=y16)
    assert len(z) == len(y16) and np.isfinite(z).all() and np.abs(z).max() > 0
    g = mfcc_to_audio(C[:, :20], MFCC, n_iter=4)
    assert len(g) == MFCC.n_fft + 19 * MFCC.hop_length


# ----------------------------------------------------------------------------- auralisation
def test_stft_round_trip_length():
    y = clip(1.05)
    D = complex_stft(y, STFT)
    z = inverse_stft(D, STFT, len(y))
    assert len(z) == len(y)
    core = slice(STFT.n_fft, len(y) - 2 * STFT.n_fft)
    assert np.corrcoef(z[core], y[core])[0, 1] > 0.999


@pytest.mark.parametrize("mode", ["mask", "magnitude"])
def test_identity_network_auralises_back_the_input(tmp_path, mode):
    y = clip(1.5)
    res = auralise(identity_cnn(), y, SR, "1", "0", tmp_path, mode=mode, png=False)
    z, zsr = sf.read(tmp_path / res["items"][0]["wav"])
    assert zsr == SR
    assert abs(len(z) - len(y)) <= STFT.hop_length
    assert np.isfinite(z).all() and np.abs(z).max() > 0.5
    assert np.corrcoef(z, y[: len(z)])[0, 1] > 0.99


def test_auralise_writes_wavs_pngs_and_index(tmp_path):
    y = clip(1.2, seed=3)
    res = auralise(tiny_cnn(), y, 22050 // 2, "1,3", "top:2", tmp_path, title="test clip")
    assert len(res["items"]) == 4
    for it in res["items"]:
        z, _ = sf.read(tmp_path / it["wav"])
        assert np.isfinite(z).all() and np.abs(z).max() > 0
        assert abs(len(z) - len(y)) <= STFT.hop_length
        assert (tmp_path / it["png"]).stat().st_size > 1000
    page = (tmp_path / "index.html").read_text()
    for it in res["items"]:
        assert f'src="{it["wav"]}"' in page and f'src="{it["png"]}"' in page
    assert 'src="original.wav"' in page


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed")
def test_index_html_resources_load_in_chromium(tmp_path):
    out = tmp_path / "aur"
    auralise(tiny_cnn(), clip(0.8), SR, "1-2", "0", out)
    url = (out / "index.html").resolve().as_uri()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-quic", "--allow-file-access-from-files",
             "--autoplay-policy=no-user-gesture-required"]
    with tempfile.TemporaryDirectory() as prof:
        dom = subprocess.run([CHROMIUM, *flags, f"--user-data-dir={prof}", "--virtual-time-budget=10000",
                              "--dump-dom", url], capture_output=True, text=True, timeout=60, check=False).stdout
    with tempfile.TemporaryDirectory() as prof:
        subprocess.run([CHROMIUM, *flags, f"--user-data-dir={prof}", f"--screenshot={tmp_path / 'shot.png'}",
                        "--window-size=1400,900", "--virtual-time-budget=5000", url],
                       capture_output=True, timeout=60, check=False)
    m = re.search(r'data-missing="([^"]*)"', dom)
    assert m is not None, "check script did not run: " + dom[:300]
    assert m.group(1) == "", f"missing resources: {m.group(1)}"
    assert re.search(r'data-checked="(\d+)"', dom).group(1) == str(2 * 2 * 2)  # 2 rows x (original + feature) x (img + audio)
    assert (tmp_path / "shot.png").stat().st_size > 1000


def test_parse_layers_and_features():
    assert parse_layers("1-5", 5) == [1, 2, 3, 4, 5]
    assert parse_layers("1,3", 5) == [1, 3]
    assert parse_layers("all", 3) == [1, 2, 3]
    with pytest.raises(ValueError):
        parse_layers("7", 5)
    with pytest.raises(ValueError):
        parse_layers("x", 5)
    assert parse_features("top:8") == ("top", 8)
    assert parse_features("0,5,9") == ("list", [0, 5, 9])
    with pytest.raises(ValueError):
        parse_features("best")


# ----------------------------------------------------------------------------- analysis
def test_stimuli_and_analysis(tmp_path):
    n = 16384
    stim = synthesise_stimuli(SR, n, pitches={"A3": 57, "E4": 64}, timbres=("sine", "square"),
                              chords=("single", "major"), drums=("kick", "hihat"), tempi=(90, 150))
    assert len(stim) == 2 * 2 * 2 + 2 * 2
    for s in stim:
        assert len(s["audio"]) == n and np.isfinite(s["audio"]).all() and np.abs(s["audio"]).max() > 0
    res = analyse(tiny_cnn(), tmp_path, n=n, stimuli=stim)
    assert set(res["table"]) == {1, 2, 3, 4, 5}
    assert set(res["factors"]) == {"pitch", "timbre", "chord", "instrument", "tempo"}
    vals = [v for row in res["table"].values() for v in row.values() if not np.isnan(v)]
    assert vals and all(-1.0 - 1e-9 <= v <= 1.0 + 1e-9 for v in vals)
    assert (tmp_path / "analysis.md").read_text().count("\n| ") >= 5
    assert (tmp_path / "analysis.png").stat().st_size > 1000


def test_deconvolution_folds_batchnorm_and_undoes_standardisation():
    x = torch.tensor([[1., 5., 0., 2.], [3., 4., 7., 1.], [0., 0., 1., 0.], [9., 2., 0., 3.]])
    m = GenreCNN(n_classes=2, n_bins=4, n_frames=4, channels=1, n_layers=1, pool=2, fc=2, dropout=0.0,
                 in_mean=1.0, in_std=2.0, batchnorm=True)
    with torch.no_grad():
        m.convs[0].weight.zero_()
        m.convs[0].weight[0, 0, 1, 1] = 1.0
        m.convs[0].bias.zero_()
        m.bns[0].running_var.fill_(0.25)  # BN scale 2 (eps aside), shift 0
    m.eval()
    r = deconvolve(m, torch.expm1(x), 1, 0)[0]
    z = (x - 1.0) / 2.0  # what the network sees
    p, idx = F.max_pool2d(F.relu(2 * z)[None, None], 2, 2, return_indices=True)
    want = F.max_unpool2d(p, idx, 2, 2, output_size=x.shape)[0, 0] * 2 * 2.0  # BN scale folded, x in_std
    assert torch.allclose(r, want, atol=1e-3)
