"""A self-contained HTML page to look at and listen to one segmentation.

The page holds everything inline (no network): the audio as base64 OGG
Vorbis (16-bit WAV if OGG encoding fails), a min/max waveform envelope, the
label timeline, class probabilities, a legend with per-label totals and a
table of segments. A cursor follows the player over all plots; clicking a
plot or a table row seeks.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path

import numpy as np
import soundfile as sf

from ..audio import resample
from .colours import label_colour

REPORT_SR = 16000
MAX_POINTS = 2000
BLOCK = 65536

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{TITLE}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 16px 24px; color: #222; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; }
.summary { color: #666; margin-bottom: 10px; }
audio { width: 100%; margin: 6px 0 10px; }
#plots { position: relative; cursor: pointer; user-select: none; }
#plots canvas { display: block; width: 100%; }
#wave { height: 110px; background: #f7f7f7; }
#timeline { position: relative; height: 34px; margin: 4px 0; background: #eee; }
#timeline div { position: absolute; top: 0; bottom: 0; }
#probs { height: 120px; background: #fafafa; }
#axis { height: 20px; }
#cursor { position: absolute; top: 0; bottom: 0; width: 2px; left: 0;
          background: #d62728; pointer-events: none; }
.rowname { font-size: 12px; color: #666; margin-top: 6px; }
.legend { margin: 10px 0; }
.legend .item { margin-right: 18px; white-space: nowrap; }
.sw { display: inline-block; width: 12px; height: 12px; margin-right: 5px;
      vertical-align: -1px; border-radius: 2px; }
table { border-collapse: collapse; font-size: 13px; margin-top: 8px; }
th, td { padding: 2px 10px; border-bottom: 1px solid #ddd; text-align: right; }
td:nth-child(5) { text-align: left; }
tbody tr { cursor: pointer; }
tbody tr:hover { background: #f0f4ff; }
tr.now { background: #fff3c4; }
</style>
</head>
<body>
<h1>{{TITLE}}</h1>
<div class="summary">{{SUMMARY}}</div>
<audio id="player" controls preload="auto" src="{{AUDIO}}"></audio>
<div id="plots">
  <div class="rowname">waveform</div>
  <canvas id="wave"></canvas>
  <div class="rowname">labels</div>
  <div id="timeline"></div>
  <div class="rowname" id="probs-name">class probabilities</div>
  <canvas id="probs"></canvas>
  <canvas id="axis"></canvas>
  <div id="cursor"></div>
</div>
<div class="legend">{{LEGEND}}</div>
<table>
<thead><tr><th>#</th><th>start (s)</th><th>end (s)</th><th>length (s)</th><th>label</th><th>confidence</th></tr></thead>
<tbody id="rows">
{{ROWS}}
</tbody>
</table>
<script>
"use strict";
const DATA = {{DATA}};
const player = document.getElementById("player");
const plots = document.getElementById("plots");
const cursor = document.getElementById("cursor");
const rows = Array.from(document.querySelectorAll("#rows tr"));

function fit(canvas) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  canvas.height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return [ctx, canvas.clientWidth, canvas.clientHeight];
}

function drawWave() {
  const [ctx, w, h] = fit(document.getElementById("wave"));
  const lo = DATA.wave.min, hi = DATA.wave.max, n = lo.length;
  let peak = 1e-9;
  for (let i = 0; i < n; i++) peak = Math.max(peak, -lo[i], hi[i]);
  const mid = h / 2, scale = (h / 2 - 2) / peak;
  ctx.fillStyle = "#4a5a70";
  for (let i = 0; i < n; i++) {
    const x = (i / n) * w, top = mid - hi[i] * scale, bottom = mid - lo[i] * scale;
    ctx.fillRect(x, top, Math.max(1, w / n), Math.max(1, bottom - top));
  }
}

function drawTimeline() {
  const box = document.getElementById("timeline");
  box.innerHTML = "";
  for (const [start, end, label] of DATA.segments) {
    const div = document.createElement("div");
    div.style.left = (100 * start / DATA.duration) + "%";
    div.style.width = (100 * (end - start) / DATA.duration) + "%";
    div.style.background = DATA.colours[label] || "#999";
    div.title = label + " " + start.toFixed(2) + "\u2013" + end.toFixed(2) + " s";
    box.appendChild(div);
  }
}

function drawProbs() {
  const canvas = document.getElementById("probs");
  if (!DATA.probs) {
    canvas.style.display = "none";
    document.getElementById("probs-name").style.display = "none";
    return;
  }
  const [ctx, w, h] = fit(canvas);
  const t = DATA.probs.t;
  ctx.strokeStyle = "#ddd";
  ctx.beginPath(); ctx.moveTo(0, h / 2); ctx.lineTo(w, h / 2); ctx.stroke();
  DATA.probs.values.forEach((curve, k) => {
    ctx.strokeStyle = DATA.probs.colours[k];
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    curve.forEach((p, i) => {
      const x = (t[i] / DATA.duration) * w, y = h - 2 - p * (h - 4);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = DATA.probs.colours[k];
    ctx.font = "11px sans-serif";
    ctx.fillText(DATA.probs.names[k], w - 60, 14 + 13 * k);
  });
}

function drawAxis() {
  const [ctx, w, h] = fit(document.getElementById("axis"));
  const d = DATA.duration;
  const steps = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600];
  const step = steps.find(s => d / s <= 12) || 7200;
  ctx.fillStyle = "#555"; ctx.font = "11px sans-serif"; ctx.textAlign = "center";
  for (let s = 0; s <= d + 1e-9; s += step) {
    const x = (s / d) * w;
    ctx.fillRect(x, 0, 1, 5);
    ctx.fillText(s.toFixed(step < 1 ? 1 : 0) + " s", Math.min(Math.max(x, 14), w - 14), 16);
  }
}

function drawAll() {
  drawWave(); drawTimeline(); drawProbs(); drawAxis(); moveCursor();
}

function moveCursor() {
  const t = player.currentTime || 0;
  cursor.style.left = (100 * Math.min(t, DATA.duration) / DATA.duration) + "%";
  rows.forEach((row, i) => {
    const s = DATA.segments[i];
    row.classList.toggle("now", !!s && t >= s[0] && t < s[1]);
  });
}

function follow() {
  moveCursor();
  if (!player.paused) requestAnimationFrame(follow);
}

plots.addEventListener("click", (event) => {
  const box = plots.getBoundingClientRect();
  const frac = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
  player.currentTime = frac * DATA.duration;
  moveCursor();
});
rows.forEach(row => row.addEventListener("click", () => {
  player.currentTime = parseFloat(row.dataset.start);
  moveCursor();
}));
player.addEventListener("timeupdate", moveCursor);
player.addEventListener("seeked", moveCursor);
player.addEventListener("play", () => requestAnimationFrame(follow));
player.addEventListener("loadedmetadata", () =>
  document.body.setAttribute("data-audio-duration", player.duration.toFixed(2)));
window.addEventListener("resize", drawAll);
drawAll();
document.body.setAttribute("data-ready", "1");
</script>
</body>
</html>
"""


