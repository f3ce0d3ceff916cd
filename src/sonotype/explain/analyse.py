"""Feature analysis with synthetic template stimuli (after Choi et al. 2016, section 4).

Stimuli (additive synthesis in numpy, 11,025 Hz by default, one 4.04 s clip each):

* **harmonic**: pitch x timbre x chord. Notes restart every 0.5 s. Timbres are harmonic
  amplitude profiles with an envelope: ``sine`` (fundamental + a weak 2nd harmonic, 40 ms
  attack, sustained), ``saw`` (all harmonics at 1/n, 5 ms attack, exponential decay),
  ``square`` (odd harmonics at 1/n, 5 ms attack, slow decay). Chords: ``single``,
  ``fifth`` (0, 7), ``major`` (0, 4, 7), ``minor`` (0, 3, 7) semitones over the pitch.
* **drums**: instrument x tempo, hits on every beat. ``kick`` = decaying sine sweeping
  150 -> 45 Hz; ``snare`` = noise burst + 190 Hz tone; ``hihat`` = high-passed noise
  (> 5 kHz), short; ``kit`` = kick on beats 1 and 3, snare on 2 and 4, hi-hat on every
  eighth note.

Per layer, the response of a stimulus is the vector of its feature maps' mean activations
(post-ReLU, post-pool), centred by the mean over the stimuli of its family. For a factor
(say chord), stimuli are grouped by the other factors (pitch, timbre); within a group the
Pearson correlation between the response vectors of every pair of chord types is taken,
and the mean over pairs and groups is reported: near 1 = the layer is invariant to chord
type, near 0 or below = it tells chord types apart.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import scipy.signal
import torch

from ..models.genre_cnn import GENRE_CLIP_SAMPLES, GenreCNN

PITCHES = {"A2": 45, "E3": 52, "A3": 57, "E4": 64}
TIMBRES = ("sine", "saw", "square")
CHORDS = {"single": (0,), "fifth": (0, 7), "major": (0, 4, 7), "minor": (0, 3, 7)}
DRUMS = ("kick", "snare", "hihat", "kit")
TEMPI = (80, 120, 160)
HARMONIC_FACTORS = ("pitch", "timbre", "chord")
DRUM_FACTORS = ("instrument", "tempo")


def midi_hz(m: float) -> float:
    return 440.0 * 2 ** ((m - 69) / 12)


def _envelope(n: int, sr: int, attack: float, decay: float | None) -> np.ndarray:
    t = np.arange(n) / sr
    env = np.minimum(1.0, t / max(attack, 1e-4))
    if decay is not None:
        env = env * np.exp(-t / decay)
    return env


def note(freq: float, timbre: str, n: int, sr: int) -> np.ndarray:
    """One note of ``n`` samples: harmonic profile and envelope of ``timbre``."""
    t = np.arange(n) / sr
    if timbre == "sine":
        amps, env = {1: 1.0, 2: 0.1}, _envelope(n, sr, 0.04, None)
    elif timbre == "saw":
        amps, env = {k: 1.0 / k for k in range(1, 40)}, _envelope(n, sr, 0.005, 0.15)
    elif timbre == "square":
        amps, env = {k: 1.0 / k for k in range(1, 40, 2)}, _envelope(n, sr, 0.005, 0.6)
    else:
        raise ValueError(f"unknown timbre {timbre!r}; choose one of {TIMBRES}")
    y = np.zeros(n)
    for k, a in amps.items():
        if k * freq < sr / 2 * 0.95:
            y += a * np.sin(2 * np.pi * k * freq * t)
    fade = np.minimum(1.0, (n - np.arange(n)) / (0.005 * sr))  # no click at the end
    return y * env * fade


def harmonic_stimulus(pitch: int, timbre: str, chord: str, sr: int = 11025, n: int = GENRE_CLIP_SAMPLES,
                      period: float = 0.5) -> np.ndarray:
    """A chord of ``timbre`` notes on MIDI ``pitch``, restarted every ``period`` seconds."""
    y = np.zeros(n)
    step = int(period * sr)
    for s in range(0, n, step):
        m = min(step, n - s)
        for semis in CHORDS[chord]:
            y[s:s + m] += note(midi_hz(pitch + semis), timbre, m, sr)
    return _peak(y)


def _kick(sr, n):
    t = np.arange(n) / sr
    f = 45 + 105 * np.exp(-t / 0.03)
    return np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.12)


def _snare(sr, n, rng):
    t = np.arange(n) / sr
    return 0.7 * rng.standard_normal(n) * np.exp(-t / 0.06) + 0.5 * np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.05)


_HP = {}


def _hihat(sr, n, rng):
    if sr not in _HP:
        _HP[sr] = scipy.signal.butter(4, min(5000, 0.8 * sr / 2), btype="highpass", fs=sr, output="sos")
    t = np.arange(n) / sr
    return 0.5 * scipy.signal.sosfilt(_HP[sr], rng.standard_normal(n)) * np.exp(-t / 0.02)


def drum_stimulus(instrument: str, tempo: float, sr: int = 11025, n: int = GENRE_CLIP_SAMPLES,
                  seed: int = 0) -> np.ndarray:
    """A drum pattern at ``tempo`` BPM (see module docstring)."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / tempo
    y = np.zeros(n)
    hit_len = int(0.3 * sr)

    def add(t0, kind):
        s = int(round(t0 * sr))
        if s >= n:
            return
        m = min(hit_len, n - s)
        h = _kick(sr, m) if kind == "kick" else _snare(sr, m, rng) if kind == "snare" else _hihat(sr, m, rng)
        y[s:s + m] += h

    n_beats = int(np.ceil(n / sr / beat))
    for b in range(n_beats):
        if instrument in ("kick", "snare", "hihat"):
            add(b * beat, instrument)
        elif instrument == "kit":
            add(b * beat, "kick" if b % 2 == 0 else "snare")
            add(b * beat, "hihat")
            add((b + 0.5) * beat, "hihat")
        else:
            raise ValueError(f"unknown drum instrument {instrument!r}; choose one of {DRUMS}")
    return _peak(y)


