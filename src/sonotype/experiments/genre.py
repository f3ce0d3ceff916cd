"""Genre classification with the Choi et al. CNN: train, evaluate, predict, demo.

Every song becomes ``n_clips`` (10) clips of 44,544 samples (4.04 s, 173 non-centred STFT
frames) at 11,025 Hz, evenly spaced over the song (first clip at the start, last at the
end; a song shorter than one clip is zero-padded to one clip). Features are STFT
magnitudes (``sonotype.features.STFT``: n_fft = win = 512, hop 256), compressed by the
model itself with ``log(1 + |X|)`` and standardised with the mean / standard deviation of
that over the training clips (stored in the checkpoint's model arguments). Training uses
BatchNorm after every conv (re-estimated with dropout off after each epoch, see
:func:`sonotype.models.genre_cnn.recalibrate_batchnorm`), Adam at ``lr`` 2e-3, batches of 8. Splits keep a song (its ``group``) on one side
(:func:`sonotype.data.make_split`, 65/10/25 per class). A song's genre is the argmax of
the mean of its clips' class probabilities.

Works on GTZAN genres (``gtzan-genres:PATH``) and on any folder-per-class tree
(``folders:PATH``). On ``gtzan-mini`` (one song per genre) this is a mechanics demo:
ten songs can neither train nor measure a genre classifier.
"""
from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..atomic import write_text
from ..audio import AudioError, load
from ..data import make_split, open_corpus, write_split
from ..features import STFT, FeatureParams, extract
from ..models.genre_cnn import (
    GENRE_CLIP_SAMPLES,
    GENRE_FRAMES,
    GenreCNN,
    format_receptive_fields,
    recalibrate_batchnorm,
    receptive_fields,
)
from ..preprocess import PreprocessParams

N_CLIPS = 10
ARCH = "genre_cnn"
SMALL_NOTE = ("NOTE: {n} songs ({per} per genre at least) cannot train or measure a genre classifier; "
              "this run only shows that the mechanics work. Use the full GTZAN (100 songs per genre).")


def _say(log, msg):
    if log:
        log(msg)


def clip_starts(n_samples: int, clip_samples: int = GENRE_CLIP_SAMPLES, n_clips: int = N_CLIPS) -> list:
    """Start samples of ``n_clips`` evenly spaced clips (all 0 when the song is shorter than a clip)."""
    span = max(0, int(n_samples) - int(clip_samples))
    return [int(round(s)) for s in np.linspace(0, span, int(n_clips))]


def song_clips(y: np.ndarray, n_clips: int = N_CLIPS, clip_samples: int = GENRE_CLIP_SAMPLES) -> np.ndarray:
    """``(n_clips, clip_samples)`` evenly spaced clips of a song (zero-padded when short)."""
    y = np.asarray(y, np.float32)
    if len(y) < clip_samples:
        y = np.pad(y, (0, clip_samples - len(y)))
    return np.stack([y[s:s + clip_samples] for s in clip_starts(len(y), clip_samples, n_clips)])


def song_features(path, params: FeatureParams = STFT, n_clips: int = N_CLIPS,
                  clip_samples: int = GENRE_CLIP_SAMPLES) -> np.ndarray:
    """STFT magnitudes ``(n_clips, 257, 173)`` of one song file (read at ``params.sr``)."""
    y = load(path, sr=params.sr)
    return np.stack([extract(c, params) for c in song_clips(y, n_clips, clip_samples)]).astype(np.float32)


def small_corpus_note(items) -> str | None:
    """The mechanics-demo note when there are fewer than 10 songs in some genre, else None."""
    counts = {}
    for it in items:
        counts[it.label] = counts.get(it.label, 0) + 1
    per = min(counts.values()) if counts else 0
    return SMALL_NOTE.format(n=len(items), per=per) if per < 10 else None


def _featurise(items, classes, n_clips, log=None):
    X, y, song = [], [], []
    for i, it in enumerate(items):
        try:
            f = song_features(it.path, STFT, n_clips)
        except AudioError as err:
            _say(log, f"skipping {err}")
            continue
        X.append(f)
        y += [classes.index(it.label)] * len(f)
        song += [i] * len(f)
    if not X:
        return np.zeros((0, STFT.n_channels, GENRE_FRAMES), np.float32), np.zeros(0, int), np.zeros(0, int)
    return np.concatenate(X), np.asarray(y), np.asarray(song)


@torch.no_grad()
def _proba(model, X, batch_size=16) -> np.ndarray:
    model.eval()
    out = [torch.softmax(model(torch.from_numpy(X[i:i + batch_size])), -1).numpy()
           for i in range(0, len(X), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, model.config["n_classes"]), np.float32)