def _mono_16k(audio, sr):
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 2:  # average the channel axis (the shorter one)
        x = x.mean(axis=int(np.argmin(x.shape)))
    if sr != REPORT_SR:
        x = resample(x.astype(np.float32), int(sr), REPORT_SR)
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def encode_audio(x, sr=REPORT_SR):
    """Encode mono audio for a data URI.

    Writes OGG Vorbis in blocks (libsndfile can crash on one long Vorbis
    write) and falls back to 16-bit WAV.

    Returns
    -------
    (bytes, str)
        Encoded file and its MIME type.
    """
    try:
        buf = io.BytesIO()
        with sf.SoundFile(buf, "w", sr, 1, format="OGG", subtype="VORBIS") as f:
            for i in range(0, len(x), BLOCK):
                f.write(x[i:i + BLOCK])
        data = buf.getvalue()
        if data:
            return data, "audio/ogg"
    except Exception:  # any libsndfile failure: use WAV instead
        pass
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue(), "audio/wav"


def _bins(n, points):
    """Edges splitting ``n`` items into at most ``points`` bins."""
    k = max(1, min(points, n))
    return np.linspace(0, n, k + 1).astype(int)


def envelope(x, points=MAX_POINTS):
    """Min and max of ``x`` over at most ``points`` equal bins."""
    if len(x) == 0:
        return [], []
    edges = _bins(len(x), points)
    lo = np.minimum.reduceat(x, edges[:-1])
    hi = np.maximum.reduceat(x, edges[:-1])
    return np.round(lo, 4).tolist(), np.round(hi, 4).tolist()


