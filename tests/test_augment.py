"""Training-time augmentation: each transform does what it says, deterministically."""
import numpy as np
import pytest

from sonotype.data.augment import AugmentParams, augment, mix_at_snr, reencode, reverb, telephone

SR = 16000


def sig(seed=0, seconds=1.0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    return (0.2 * np.sin(2 * np.pi * 300 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


def test_mix_at_snr_hits_the_snr():
    y, n = sig(0), np.random.default_rng(1).standard_normal(5000).astype(np.float32)
    z = mix_at_snr(y, n, 10.0)
    added = z - y
    assert 10 * np.log10(np.mean(y**2) / np.mean(added**2)) == pytest.approx(10.0, abs=0.01)
    assert len(z) == len(y)


def test_telephone_removes_high_band():
    rng = np.random.default_rng(0)
    y = rng.standard_normal(SR).astype(np.float32) * 0.1
    z = telephone(y, SR)
    spec = lambda x: np.abs(np.fft.rfft(x))
    f = np.fft.rfftfreq(len(y), 1 / SR)
    hi = f > 4500
    assert spec(z)[hi].sum() < 0.01 * spec(y)[hi].sum()
    assert len(z) == len(y)


def test_reencode_and_reverb_keep_length_and_level():
    y = sig(2)
    z = reencode(y, SR, 0.1)
    assert len(z) == len(y) and not np.allclose(z, y)
    assert np.sqrt(np.mean(z**2)) == pytest.approx(np.sqrt(np.mean(y**2)), rel=0.3)
    r = reverb(y, SR, 0.5, np.random.default_rng(0))
    assert len(r) == len(y)
    assert np.sqrt(np.mean(r**2)) == pytest.approx(np.sqrt(np.mean(y**2)), rel=1e-3)


def test_augment_is_seeded_and_switchable():
    y = sig(3)
    pool = lambda rng: np.random.default_rng(int(rng.integers(100))).standard_normal(SR).astype(np.float32)
    p = AugmentParams(noise=1.0, gain=1.0, telephone=1.0, codec=1.0, reverb=1.0)
    a = augment(y, SR, "speech", p, np.random.default_rng(7), pool)
    b = augment(y, SR, "speech", p, np.random.default_rng(7), pool)
    assert np.array_equal(a, b) and not np.allclose(a, y)
    off = AugmentParams(noise=0, gain=0, telephone=0, codec=0, reverb=0)
    assert np.array_equal(augment(y, SR, "speech", off, np.random.default_rng(7), pool), y)
    assert AugmentParams.from_dict(p.to_dict()) == p
