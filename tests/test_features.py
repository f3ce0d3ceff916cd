"""sonotype.features: MFCC / log-mel / STFT against librosa, deltas, streaming, FeatureParams."""
from __future__ import annotations

import librosa
import numpy as np
import pytest

from sonotype.audio import load, stream
from sonotype.features import (LOGMEL, MFCC, MFCC_DELTAS, STFT, FeatureParams, FeatureStream, add_deltas,
                               extract, log_mel, mfcc, stft_magnitude)

SR = 16000
KW = dict(n_fft=512, hop_length=160, win_length=400, center=False)


@pytest.fixture
def y(signals):
    rng = np.random.default_rng(1)
    return (signals.speech_like(1.5, SR) + 0.01 * rng.standard_normal(int(1.5 * SR))).astype(np.float32)


def _ref_mfcc_from_S(y, n_mels=32, n_mfcc=20):
    M = librosa.feature.melspectrogram(y=y, sr=SR, n_mels=n_mels, **KW)
    return librosa.feature.mfcc(S=librosa.power_to_db(M, top_db=None), n_mfcc=n_mfcc)


def test_mfcc_equals_librosa_from_S(y):
    C = mfcc(y)
    ref = _ref_mfcc_from_S(y)
    assert C.dtype == np.float32
    assert C.shape == (20, 1 + (len(y) - 512) // 160) == ref.shape
    np.testing.assert_allclose(C, ref, atol=1e-3, rtol=1e-4)
    np.testing.assert_allclose(extract(y, MFCC), C)


def test_mfcc_close_to_librosa_from_y_with_small_dynamic_range(signals):
    rng = np.random.default_rng(3)
    y = (signals.music_like(1.0, SR) + 0.05 * rng.standard_normal(SR)).astype(np.float32)
    C = mfcc(y)
    ref = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=20, n_mels=32, **KW)  # top_db=80 clipping
    M = librosa.feature.melspectrogram(y=y, sr=SR, n_mels=32, **KW)
    assert 10 * np.log10(M.max() / M.min()) < 80  # clipping inactive
    np.testing.assert_allclose(C, ref, atol=1e-2, rtol=1e-3)