def _song_decisions(P: np.ndarray, song: np.ndarray):
    ids = sorted(set(song.tolist()))
    return ids, np.stack([P[song == s].mean(0) for s in ids]) if ids else np.zeros((0, P.shape[1]))


def train_genre(corpus_spec, out, epochs: int = 5, seed: int = 0, batch_size: int = 8, lr: float = 2e-3,
                n_clips: int = N_CLIPS, model_kwargs: dict | None = None, threads: int | None = None,
                log=print) -> dict:
    """Train the genre CNN and write ``out/model.pt`` (standard sonotype checkpoint), ``split.csv``, ``train.json``.

    Parameters
    ----------
    corpus_spec : str
        ``"gtzan-genres:PATH"``, ``"folders:PATH"`` or any :func:`sonotype.data.open_corpus` spec.
    out : path
        Run folder.
    epochs : int
        Passes over the training clips (Adam, ``lr``, no schedule); the checkpoint kept
        is the one with the best song accuracy on the validation songs, or the last one
        when there are none.
    seed : int
        Seeds the split, the initialisation and the batch order.
    batch_size, lr : training settings.
    n_clips : int
        Clips per song.
    model_kwargs : dict, optional
        Extra :class:`GenreCNN` arguments (e.g. ``channels=8`` for a quick test;
        ``batchnorm=False`` for the paper's plain stack). ``in_mean`` / ``in_std`` are
        measured on the training clips unless given here.
    threads : int, optional
        ``torch.set_num_threads`` for this run.

    Returns
    -------
    dict
        ``checkpoint``, ``classes``, ``history`` (per-epoch loss, train / val clip accuracy),
        ``note`` (the small-corpus note or None).
    """
    if threads:
        torch.set_num_threads(int(threads))
    t0 = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    corpus = open_corpus(corpus_spec)
    classes = corpus.classes
    parts, assign = make_split(corpus, seed=seed)
    write_split(out / "split.csv", corpus, assign)
    note = small_corpus_note(corpus.items)
    if note:
        _say(log, note)
    _say(log, f"{len(corpus)} songs, {len(classes)} genres; split by song: "
              + ", ".join(f"{s} {len(v)}" for s, v in parts.items()))
    Xtr, ytr, _ = _featurise(parts["train"], classes, n_clips, log)
    Xva, yva, sva = _featurise(parts["val"], classes, n_clips, log)
    if len(Xtr) == 0:
        raise ValueError(f"{corpus_spec}: no readable training songs")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    logx = np.log1p(Xtr)
    kwargs = {"n_classes": len(classes), "n_bins": STFT.n_channels, "n_frames": GENRE_FRAMES,
              "in_mean": float(logx.mean()), "in_std": float(max(logx.std(), 1e-6)), "batchnorm": True}
    del logx
    kwargs.update(model_kwargs or {})
    model = GenreCNN(**kwargs)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history, best, best_state = [], -1.0, None
    for ep in range(1, int(epochs) + 1):
        model.train()
        order = rng.permutation(len(Xtr))
        losses, correct = [], 0
        for i in range(0, len(order), batch_size):
            b = order[i:i + batch_size]
            xb, yb = torch.from_numpy(Xtr[b]), torch.from_numpy(ytr[b])
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item() * len(b))
            correct += int((logits.argmax(1) == yb).sum())
        recalibrate_batchnorm(model, Xtr)
        row = {"epoch": ep, "loss": sum(losses) / len(Xtr), "train_clip_acc": correct / len(Xtr)}
        if len(Xva):
            P = _proba(model, Xva)
            ids, Ps = _song_decisions(P, sva)
            yv = np.array([yva[sva == s][0] for s in ids])
            row["val_clip_acc"] = float((P.argmax(1) == yva).mean())
            row["val_song_acc"] = float((Ps.argmax(1) == yv).mean())
        history.append(row)
        _say(log, "epoch {epoch}: loss {loss:.3f}, train clip acc (dropout on) {train_clip_acc:.2f}".format(**row)
             + (f", val song acc {row['val_song_acc']:.2f}" if "val_song_acc" in row else ""))
        score = row.get("val_song_acc", -1.0)
        if best_state is None or score > best or not len(Xva):
            best = score
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    config = {"task": "genre", "corpus": str(corpus_spec), "epochs": int(epochs), "seed": int(seed),
              "batch_size": int(batch_size), "lr": float(lr), "n_clips": int(n_clips), "model": ARCH,
              "model_kwargs": dict(model_kwargs or {})}
    metrics = {"history": history, "seconds": time.time() - t0, "note": note}
    ck = save_checkpoint_genre(out / "model.pt", model, kwargs, classes, config, metrics)
    write_text(out / "train.json", json.dumps({"config": config, **metrics, "classes": classes}, indent=2))
    _say(log, f"wrote {ck}")
    return {"checkpoint": str(ck), "classes": classes, "history": history, "note": note}


