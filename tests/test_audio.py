"""sonotype.audio.io: load / stream / info / write_wav / AudioError."""
from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf

from sonotype.audio.io import AudioError, info, load, prefetch, stream, write_wav

SR = 16000
AMP = 0.5
RMS = AMP / np.sqrt(2)


def _rms(y):
    mid = y[len(y) // 8: -len(y) // 8]  # skip resampler edges
    return float(np.sqrt(np.mean(mid.astype(np.float64) ** 2)))


def _check_loaded(y, n_in, rate, rms=RMS, rel=0.03, slack=1):
    assert y.dtype == np.float32 and y.ndim == 1
    expected = n_in * SR / rate
    assert abs(len(y) - expected) <= slack, (len(y), expected)
    assert _rms(y) == pytest.approx(rms, rel=rel)


CASES = (
    [("wav", r, 1, st) for r in (8000, 22050, 44100, 48000) for st in ("PCM_U8", "PCM_16", "PCM_24", "FLOAT")]
    + [("wav", r, ch, "PCM_16") for r in (16000, 44100) for ch in (2, 6)]
    + [("flac", r, ch, st) for r, ch, st in ((8000, 1, "PCM_16"), (22050, 2, "PCM_24"), (48000, 6, "PCM_16"),
                                               (16000, 1, "PCM_24"))]
    # (6-channel Vorbis is 5.1 whose LFE channel the encoder low-passes, so a 440 Hz tone
    # loses a sixth of its level there: use 4 channels)
    + [("ogg", r, ch, "VORBIS") for r, ch in ((8000, 1), (22050, 2), (44100, 1), (48000, 4))]
    + [("au", r, ch, st) for r, ch, st in ((8000, 1, "PCM_16"), (22050, 1, "PCM_24"), (44100, 2, "FLOAT"),
                                             (48000, 6, "PCM_16"))]
)


@pytest.mark.parametrize("ext,rate,channels,subtype", CASES)
def test_load_formats_to_mono_16k(make_audio, signals, ext, rate, channels, subtype):
    n = int(1.0 * rate)
    p = make_audio(f"x.{ext}", signals.tone(1.0, rate, amp=AMP), sr=rate, channels=channels, subtype=subtype)
    i = info(p)
    assert (i.sample_rate, i.channels) == (rate, channels)
    y = load(p)
    lossy = ext == "ogg"
    _check_loaded(y, n, rate, rel=0.08 if lossy else 0.03, slack=1)
    if rate == SR and not lossy:
        raw, _ = sf.read(str(p), dtype="float32", always_2d=True)
        np.testing.assert_array_equal(y, raw.mean(axis=1, dtype=np.float32))


def test_load_mp3(make_audio, signals):
    if "MP3" not in sf.available_formats():
        pytest.skip("libsndfile here cannot write MP3")
    for rate in (22050, 44100, 48000):
        p = make_audio(f"x{rate}.mp3", signals.tone(1.0, rate, amp=AMP), sr=rate, channels=2)
        y = load(p)
        # MP3 frames are the header's (encoder delay handled by libsndfile); level is lossy
        _check_loaded(y, info(p).frames, rate, rel=0.1, slack=1)


def test_load_averages_channels(make_audio, signals):
    t = signals.tone(1.0, 44100, amp=1.0)
    x = np.stack([0.6 * t, 0.2 * t, 0.0 * t, 0.8 * t, 0.4 * t, 0.4 * t], axis=1)  # mean 0.4
    p = make_audio("six.wav", x, sr=44100, subtype="FLOAT")
    _check_loaded(load(p), 44100, 44100, rms=0.4 / np.sqrt(2), rel=0.01)
    # opposite-phase stereo cancels to silence, with a warning
    from sonotype.audio import AudioWarning
    p2 = make_audio("anti.wav", np.stack([t * 0.5, -t * 0.5], axis=1), sr=SR, subtype="FLOAT")
    with pytest.warns(AudioWarning, match="channels cancel out"):
        assert np.max(np.abs(load(p2))) < 1e-6


def test_load_keeps_rate_offset_duration(make_audio, signals):
    y0 = signals.speech_like(2.0, 22050)
    p = make_audio("s.wav", y0, sr=22050, subtype="FLOAT")
    np.testing.assert_array_equal(load(p, sr=None), y0)
    part = load(p, sr=None, offset=0.5, duration=0.25)
    np.testing.assert_array_equal(part, y0[int(0.5 * 22050): int(0.5 * 22050) + int(0.25 * 22050)])


@pytest.mark.parametrize("rate,block", [(16000, 0.1), (16000, 0.77), (8000, 0.3)])
def test_stream_without_resampling_is_exact(make_audio, signals, rate, block):
    p = make_audio("a.wav", signals.music_like(3.3, rate), sr=rate, channels=2, subtype="PCM_24")
    blocks = list(stream(p, sr=rate, block_seconds=block))
    assert len(blocks) > 1
    assert all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
    np.testing.assert_array_equal(np.concatenate(blocks), load(p, sr=rate))


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_stream_with_resampling_matches_load(make_audio, signals, rate):
    p = make_audio("a.wav", signals.speech_like(3.0, rate), sr=rate, subtype="FLOAT")
    whole = load(p)
    got = np.concatenate(list(stream(p, block_seconds=0.5)))
    assert abs(len(got) - len(whole)) <= 2
    n = min(len(got), len(whole))
    np.testing.assert_allclose(got[64:n - 64], whole[64:n - 64], atol=2e-3)
    assert np.sqrt(np.mean((got[:n] - whole[:n]) ** 2)) < 1e-3


# ---------------------------------------------------------------- bad inputs
def _bad_files(tmp_path, make_audio):
    d = tmp_path / "bad"
    d.mkdir()
    files = {"missing": (tmp_path / "nope.wav", "no such file"),
             "directory": (d, "directory")}
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    files["empty"] = (empty, "empty")
    trunc = make_audio("trunc.wav", np.zeros(1000, np.float32))
    with open(trunc, "r+b") as f:
        f.truncate(20)
    files["truncated"] = (trunc, "corrupt")
    text = tmp_path / "text.wav"
    text.write_text("this is a text file, not audio\n" * 20)
    files["text"] = (text, "corrupt")
    zero = make_audio("zero.wav", np.zeros(0, np.float32))
    files["zero-frames"] = (zero, "no audio samples")
    y = np.full(2000, 0.1, np.float32)
    y[1500] = np.nan
    files["nan"] = (make_audio("nan.wav", y, subtype="FLOAT"), "NaN")
    return files


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "truncated", "text", "zero-frames", "nan"])
def test_bad_inputs_raise_audio_error(tmp_path, make_audio, case):
    path, word = _bad_files(tmp_path, make_audio)[case]
    for fn in (load, lambda p: list(stream(p, block_seconds=0.05))):
        with pytest.raises(AudioError) as ei:
            fn(path)
        msg = str(ei.value)
        assert msg.startswith(str(path) + ": "), msg
        assert word.lower() in msg.lower(), msg
        assert "\n" not in msg
        assert ei.value.path == str(path)
    if case not in ("zero-frames", "nan"):
        with pytest.raises(AudioError, match="^" + str(path).replace(".", r"\.")):
            info(path)