@pytest.mark.parametrize("n", [0, 1, 511, 512, 513, 671, 672, 673, 16000, 16001])
def test_n_frames_formula(n):
    y = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.1
    expected = 0 if n < 512 else 1 + (n - 512) // 160
    assert MFCC.n_frames(n) == expected
    assert mfcc(y).shape == (20, expected)
    assert log_mel(y).shape == (64, expected)
    assert stft_magnitude(y).shape == (257, 0 if n < 512 else 1 + (n - 512) // 256)
    assert extract(y, MFCC_DELTAS).shape == (60, expected)


@pytest.mark.parametrize("deltas", [1, 2])
def test_deltas_equal_librosa(y, deltas):
    D = mfcc(y, deltas=deltas)
    C = mfcc(y)
    assert D.shape == (20 * (1 + deltas), C.shape[1])
    np.testing.assert_array_equal(D[:20], C)
    np.testing.assert_allclose(D[20:40], librosa.feature.delta(C, width=9, order=1, mode="nearest"), atol=1e-4)
    if deltas == 2:
        np.testing.assert_allclose(D[40:], librosa.feature.delta(C, width=9, order=2, mode="nearest"), atol=1e-4)
    np.testing.assert_allclose(add_deltas(C, deltas), D)
    assert FeatureParams(deltas=deltas).n_channels == 20 * (1 + deltas)


def test_log_mel_64_bands(y):
    L = log_mel(y, n_mels=64)
    ref = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=SR, n_mels=64, **KW), top_db=None)
    assert L.shape == (64, 1 + (len(y) - 512) // 160)
    np.testing.assert_allclose(L, ref, atol=1e-3, rtol=1e-4)
    np.testing.assert_allclose(extract(y, LOGMEL), L)
    # no top_db clipping: a silent stretch goes far below max - 80 dB
    z = np.concatenate([y, np.zeros(4000, np.float32)])
    Lz = log_mel(z)
    assert Lz.max() - Lz.min() > 80


def test_stft_magnitude_equals_librosa(signals):
    y = signals.music_like(1.0, 11025, seed=4)
    S = stft_magnitude(y, n_fft=512, hop_length=256)
    ref = np.abs(librosa.stft(y, n_fft=512, hop_length=256, center=False))
    assert S.shape == (257, 1 + (len(y) - 512) // 256) == ref.shape
    np.testing.assert_allclose(S, ref, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(extract(y, STFT), S)
    assert STFT.n_channels == 257


def test_feature_input_validation():
    with pytest.raises(ValueError):
        mfcc(np.zeros((2, 1000), np.float32))
    bad = np.zeros(1000, np.float32)
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        log_mel(bad)


@pytest.mark.parametrize("params", [MFCC, LOGMEL, STFT, FeatureParams(kind="logmel", n_mels=40, hop_length=100)],
                         ids=["mfcc", "logmel", "stft", "logmel40"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_feature_stream_random_chunks_equals_extract(signals, params, seed):
    rng = np.random.default_rng(seed)
    y = signals.speech_like(2.0, params.sr, seed=seed)
    whole = extract(y, params)
    fs = FeatureStream(params)
    out, i = [], 0
    while i < len(y):
        n = int(rng.choice([0, 1, 7, 100, 159, 161, 511, 512, 1000, 3333]))
        F = fs.push(y[i:i + n])
        assert F.shape[0] == params.n_channels
        out.append(F)
        i += n
    got = np.concatenate(out, axis=1)
    assert got.shape == whole.shape
    assert fs.frames_out == whole.shape[1]
    np.testing.assert_allclose(got, whole, atol=1e-4)


def test_feature_stream_rejects_deltas():
    with pytest.raises(ValueError, match="delta"):
        FeatureStream(MFCC_DELTAS)


def test_stream_of_file_blocks_equals_load(make_audio, signals):
    y = np.concatenate([signals.speech_like(7.0, SR, 1), signals.music_like(7.0, SR, 2),
                        signals.noise_like(6.0, SR, 3)])
    p = make_audio("long.wav", y, subtype="PCM_16")
    for params in (MFCC, LOGMEL):
        whole = extract(load(p), params)
        fs = FeatureStream(params)
        got = np.concatenate([fs.push(b) for b in stream(p, block_seconds=1.37)], axis=1)
        assert got.shape == whole.shape == (params.n_channels, params.n_frames(20 * SR))
        np.testing.assert_allclose(got, whole, atol=1e-4)


# ----------------------------------------------------------------- FeatureParams
@pytest.mark.parametrize("kwargs", [dict(kind="mel"), dict(win_length=600), dict(deltas=3), dict(deltas=-1),
                                    dict(hop_length=0), dict(sr=0), dict(n_mels=-4), dict(n_mfcc=0)])
def test_feature_params_validation(kwargs):
    with pytest.raises(ValueError):
        FeatureParams(**kwargs)


def test_feature_params_dict_roundtrip_and_key():
    for p in (MFCC, MFCC_DELTAS, LOGMEL, STFT):
        d = p.to_dict()
        assert FeatureParams.from_dict(d) == p
        assert FeatureParams.from_dict({**d, "unknown_future_field": 1}) == p
        assert FeatureParams.from_dict(dict(reversed(list(d.items())))).key() == p.key()
        assert len(p.key()) == 12
    assert len({p.key() for p in (MFCC, MFCC_DELTAS, LOGMEL, STFT)}) == 4
    assert FeatureParams().key() == MFCC.key()
    assert MFCC.with_(n_mels=40).key() != MFCC.key()
    # cache keys must not drift between releases for the same parameters
    assert MFCC.key() == "22e27d306767"
    assert MFCC.to_dict() == dict(kind="mfcc", sr=16000, n_fft=512, win_length=400, hop_length=160,
                                  n_mels=32, n_mfcc=20, deltas=0)
    assert MFCC.frame_rate == 100.0 and MFCC.n_channels == 20 and LOGMEL.n_channels == 64
