"""sonotype.preprocess: silence mask / removal, loudness equalisation, Log-MMSE, the chain."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from sonotype.preprocess.core import (PreprocessParams, apply, block_rms_db, equalise_loudness, logmmse_denoise,
                                      remove_silence, silence_mask)

SR = 16000


def _db(x):
    return 10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-20)


def _sine_at(dbfs, n, freq=300.0):
    amp = np.sqrt(2) * 10 ** (dbfs / 20)
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / SR)).astype(np.float32)


def test_silence_mask_flags_quiet_not_loud():
    loud, quiet = _sine_at(-10, SR), _sine_at(-70, SR // 2)
    y = np.concatenate([loud, np.zeros(SR // 2, np.float32), quiet, loud])
    m = silence_mask(y, SR, threshold_db=-50)
    assert m.dtype == bool and len(m) == 1 + (len(y) - 400) // 160
    starts = np.arange(len(m)) * 160
    inside = lambda a, b: (starts >= a) & (starts + 400 <= b)  # noqa: E731
    assert not m[inside(0, SR)].any()
    assert m[inside(SR, SR + SR // 2)].all()          # digital zeros
    assert m[inside(SR + SR // 2, 2 * SR)].all()      # -70 dBFS
    assert not m[inside(2 * SR, 3 * SR)].any()
    assert not silence_mask(y, SR, threshold_db=-80)[inside(SR + SR // 2, 2 * SR)].any()


def test_remove_silence_drops_silent_middle(signals):
    a, b = signals.noise_like(1.0, SR, 1), signals.noise_like(1.0, SR, 2)  # no pauses inside
    y = np.concatenate([a, np.zeros(int(1.2 * SR), np.float32), b])
    out = remove_silence(y, SR, threshold_db=-50, window=0.05)
    assert out.dtype == np.float32
    assert abs((len(y) - len(out)) - 1.2 * SR) <= 0.05 * SR
    np.testing.assert_array_equal(out[:SR], y[:SR])
    loud = _sine_at(-20, SR)
    np.testing.assert_array_equal(remove_silence(loud, SR), loud)
    assert len(remove_silence(np.zeros(SR, np.float32), SR)) == 0


def test_remove_silence_relative_drops_floor_between_words():
    """Words at -10 dBFS over a -45 dBFS floor: the absolute -50 dB keeps the floor, 30 dB relative drops it."""
    word, floor = _sine_at(-10, SR // 2), _sine_at(-45, SR, freq=1000.0)
    y = np.concatenate([word, floor, word, floor, word])
    assert len(remove_silence(y, SR, -50.0)) == len(y)
    out = remove_silence(y, SR, -50.0, relative_db=30.0)
    assert abs(len(out) - 1.5 * SR) <= 0.05 * SR
    assert _db(out) > -11
    np.testing.assert_array_equal(remove_silence(floor, SR, -50.0, relative_db=30.0), floor)  # floor alone is the signal
    assert len(remove_silence(np.zeros(SR, np.float32), SR, relative_db=30.0)) == 0
    p = PreprocessParams(silence_rel_db=30.0)
    assert len(apply(y, SR, p)) == len(out) and len(apply(y, SR, PreprocessParams())) == len(y)
    assert PreprocessParams.from_dict(p.to_dict()) == p
    assert "silence_rel_db" not in PreprocessParams().to_dict()  # cache keys and checkpoints made before stay valid
    for bad in (0.0, -5.0, float("nan")):
        with pytest.raises(ValueError, match="silence_rel_db"):
            PreprocessParams(silence_rel_db=bad)


def test_equalise_loudness_targets_each_block():
    block = SR // 4
    rng = np.random.default_rng(0)
    levels = [-40, -10, -25, -33, -18, -5]
    y = np.concatenate([_sine_at(l, block, freq=200 + 100 * k) * (1 + 0.1 * rng.standard_normal(block)).astype(np.float32)
                        for k, l in enumerate(levels)])
    out = equalise_loudness(y, SR, window=0.25, target_db=-20)
    assert out.shape == y.shape and out.dtype == np.float32
    got = block_rms_db(out, block)
    np.testing.assert_allclose(got, -20, atol=0.5)
    assert np.max(np.abs(out)) <= 1.0


def test_equalise_loudness_limits_gain_on_near_silence():
    block = SR // 4
    y = np.concatenate([_sine_at(-90, block), _sine_at(-20, block)])
    out = equalise_loudness(y, SR, target_db=-20, max_gain_db=30)
    got = block_rms_db(out, block)
    assert got[0] == pytest.approx(-60, abs=0.5)   # -90 + 30 dB max gain, not -20
    assert got[1] == pytest.approx(-20, abs=0.5)
    z = equalise_loudness(np.zeros(block, np.float32), SR)
    assert np.all(z == 0) and np.all(np.isfinite(z))


def _noisy(signals, snr_db=5.0, seed=0):
    rng = np.random.default_rng(seed)
    clean = np.concatenate([np.zeros(int(0.3 * SR), np.float32), signals.speech_like(3.0, SR, seed)])
    noise = rng.standard_normal(len(clean)).astype(np.float32)
    p_sig = np.mean(clean[int(0.3 * SR):].astype(np.float64) ** 2)
    noise *= np.sqrt(p_sig / np.mean(noise.astype(np.float64) ** 2) / 10 ** (snr_db / 10))
    return clean, (clean + noise).astype(np.float32)


def _snr(clean, x):
    return 10 * np.log10(np.sum(clean.astype(np.float64) ** 2) / np.sum((x - clean).astype(np.float64) ** 2))


def test_logmmse_improves_snr_and_keeps_numpy_error_state(signals):
    clean, noisy = _noisy(signals)
    before = np.geterr()
    out = logmmse_denoise(noisy, SR)
    assert np.geterr() == before
    assert out.shape == noisy.shape and out.dtype == np.float32 and np.all(np.isfinite(out))
    gain = _snr(clean, out) - _snr(clean, noisy)
    assert gain > 3.0, gain


def test_logmmse_first_import_keeps_numpy_error_state():
    code = ("import numpy as np; from sonotype.preprocess.core import logmmse_denoise; b = np.geterr(); "
            "logmmse_denoise(np.random.default_rng(0).standard_normal(8000).astype('float32') * 0.1); "
            "assert np.geterr() == b, (b, np.geterr()); np.float64(1) / np.float64(0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_apply_chain(signals):
    a = signals.speech_like(1.0, SR, 3) * 0.05
    y = np.concatenate([a, np.zeros(SR // 2, np.float32), a])
    p = PreprocessParams()
    out = apply(y, SR, p)
    assert len(out) < len(y) - 0.4 * SR
    kept = apply(y, SR, p, keep_silence=True)
    assert len(kept) == len(y)
    assert _db(out) > _db(y) + 5   # quiet speech brought up towards -20 dBFS
    none = apply(y, SR, PreprocessParams(remove_silence=False, equalise=False))
    np.testing.assert_array_equal(none, y)
    assert PreprocessParams.from_dict({**p.to_dict(), "extra": 1}) == p
    d = apply(y, SR, PreprocessParams(denoise=True, remove_silence=False, equalise=False))
    assert len(d) == len(y) and np.all(np.isfinite(d))


@pytest.mark.parametrize("n", [0, 1, 3999, 4000, 4001, 12345])
def test_block_levels_and_gains_match_a_float64_reference(n):
    """The levels are float64 sums of the float32 samples (no float64 copy), and equalisation scales
    every block, the short last one included, by its own gain, for any length."""
    y = (np.random.default_rng(n).standard_normal(n) * 0.2 + 0.01).astype(np.float32)
    blocks = [y[i:i + 4000].astype(np.float64) for i in range(0, n, 4000)]
    want = [10 * np.log10(max(np.mean(b ** 2) - np.mean(b) ** 2, 1e-10)) for b in blocks]
    np.testing.assert_allclose(block_rms_db(y, 4000, remove_dc=True), want, rtol=0, atol=1e-4)
    out = equalise_loudness(y, 16000, window=0.25, target_db=-20, max_gain_db=30)
    assert out.dtype == np.float32 and out.shape == y.shape
    gains = np.float32(10) ** (np.clip(-20 - block_rms_db(y, 4000), -30, 30) / 20).astype(np.float32)
    want_out = np.clip(y * np.repeat(gains, 4000)[:n], -1, 1)
    np.testing.assert_allclose(out, want_out, rtol=1e-6, atol=1e-7)
