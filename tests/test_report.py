"""The HTML report is self-contained, and renders in headless Chromium."""

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sonotype.evaluate import report
from sonotype.evaluate.report import segment_report
from sonotype.infer.formats import segments_from_frames

CHROMIUM = Path("/usr/bin/chromium")
TITLE = "demo <script>alert(1)</script> & co"


def _signal(sr=22050, seconds=5.0):
    """Tone, quiet gap, then noise; stereo to exercise the downmix."""
    rng = np.random.default_rng(0)
    t = np.arange(int(sr * seconds)) / sr
    x = 0.3 * np.sin(2 * np.pi * 220 * t) * (t < 2)
    x += 0.005 * rng.standard_normal(len(t)) * ((t >= 2) & (t < 3))
    x += 0.2 * rng.standard_normal(len(t)) * (t >= 3)
    return np.stack([x, x], axis=1), sr


def _build(path):
    audio, sr = _signal()
    hop = 0.01
    labels = np.array(["music"] * 200 + ["silence"] * 100 + ["noise"] * 200)
    probs = np.zeros((500, 3))
    probs[:200, 1], probs[300:, 2] = 0.9, 0.8
    probs += 0.05
    segments = segments_from_frames(labels, probs.max(axis=1), hop, 5.0)
    return segment_report(path, audio, sr, segments, probs, hop, ["speech", "music", "noise"], TITLE)


@pytest.fixture
def page(tmp_path):
    return _build(tmp_path / "report.html")


def test_report_is_self_contained(page):
    text = page.read_text(encoding="utf-8")
    links = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]*)""", text, flags=re.I)
    assert links, "expected at least the audio src"
    assert not [u for u in links if u.lower().startswith(("http:", "https:", "//"))]
    assert "http://" not in text and "https://" not in text
    assert "<script>alert(1)</script>" not in text  # title escaped
    assert "demo &lt;script&gt;" in text
    match = re.search(r'<audio[^>]*src="data:(audio/\w+);base64,([^"]+)"', text)
    assert match
    data, sr = sf.read(io.BytesIO(base64.b64decode(match.group(2))))
    assert sr == 16000 and data.ndim == 1 and abs(len(data) / sr - 5.0) < 0.05


def test_wav_fallback(monkeypatch):
    real = report.sf.SoundFile

    def no_vorbis(*args, **kwargs):
        if kwargs.get("format") == "OGG":
            raise RuntimeError("no vorbis")
        return real(*args, **kwargs)

    monkeypatch.setattr(report.sf, "SoundFile", no_vorbis)
    data, mime = report.encode_audio(np.zeros(1600, dtype=np.float32))
    assert mime == "audio/wav" and data[:4] == b"RIFF"


def test_envelope_is_small():
    lo, hi = report.envelope(np.sin(np.arange(100_000) / 50.0))
    assert len(lo) == len(hi) == 2000
    assert min(lo) == pytest.approx(-1, abs=1e-3) and max(hi) == pytest.approx(1, abs=1e-3)


def _chromium(tmp_path, *args):
    profile = tmp_path / "profile"
    shutil.rmtree(profile, ignore_errors=True)
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-quic", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
def test_report_renders_in_chromium(page, tmp_path):
    url = page.resolve().as_uri()
    shot = tmp_path / "report.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,900", url)
    assert shot.exists(), "no screenshot"
    print(f"screenshot: {shot}")
    from matplotlib.image import imread

    image = imread(shot)
    assert image.shape[:2] == (900, 1200)
    assert image[..., :3].std() > 0.05  # not blank

    dom = _chromium(tmp_path, "--virtual-time-budget=2000", "--dump-dom", url).stdout
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert 'data-ready="1"' in body  # the drawing script ran to the end
    assert re.search(r'<audio[^>]*src="data:audio/', dom)
    timeline = re.search(r'<div id="timeline">(.*?)</div>\s*<div class="rowname"', dom, re.S).group(1)
    assert timeline.count("<div ") == 3  # one bar per segment


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
def test_cursor_follows_seek(page, tmp_path):
    # seek from a script, as a click would, and read the cursor position back
    seek = page.with_name("seek.html")
    text = page.read_text(encoding="utf-8")
    seek.write_text(text.replace("</body>", "<script>player.currentTime = 2.5;</script></body>"),
                    encoding="utf-8")
    dom = _chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", seek.as_uri()).stdout
    assert re.search(r'<div id="cursor" style="left: 50%;?"', dom)
    assert re.search(r'<tr data-start="2.000" class="now">', dom)  # silence row highlighted
