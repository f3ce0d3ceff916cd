"""Viterbi decoding: exact against an expanded-state reference, min durations, fixed-lag chunking."""
from __future__ import annotations

import numpy as np
import pytest

from sonotype.infer.decode import DecoderConfig, FixedLagViterbi, decode_stretch, viterbi_codes


def reference(lp, m, penalty):
    """Plain Viterbi over the expanded left-to-right chains (state (k, d), d = 1..m_k): best score."""
    K = lp.shape[1]
    states = [(k, d) for k in range(K) for d in range(1, m[k] + 1)]
    score = {s: (lp[0, s[0]] if s[1] == 1 else -np.inf) for s in states}
    for t in range(1, len(lp)):
        new = {}
        for k, d in states:
            enter = max((score[(j, m[j])] - penalty for j in range(K) if j != k), default=-np.inf)
            best = enter if d == 1 else score[(k, d - 1)]
            if d == m[k]:
                best = max(best, score[(k, d)])
            new[(k, d)] = best + lp[t, k]
        score = new
    return max(score[(k, m[k])] for k in range(K))


def path_score(lp, codes, penalty):
    return lp[np.arange(len(codes)), codes].sum() - penalty * np.count_nonzero(np.diff(codes))


def runs(codes):
    cut = np.flatnonzero(np.diff(codes)) + 1
    return list(zip(np.r_[0, cut], np.r_[cut, len(codes)], codes[np.r_[0, cut]]))


@pytest.mark.parametrize("seed", range(6))
def test_stretch_is_exact(seed):
    rng = np.random.default_rng(seed)
    K = 3
    m = rng.integers(1, 6, K)
    lp = np.log(rng.dirichlet(np.ones(K) * 0.5, size=int(rng.integers(12, 40))))
    penalty = float(rng.uniform(0, 3))
    codes = decode_stretch(lp, m, penalty)
    assert path_score(lp, codes, penalty) == pytest.approx(reference(lp, m, penalty))
    assert all(b - a >= m[k] for a, b, k in runs(codes))


def test_too_short_stretch_has_no_path():
    lp = np.log(np.full((4, 2), 0.5))
    assert decode_stretch(lp, np.array([5, 6]), 1.0) is None
    assert decode_stretch(lp, np.array([5, 6]), 1.0, complete=False) is not None