def save_checkpoint_genre(path, model, kwargs, classes, config, metrics) -> Path:
    """Standard sonotype checkpoint: arch ``genre_cnn``, features = STFT preset, no preprocessing."""
    from ..checkpoint import save_checkpoint
    return save_checkpoint(path, arch=ARCH, kwargs=kwargs, model=model, features=STFT,
                           prep=PreprocessParams(remove_silence=False, equalise=False),
                           classes=classes, clip=GENRE_CLIP_SAMPLES / STFT.sr, config=config, metrics=metrics)


def _load(checkpoint):
    from ..checkpoint import build_from_checkpoint, features_of, load_checkpoint
    ck = load_checkpoint(checkpoint)
    if ck["arch"] != ARCH:
        raise ValueError(f"{checkpoint}: not a genre CNN checkpoint (arch {ck['arch']!r})")
    return ck, build_from_checkpoint(ck), features_of(ck)


def evaluate_genre(checkpoint, corpus_spec=None, out=None, split: str = "test", log=print) -> dict:
    """Song-level accuracy and confusion of a genre checkpoint.

    Parameters
    ----------
    checkpoint : path
        ``model.pt`` from :func:`train_genre`.
    corpus_spec : str, optional
        Corpus to score (default: the training corpus stored in the checkpoint).
    out : path, optional
        Folder for ``metrics.json``, ``table.md``, ``songs.csv`` and ``confusion.png``.
    split : {"test", "val", "train", "all"}
        Which songs: the split is recomputed with the checkpoint's seed. When the split
        is empty (tiny corpora put every song in train) all songs are scored and the
        result says so — those songs were seen in training.

    Returns
    -------
    dict
        ``accuracy`` (songs), ``clip_accuracy``, ``confusion`` (rows true, columns
        predicted, in ``classes`` order), ``classes``, ``songs`` (path, true, predicted,
        probabilities), ``split``, ``note``.
    """
    ck, model, _ = _load(checkpoint)
    classes = list(ck["classes"])
    n_clips = int(ck.get("config", {}).get("n_clips", N_CLIPS))
    corpus = open_corpus(corpus_spec or ck["config"]["corpus"])
    unknown = sorted({i.label for i in corpus.items} - set(classes))
    if unknown:
        raise ValueError(f"corpus has genres the model does not know: {unknown}")
    used = split
    if split == "all":
        items = corpus.items
    else:
        parts, _ = make_split(corpus, seed=int(ck.get("config", {}).get("seed", 0)))
        items = parts[split]
        if not items:
            used = "all"
            items = corpus.items
            _say(log, f"NOTE: the {split} split is empty; scoring all {len(items)} songs, "
                      "which include training songs (not a measure of generalisation)")
    note = small_corpus_note(items)
    if note:
        _say(log, note)
    X, y, song = _featurise(items, classes, n_clips, log)
    P = _proba(model, X)
    ids, Ps = _song_decisions(P, song)
    y_song = np.array([y[song == s][0] for s in ids])
    pred = Ps.argmax(1)
    K = len(classes)
    conf = np.zeros((K, K), int)
    for t, p in zip(y_song, pred):
        conf[t, p] += 1
    songs = [{"path": items[s].path, "true": classes[t], "predicted": classes[p],
              "proba": [float(v) for v in pr]} for s, t, p, pr in zip(ids, y_song, pred, Ps)]
    res = {"checkpoint": str(checkpoint), "split": used, "n_songs": len(ids), "classes": classes,
           "accuracy": float((pred == y_song).mean()) if len(ids) else float("nan"),
           "clip_accuracy": float((P.argmax(1) == y).mean()) if len(y) else float("nan"),
           "confusion": conf.tolist(), "songs": songs, "note": note}
    _say(log, f"song accuracy {res['accuracy']:.3f} on {len(ids)} songs ({used}); "
              f"clip accuracy {res['clip_accuracy']:.3f}")
    if out:
        _write_eval(Path(out), res)
    return res


def confusion_markdown(conf, classes) -> str:
    head = "| true \\ predicted | " + " | ".join(classes) + " |"
    sep = "|---|" + "---:|" * len(classes)
    rows = [f"| {c} | " + " | ".join(str(v) for v in r) + " |" for c, r in zip(classes, conf)]
    return "\n".join([head, sep, *rows])