def _peak(y, peak=0.5):
    m = np.max(np.abs(y))
    return (y * (peak / m) if m > 0 else y).astype(np.float32)


def synthesise_stimuli(sr: int = 11025, n: int = GENRE_CLIP_SAMPLES, pitches=None, timbres=TIMBRES,
                       chords=None, drums=DRUMS, tempi=TEMPI) -> list:
    """All template stimuli as dicts ``family`` ("harmonic"/"drums"), factor values and ``audio``."""
    pitches = pitches or PITCHES
    chords = chords or tuple(CHORDS)
    out = []
    for (pname, p), tb, ch in itertools.product(pitches.items(), timbres, chords):
        out.append({"family": "harmonic", "pitch": pname, "timbre": tb, "chord": ch,
                    "audio": harmonic_stimulus(p, tb, ch, sr, n)})
    for k, (ins, bpm) in enumerate(itertools.product(drums, tempi)):
        out.append({"family": "drums", "instrument": ins, "tempo": int(bpm),
                    "audio": drum_stimulus(ins, bpm, sr, n, seed=k)})
    return out


@torch.no_grad()
def layer_responses(model: GenreCNN, audio: np.ndarray, params=None) -> list:
    """Per layer, the mean of each feature map (post-ReLU, post-pool) over positions, ``[(C,), ...]``."""
    from ..features import STFT, extract
    params = params or STFT
    model.eval()
    x = torch.from_numpy(extract(np.asarray(audio, np.float32), params)[None])
    _, _, _, pooled = model.forward_with_switches(x, upto=model.n_layers)
    return [p[0].mean(dim=(1, 2)).numpy().astype(np.float64) for p in pooled]


def invariance(responses: np.ndarray, labels: list, factor: str, factors: tuple) -> float:
    """Mean pairwise correlation of centred responses across levels of ``factor``, the others fixed.

    Parameters
    ----------
    responses : ndarray
        ``(n_stimuli, n_features)`` for one layer and one stimulus family.
    labels : list of dict
        Factor values of each stimulus.
    factor : str
        The factor that varies.
    factors : tuple
        All factors of the family.
    """
    R = responses - responses.mean(0, keepdims=True)
    others = [f for f in factors if f != factor]
    groups: dict = {}
    for i, lab in enumerate(labels):
        groups.setdefault(tuple(lab[f] for f in others), []).append(i)
    vals = []
    for idx in groups.values():
        for a, b in itertools.combinations(idx, 2):
            u, v = R[a], R[b]
            su, sv = u.std(), v.std()
            if su > 1e-12 and sv > 1e-12:
                vals.append(float(np.mean((u - u.mean()) * (v - v.mean())) / (su * sv)))
    return float(np.mean(vals)) if vals else float("nan")