def test_nan_late_in_stream_raises(make_audio):
    y = np.full(16000 * 3, 0.1, np.float32)
    y[-10] = np.inf
    p = make_audio("late.wav", y, subtype="FLOAT")
    it = stream(p, block_seconds=0.5)
    assert next(it).size > 0  # early blocks are fine
    with pytest.raises(AudioError, match="NaN or Inf"):
        list(it)


# ---------------------------------------------------------------- write_wav
def test_write_wav_roundtrip_and_atomic(tmp_path, signals):
    y = signals.speech_like(0.7, SR)
    out = write_wav(tmp_path / "sub" / "o.wav", y, SR, subtype="FLOAT")
    assert out == tmp_path / "sub" / "o.wav"
    assert os.listdir(tmp_path / "sub") == ["o.wav"]
    np.testing.assert_array_equal(load(out, sr=None), y)
    i = info(out)
    assert (i.sample_rate, i.channels, i.subtype) == (SR, 1, "FLOAT")
    # overwrite in place, stereo PCM_16
    write_wav(out, np.stack([y, y], 1), 22050)
    assert os.listdir(tmp_path / "sub") == ["o.wav"]
    assert info(out).channels == 2 and info(out).sample_rate == 22050
    np.testing.assert_allclose(load(out, sr=None), y, atol=1 / 32768 * 1.01)


def test_write_wav_failure_leaves_old_file_and_no_temp(tmp_path, signals):
    y = signals.tone(0.2, SR)
    out = write_wav(tmp_path / "o.wav", y, SR)
    before = out.read_bytes()
    with pytest.raises(Exception):
        write_wav(out, y, SR, subtype="NOT_A_SUBTYPE")
    assert os.listdir(tmp_path) == ["o.wav"]
    assert out.read_bytes() == before


def test_prefetch_keeps_items_errors_and_stops_its_thread(make_audio, signals):
    """prefetch gives stream's blocks in order; an error of the source comes where its item would
    have; a consumer that stops early leaves no thread behind and the source closed."""
    import threading

    path = make_audio("a.wav", signals.music_like(2.0, 16000), sr=16000)
    want = list(stream(path, block_seconds=0.3))
    got = list(prefetch(stream(path, block_seconds=0.3)))
    assert len(got) == len(want) > 2 and all(np.array_equal(a, b) for a, b in zip(got, want))

    def failing():
        yield 1
        yield 2
        raise AudioError("x.wav", "cannot decode audio: corrupt")

    seen = []
    with pytest.raises(AudioError, match="x.wav: cannot decode audio: corrupt"):
        for item in prefetch(failing()):
            seen.append(item)
    assert seen == [1, 2]

    closed = []

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.append(True)

    items = prefetch(endless(), depth=2)
    assert next(items) == 0 and next(items) == 1
    items.close()
    assert closed == [True]
    assert not [t for t in threading.enumerate() if t.name == "sonotype-prefetch"]
