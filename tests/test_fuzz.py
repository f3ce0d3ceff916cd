"""Fuzzing the loader and the segmenter: garbage files and random valid WAVs never crash them."""
import struct

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from sonotype.audio import AudioError, load
from sonotype.infer import Segmenter

FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])


@pytest.fixture(scope="module")
def segmenter(ck):
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield Segmenter(ck, median=21)
    torch.set_num_threads(n)


def _check_loaded(y):
    assert isinstance(y, np.ndarray) and y.dtype == np.float32 and y.ndim == 1
    assert np.all(np.isfinite(y))


@FAST
@given(data=st.binary(max_size=4096), suffix=st.sampled_from([".wav", ".ogg", ".flac"]),
       prefix=st.sampled_from([b"", b"RIFF", b"RIFF\xff\xff\xff\x7fWAVEfmt ", b"OggS", b"fLaC"]))
def test_random_bytes_load_or_audio_error(tmp_path_factory, data, suffix, prefix):
    path = tmp_path_factory.mktemp("fz") / f"x{suffix}"
    path.write_bytes(prefix + data)
    try:
        y = load(path)
    except AudioError as err:
        assert str(err).startswith(str(path) + ": ") and "\n" not in str(err)
    else:
        _check_loaded(y)


# --------------------------------------------------------------------------- valid WAV headers
def wav_bytes(fmt_tag, channels, rate, bits, data: bytes) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    return (b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE"
            + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data)


@st.composite
def wavs(draw):
    kind = draw(st.sampled_from(["u8", "i16", "i24", "i32", "f32", "f64"]))
    channels = draw(st.integers(1, 6))
    rate = draw(st.one_of(st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000]), st.integers(4000, 96000)))
    frames = draw(st.integers(1, 2 * 4000))
    n = frames * channels
    if kind in ("f32", "f64"):
        special = st.floats(allow_nan=True, allow_infinity=True, width=32) | st.sampled_from(
            [0.0, -0.0, 1.0, -1.0, 1e30, -1e-30, np.nan, np.inf, -np.inf])
        rng = np.random.default_rng(draw(st.integers(0, 99)))
        vals = rng.standard_normal(n) * draw(st.sampled_from([0.0, 1e-6, 0.1, 1.0, 1e6]))
        mode = draw(st.sampled_from(["noise", "pattern", "specials"]))
        if mode == "pattern":  # a short random pattern repeated
            vals = np.resize(np.array(draw(st.lists(special, min_size=1, max_size=16)), np.float64), n)
        elif mode == "specials":  # noise with a few odd values (NaN, Inf, huge) at random places
            for x in draw(st.lists(special, min_size=1, max_size=4)):
                vals[rng.integers(0, n)] = x
        dtype = "<f4" if kind == "f32" else "<f8"
        return wav_bytes(3, channels, rate, 32 if kind == "f32" else 64, np.asarray(vals, dtype).tobytes())
    bits = {"u8": 8, "i16": 16, "i24": 24, "i32": 32}[kind]
    lo, hi = (0, 255) if bits == 8 else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    style = draw(st.sampled_from(["random", "extreme", "constant"]))
    rng = np.random.default_rng(draw(st.integers(0, 99)))
    if style == "random":
        v = rng.integers(lo, hi, n, endpoint=True)
    elif style == "extreme":
        v = rng.choice([lo, hi], n)
    else:
        v = np.full(n, draw(st.sampled_from([lo, hi, (lo + hi) // 2])))
    if bits == 24:
        raw = b"".join(int(x).to_bytes(3, "little", signed=True) for x in v)
    else:
        raw = v.astype({8: "u1", 16: "<i2", 32: "<i4"}[bits]).tobytes()
    return wav_bytes(1, channels, rate, bits, raw)


@FAST
@given(blob=wavs())
@example(blob=wav_bytes(1, 1, 44100, 8, b"\xd9"))  # found: 1 frame at 44.1 kHz is 0 samples at 16 kHz
def test_random_valid_wavs_load_then_segment(tmp_path_factory, segmenter, blob):
    path = tmp_path_factory.mktemp("fzw") / "x.wav"
    path.write_bytes(blob)
    try:
        y = load(path, sr=segmenter.sr)
    except AudioError as err:
        assert str(err).startswith(str(path) + ": ") and "\n" not in str(err)
        event(f"load: {err.problem.split(':')[0]}")
        return
    _check_loaded(y)
    try:
        r = segmenter.segment_array(y, segmenter.sr)
    except (AudioError, ValueError) as err:
        assert str(err).strip()
        event("segment: error")
        return
    event("segmented")
    assert r.duration == pytest.approx(len(y) / segmenter.sr)
    segs = r.segments
    assert segs and segs[0].start == 0 and segs[-1].end == pytest.approx(r.duration, abs=1e-9)
    assert all(a.end == b.start for a, b in zip(segs, segs[1:]))
    assert all(s.end > s.start and np.isfinite(s.confidence) for s in segs)
    assert {s.label for s in segs} <= set(r.classes)
    # the file path too (block reader) gives the same segments
    r2 = segmenter.segment(path)
    assert [(s.start, s.end, s.label) for s in r2.segments] == [(s.start, s.end, s.label) for s in segs]