def analyse(model: GenreCNN, out_dir, sr: int = 11025, n: int = GENRE_CLIP_SAMPLES, stimuli=None,
            write_stimuli: bool = False) -> dict:
    """Invariance of each layer's features to pitch, timbre, chord, drum instrument and tempo.

    Writes ``out_dir/analysis.md`` (markdown table), ``analysis.json`` and ``analysis.png``
    (heatmap: layers x factors); with ``write_stimuli`` also the stimuli as WAVs under
    ``out_dir/stimuli``. Returns ``{"table": {layer: {factor: value}}, "markdown": str, ...}``.
    """
    from ..audio import write_wav
    from ..features import STFT
    if not isinstance(model, GenreCNN):
        raise ValueError(f"feature analysis needs a GenreCNN, got {type(model).__name__}")
    params = STFT.with_(sr=int(sr))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stimuli = stimuli if stimuli is not None else synthesise_stimuli(sr, n)
    resp = [layer_responses(model, s["audio"], params) for s in stimuli]
    L = len(resp[0])
    table = {}
    for d in range(L):
        row = {}
        for family, factors in (("harmonic", HARMONIC_FACTORS), ("drums", DRUM_FACTORS)):
            idx = [i for i, s in enumerate(stimuli) if s["family"] == family]
            if len(idx) < 2:
                continue
            R = np.stack([resp[i][d] for i in idx])
            labels = [stimuli[i] for i in idx]
            for f in factors:
                row[f] = invariance(R, labels, f, factors)
        table[d + 1] = row
    factors = [f for f in HARMONIC_FACTORS + DRUM_FACTORS if any(f in r for r in table.values())]
    md = ["| layer | " + " | ".join(factors) + " |", "|---:|" + "---:|" * len(factors)]
    for d, row in table.items():
        md.append(f"| {d} | " + " | ".join("n/a" if np.isnan(row.get(f, np.nan)) else f"{row[f]:.2f}"
                                          for f in factors) + " |")
    text = ("Mean correlation of centred layer responses across the levels of one factor, the other "
            "factors fixed (1 = invariant to that factor, 0 = unrelated responses).\n\n" + "\n".join(md) + "\n")
    (out_dir / "analysis.md").write_text(text)
    meta = [{k: v for k, v in s.items() if k != "audio"} for s in stimuli]
    (out_dir / "analysis.json").write_text(json.dumps({"table": table, "factors": factors, "stimuli": meta,
                                                       "sr": sr, "n_samples": n}, indent=2))
    _heatmap(out_dir / "analysis.png", table, factors)
    if write_stimuli:
        for s in stimuli:
            name = "_".join(str(s[k]) for k in s if k not in ("audio",))
            write_wav(out_dir / "stimuli" / f"{name}.wav", s["audio"], sr)
    return {"table": table, "factors": factors, "markdown": text, "png": str(out_dir / "analysis.png")}


def _heatmap(path, table, factors):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    M = np.array([[table[d].get(f, np.nan) for f in factors] for d in sorted(table)])
    fig, ax = plt.subplots(figsize=(1.2 * len(factors) + 2, 0.5 * len(table) + 1.5), dpi=100)
    im = ax.imshow(M, cmap="viridis", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(len(factors)), factors)
    ax.set_yticks(range(len(table)), [f"layer {d}" for d in sorted(table)])
    for i in range(M.shape[0]):
        for j in range(M.shape[1]):
            if not np.isnan(M[i, j]):
                ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if M[i, j] < 0.3 else "black")
    fig.colorbar(im, ax=ax, label="mean correlation across levels")
    ax.set_title("Invariance of layer responses")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def analyse_checkpoint(checkpoint, out_dir, write_stimuli: bool = False) -> dict:
    """``sonotype genre analyse``: :func:`analyse` on the model of a genre checkpoint."""
    from ..checkpoint import build_from_checkpoint, features_of, load_checkpoint
    ck = load_checkpoint(checkpoint)
    model = build_from_checkpoint(ck)
    return analyse(model, out_dir, sr=features_of(ck).sr, write_stimuli=write_stimuli)