def noisy(n=3000, seed=0, seg=100):
    rng = np.random.default_rng(seed)
    lab = np.repeat(rng.integers(0, 3, n // seg + 1), seg)[:n]
    p = rng.uniform(0, 1, (n, 3))
    p[np.arange(n), lab] += 0.6
    return p / p.sum(1, keepdims=True), lab


def test_chunking_gives_the_same_codes_and_no_fragments():
    p, lab = noisy()
    sil = np.zeros(len(p), bool)
    sil[500:540] = sil[545:560] = sil[1000:1100] = True   # 540-545: 5 frames between silences
    m = np.array([30, 100, 50])
    whole = viterbi_codes(p, sil, m, 5.0, 100, 100)
    assert (whole[sil] == 3).all() and (whole[540:545] == 3).all()     # short stretch merged into silence
    assert (whole[~sil] == lab[~sil]).mean() > (p.argmax(1) == lab)[~sil].mean() + 0.02
    assert all(b - a >= m[k] for a, b, k in runs(whole) if k < 3)
    rng = np.random.default_rng(1)
    for _ in range(3):
        dec, out, i = FixedLagViterbi(m, 5.0, 100, 100), [], 0
        while i < len(p):
            k = int(rng.choice([1, 7, 99, 250, 1000]))
            out.append(dec.push(p[i:i + k], sil[i:i + k]))
            assert dec.start + dec.delay >= i + k - 1 or len(out[-1])   # decided within the delay
            i += k
        out.append(dec.finish())
        assert np.array_equal(np.concatenate(out), whole)


def test_recording_shorter_than_every_minimum_gets_one_class():
    p = np.tile([0.1, 0.7, 0.2], (20, 1))
    assert (viterbi_codes(p, np.zeros(20, bool), [30, 40, 50], 5.0, 100, 100) == 1).all()
    sil = np.r_[np.zeros(20, bool), np.ones(30, bool)]
    p = np.vstack([p, np.tile([0.1, 0.7, 0.2], (30, 1))])
    assert (viterbi_codes(p, sil, [30, 40, 50], 5.0, 100, 100) == 3).all()   # merged into the silence


def test_recording_shorter_than_a_class_minimum_can_be_that_class():
    """0.5 s of what the model calls noise is noise, not speech, the only class whose minimum
    (0.2 s against 1 s) it reaches; between two silences the minima still hold."""
    p = np.tile([0.05, 0.05, 0.9], (50, 1))
    assert (viterbi_codes(p, np.zeros(50, bool), [20, 100, 100], 80.0, 200, 100) == 2).all()
    sil = np.r_[np.ones(30, bool), np.zeros(50, bool), np.ones(30, bool)]
    p = np.vstack([np.tile([0.05, 0.05, 0.9], (30, 1)), p, np.tile([0.05, 0.05, 0.9], (30, 1))])
    codes = viterbi_codes(p, sil, [20, 100, 100], 80.0, 200, 100)
    assert (codes[30:80] == 0).all() and (codes[sil] == 3).all()


def test_log_prior_offsets_shift_the_decision():
    # noise a little ahead of speech on every frame: decoded noise, unless the prior lowers it
    p = np.tile([0.40, 0.15, 0.45], (300, 1))
    sil = np.zeros(300, bool)
    assert (viterbi_codes(p, sil, [20, 100, 100], 80.0, 200, 100) == 2).all()
    assert (viterbi_codes(p, sil, [20, 100, 100], 80.0, 200, 100, offsets=[0.0, 0.0, -0.5]) == 0).all()
    assert (viterbi_codes(p, sil, [20, 100, 100], 80.0, 200, 100, offsets=[0.0, 0.0, 0.0]) == 2).all()
    c = DecoderConfig().with_(log_prior={"noise": -0.5, "music": 0.25})
    assert list(c.prior_offsets(["speech", "music", "noise"])) == [0.0, 0.25, -0.5]
    assert c.to_dict()["log_prior"] == {"noise": -0.5, "music": 0.25}
    assert DecoderConfig().with_(**{k: v for k, v in c.to_dict().items()}) == c
    with pytest.raises(ValueError, match="finite"):
        DecoderConfig(log_prior=(("noise", float("inf")),))


def test_config():
    c = DecoderConfig().with_(min_duration={"speech": 0.25, "music": 1.0})
    assert list(c.min_frames(["speech", "music", "other"], 100)) == [25, 100, round(100 * c.min_default)]
    with pytest.raises(ValueError):
        DecoderConfig(smoothing="mean")


def one_class_case(seed):
    """A stretch where class ``k`` leads in every frame (seed % 4 == 0: another may lead somewhere),
    starting fresh, inside ``k`` or inside another class, ending or cut by the horizon."""
    rng = np.random.default_rng(seed)
    K, n = 3, int(rng.integers(1, 60))
    m = rng.integers(1, 30, K)
    k = int(rng.integers(K))
    p = rng.dirichlet(np.ones(K), size=n)
    p[:, k] += rng.uniform(0, 1.0, n) if seed % 4 == 0 else 1.05
    lp = np.log(p / p.sum(1, keepdims=True))
    init = [None, (k, int(rng.integers(0, 40))), ((k + 1) % K, int(rng.integers(0, 40)))][seed % 3]
    return lp, m, float(rng.uniform(0.5, 20)), init, bool(seed % 2)


@pytest.mark.parametrize("seed", range(40))
def test_one_class_stretch_takes_the_short_cut_exactly(seed, monkeypatch):
    """A stretch where one class leads in every frame is decoded without the recursion: the same
    codes as the recursion, whatever the start and end."""
    import sonotype.infer.decode as dec

    lp, m, penalty, init, complete = one_class_case(seed)
    fast = decode_stretch(lp, m, penalty, init, complete)
    monkeypatch.setattr(dec, "_one_class", lambda *a: None)
    slow = decode_stretch(lp, m, penalty, init, complete)
    assert (fast is None and slow is None) or np.array_equal(fast, slow)


def test_the_short_cut_applies_to_most_of_those_cases():
    from sonotype.infer.decode import _one_class

    taken = [_one_class(lp, m, init, complete) is not None
             for lp, m, _, init, complete in map(one_class_case, range(40))]
    assert 12 <= sum(taken) < 40