def _write_eval(out: Path, res: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "metrics.json", json.dumps(res, indent=2))
    text = [f"# Genre CNN: song-level results ({res['split']}, {res['n_songs']} songs)", ""]
    if res.get("note"):
        text += [f"> {res['note']}", ""]
    text += [f"Song accuracy (mean of 10 clip probabilities): {res['accuracy']:.3f}",
             f"Clip accuracy: {res['clip_accuracy']:.3f}", "", confusion_markdown(res["confusion"], res["classes"]), ""]
    write_text(out / "table.md", "\n".join(text))
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(["path", "true", "predicted", *res["classes"]])
    for s in res["songs"]:
        w.writerow([s["path"], s["true"], s["predicted"], *[f"{v:.4f}" for v in s["proba"]]])
    write_text(out / "songs.csv", buf.getvalue())
    try:
        from ..evaluate.figures import plot_confusion
        plot_confusion(np.asarray(res["confusion"]), res["classes"], out / "confusion.png",
                       title=f"Genre CNN ({res['split']}, {res['n_songs']} songs)")
    except Exception as err:  # noqa: BLE001 - a figure must not lose the numbers
        write_text(out / "confusion.txt", f"confusion figure failed: {err}\n")


def predict_genre(checkpoint, files, n_clips: int | None = None) -> list:
    """Genre of each audio file: mean of its clips' probabilities.

    Returns
    -------
    list of dict
        ``path``, ``genre``, ``proba`` ({genre: p}), or ``path``, ``error`` for unreadable files.
    """
    ck, model, params = _load(checkpoint)
    classes = list(ck["classes"])
    n = int(n_clips or ck.get("config", {}).get("n_clips", N_CLIPS))
    out = []
    for f in files:
        try:
            X = song_features(f, params, n)
        except AudioError as err:
            out.append({"path": str(f), "error": str(err)})
            continue
        p = _proba(model, X).mean(0)
        out.append({"path": str(f), "genre": classes[int(p.argmax())],
                    "proba": {c: float(v) for c, v in zip(classes, p)}})
    return out


def receptive_field_table(checkpoint=None) -> str:
    """``sonotype genre receptive-field``: markdown table for a checkpoint's config (or the default)."""
    config, params = None, STFT
    if checkpoint:
        ck, _, params = _load(checkpoint)
        config = ck["kwargs"]
    rows = receptive_fields(config, sr=params.sr, n_fft=params.n_fft, hop=params.hop_length)
    return (format_receptive_fields(rows) + "\n\nconv RF: a unit of the conv output; pooled RF: a unit "
            "after the layer's max pooling (where deconvolution starts). Width includes the "
            f"{params.n_fft}-sample analysis window; height = bins x {params.sr / params.n_fft:.1f} Hz.")


def demo(out_dir, gtzan_root="../shared/data/gtzan-mini", epochs: int = 5, seed: int = 0,
         genre: str | None = None, layers="1-5", features="top:4", threads: int | None = None, log=print) -> dict:
    """Train briefly on gtzan-mini (mechanics only), evaluate, then auralise one clip of one song.

    gtzan-mini has one song per genre, which cannot be split: the song-level split puts all
    ten songs (10 clips each) in training, and the accuracy reported is on those same
    training songs. It shows that the network fits (overfits) its data, nothing about
    genre recognition.

    Writes ``out_dir/run`` (checkpoint, split, train.json), ``out_dir/eval`` and
    ``out_dir/auralise`` (WAVs, PNGs, ``index.html``). The clip is the middle one of the
    first genre's song (or ``genre``'s).
    """
    from ..explain.auralise import auralise
    out_dir = Path(out_dir)
    spec = f"gtzan-genres:{gtzan_root}"
    tr = train_genre(spec, out_dir / "run", epochs=epochs, seed=seed, threads=threads, log=log)
    ev = evaluate_genre(tr["checkpoint"], spec, out_dir / "eval", split="all", log=log)
    _, model, params = _load(tr["checkpoint"])
    corpus = open_corpus(spec)
    item = next(i for i in corpus.items if genre is None or i.label == genre)
    y = load(item.path, sr=params.sr)
    starts = clip_starts(len(y))
    s = starts[len(starts) // 2]
    clip = song_clips(y)[len(starts) // 2]
    _say(log, f"auralising {Path(item.path).name} from {s / params.sr:.2f} s")
    res = auralise(model, clip, params.sr, layers, features, out_dir / "auralise", params=params,
                   title=f"{Path(item.path).name} @ {s / params.sr:.1f} s")
    _say(log, f"wrote {res['index']}")
    return {"train": tr, "evaluate": {k: ev[k] for k in ("accuracy", "split", "n_songs")},
            "auralise": res["index"]}