def _downsample_probs(probs, hop_s, points=MAX_POINTS):
    """Mean of each class probability over at most ``points`` bins, with bin-centre times."""
    p = np.asarray(probs, dtype=float)
    edges = _bins(len(p), points)
    means = np.add.reduceat(p, edges[:-1], axis=0) / np.diff(edges)[:, None]
    times = (edges[:-1] + edges[1:]) / 2 * hop_s
    return np.round(times, 3).tolist(), np.round(means.T, 4).tolist()


def _totals(segments, duration):
    totals = {}
    for s in segments:
        totals[s.label] = totals.get(s.label, 0.0) + (s.end - s.start)
    return [{"label": k, "seconds": round(v, 3), "percent": round(100 * v / duration, 2) if duration else 0.0,
             "colour": label_colour(k)} for k, v in totals.items()]


def _script_json(data):
    # keep "</script>" and friends out of the inline script
    text = json.dumps(data, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _segment_rows(segments):
    rows = []
    for i, s in enumerate(segments):
        conf = "" if np.isnan(s.confidence) else f"{s.confidence:.3f}"
        rows.append(
            f'<tr data-start="{s.start:.3f}"><td>{i + 1}</td><td>{s.start:.3f}</td>'
            f"<td>{s.end:.3f}</td><td>{s.end - s.start:.3f}</td>"
            f'<td><span class="sw" style="background:{label_colour(s.label)}"></span>'
            f"{html.escape(s.label)}</td><td>{conf}</td></tr>")
    return "\n".join(rows)


def _payload(x, duration: float, segments, probs, hop_s: float, classes) -> dict:
    """The page's data: waveform envelope of ``x`` (16 kHz mono), segments, colours and
    downsampled class probabilities ``probs`` ``(frames, classes)`` (or None)."""
    lo, hi = envelope(x)
    payload = {
        "duration": duration,
        "wave": {"min": lo, "max": hi},
        "segments": [[s.start, s.end, s.label] for s in segments],
        "colours": {s.label: label_colour(s.label) for s in segments},
        "probs": None,
    }
    if probs is not None and len(probs):
        times, curves = _downsample_probs(probs, hop_s)
        names = [str(c) for c in classes]
        payload["probs"] = {"t": times, "names": names, "values": curves,
                            "colours": [label_colour(c) for c in names]}
    return payload


def segment_report(path_out, audio, sr, segments, probs, hop_s, classes, title):
    """Write a self-contained HTML report of one segmented recording.

    Parameters
    ----------
    path_out : str or path-like
        HTML file to write.
    audio : array-like, shape (n,) or (n, channels)
        The recording.
    sr : int
        Its sample rate; it is embedded at 16 kHz mono.
    segments : sequence of Segment
        The segmentation (``start``, ``end``, ``label``, ``confidence``).
    probs : array-like, shape (n_frames, n_classes), or None
        Class probabilities per frame.
    hop_s : float
        Frame hop of ``probs`` in seconds.
    classes : sequence of str
        Names of the ``probs`` columns.
    title : str
        Page title (escaped).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    segments = list(segments)
    x = _mono_16k(audio, sr)
    duration = len(x) / REPORT_SR
    if segments:
        duration = max(duration, segments[-1].end)
    data, mime = encode_audio(x)
    legend = "".join(
        f'<span class="item"><span class="sw" style="background:{t["colour"]}"></span>'
        f'{html.escape(t["label"])} {t["seconds"]:.1f} s ({t["percent"]:.1f} %)</span>'
        for t in _totals(segments, duration))
    fields = {
        "TITLE": html.escape(str(title)),
        "SUMMARY": f"{duration:.2f} s, {len(segments)} segments",
        "AUDIO": f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}",
        "LEGEND": legend,
        "ROWS": _segment_rows(segments),
        "DATA": _script_json(_payload(x, duration, segments, probs, hop_s, classes)),
    }
    # one pass, so text put in one field is never read as another field
    page = re.sub(r"\{\{([A-Z]+)\}\}", lambda m: fields[m.group(1)], _TEMPLATE)
    path_out = Path(path_out)
    path_out.write_text(page, encoding="utf-8")
    return path_out
