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

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..atomic import write_text
from ..audio import AudioError, load
from ..data import make_split, open_corpus, write_split
from ..features import STFT
from ..models.genre_cnn import GENRE_FRAMES, GenreCNN, format_receptive_fields, recalibrate_batchnorm, receptive_fields
from ..train import optimiser_step, record_epoch, seed_everything
from .genre_eval import confusion_markdown, evaluate_genre
from .songs import (ARCH, N_CLIPS, SMALL_NOTE, clip_starts, featurise_songs, load_genre, save_checkpoint_genre, say,
                    small_corpus_note, song_clips, song_decisions, song_features, song_proba)

__all__ = ["ARCH", "N_CLIPS", "SMALL_NOTE", "GenreConfig", "clip_starts", "confusion_markdown", "demo",
           "evaluate_genre", "predict_genre", "receptive_field_table", "save_checkpoint_genre", "small_corpus_note",
           "song_clips", "song_features", "train_genre"]


@dataclass
class GenreConfig:
    """Settings of one genre training run (stored in the checkpoint's ``config`` and ``train.json``).

    ``epochs`` passes of Adam at ``lr`` (no schedule) over the training clips in batches of
    ``batch_size``; ``seed`` seeds the split, the initialisation and the batch order;
    ``n_clips`` clips per song; ``model_kwargs`` extra :class:`GenreCNN` arguments.
    """

    epochs: int = 5
    seed: int = 0
    batch_size: int = 8
    lr: float = 2e-3
    n_clips: int = N_CLIPS
    model_kwargs: dict = field(default_factory=dict)

    def to_dict(self, corpus_spec) -> dict:
        """The stored form, with the corpus spec and the architecture."""
        return {"task": "genre", "corpus": str(corpus_spec), "epochs": int(self.epochs), "seed": int(self.seed),
                "batch_size": int(self.batch_size), "lr": float(self.lr), "n_clips": int(self.n_clips),
                "model": ARCH, "model_kwargs": dict(self.model_kwargs)}


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
    cfg = GenreConfig(int(epochs), int(seed), int(batch_size), float(lr), int(n_clips), dict(model_kwargs or {}))
    t0 = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    classes, parts, note = split_songs(corpus_spec, out, cfg.seed, log)
    train = featurise_songs(parts["train"], classes, cfg.n_clips, log)
    val = featurise_songs(parts["val"], classes, cfg.n_clips, log)
    if len(train[0]) == 0:
        raise ValueError(f"{corpus_spec}: no readable training songs")
    seed_everything(cfg.seed)
    model, kwargs = build_genre_model(train[0], len(classes), cfg.model_kwargs)
    history = fit_genre(model, train, val, cfg, log)
    metrics = {"history": history, "seconds": time.time() - t0, "note": note}
    config = cfg.to_dict(corpus_spec)
    ck = save_checkpoint_genre(out / "model.pt", model, kwargs, classes, config, metrics)
    write_text(out / "train.json", json.dumps({"config": config, **metrics, "classes": classes}, indent=2))
    say(log, f"wrote {ck}")
    return {"checkpoint": str(ck), "classes": classes, "history": history, "note": note}


def split_songs(corpus_spec, out: Path, seed: int, log) -> tuple:
    """(classes, {split: items}, small-corpus note or None) of a corpus split by song; writes ``out/split.csv``."""
    corpus = open_corpus(corpus_spec)
    parts, assign = make_split(corpus, seed=seed)
    write_split(out / "split.csv", corpus, assign)
    note = small_corpus_note(corpus.items)
    if note:
        say(log, note)
    say(log, f"{len(corpus)} songs, {len(corpus.classes)} genres; split by song: "
             + ", ".join(f"{s} {len(v)}" for s, v in parts.items()))
    return corpus.classes, parts, note


def build_genre_model(X: np.ndarray, n_classes: int, model_kwargs: dict) -> tuple:
    """A :class:`GenreCNN` standardised with the mean / std of ``log(1 + X)`` over training clips ``X``
    ``(clips, 257, 173)`` unless ``model_kwargs`` gives them; returns (model, its constructor kwargs)."""
    logx = np.log1p(X)
    kwargs = {"n_classes": n_classes, "n_bins": STFT.n_channels, "n_frames": GENRE_FRAMES,
              "in_mean": float(logx.mean()), "in_std": float(max(logx.std(), 1e-6)), "batchnorm": True}
    del logx
    kwargs.update(model_kwargs)
    return GenreCNN(**kwargs), kwargs


def fit_genre(model: GenreCNN, train: tuple, val: tuple, cfg: GenreConfig, log) -> list:
    """Train ``model`` on ``train`` = (clips, classes, songs) for ``cfg.epochs`` epochs and leave it
    with the weights of the epoch with the best validation song accuracy (the last epoch when
    ``val`` has no clips); returns the per-epoch history rows."""
    X, y, _ = train
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    rng = np.random.default_rng(cfg.seed)
    state = {"epoch": 0, "best": -np.inf, "best_epoch": -1, "history": [], "stale": 0}
    history, best_state = [], None
    for ep in range(1, cfg.epochs + 1):
        loss, acc = genre_epoch(model, opt, X, y, rng.permutation(len(X)), cfg.batch_size)
        recalibrate_batchnorm(model, X)
        row = {"epoch": ep, "loss": loss, "train_clip_acc": acc, **val_accuracy(model, *val)}
        history.append(row)
        say(log, "epoch {epoch}: loss {loss:.3f}, train clip acc (dropout on) {train_clip_acc:.2f}".format(**row)
            + (f", val song acc {row['val_song_acc']:.2f}" if "val_song_acc" in row else ""))
        # ties keep the earlier epoch (no validation loss is given)
        if record_epoch(state, ep - 1, {"accuracy": row.get("val_song_acc", -1.0)}, loss) or not len(val[0]):
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return history


def genre_epoch(model: GenreCNN, opt, X: np.ndarray, y: np.ndarray, order: np.ndarray, batch_size: int) -> tuple:
    """One pass over clips ``X[order]`` in batches; returns (mean clip loss, train clip accuracy)."""
    model.train()
    losses, correct = [], 0
    for i in range(0, len(order), batch_size):
        b = order[i:i + batch_size]
        xb, yb = torch.from_numpy(X[b]), torch.from_numpy(y[b])
        logits = model(xb)
        losses.append(optimiser_step(opt, F.cross_entropy(logits, yb)) * len(b))
        correct += int((logits.argmax(1) == yb).sum())
    return sum(losses) / len(X), correct / len(X)


def val_accuracy(model: GenreCNN, X: np.ndarray, y: np.ndarray, song: np.ndarray) -> dict:
    """``val_clip_acc`` and ``val_song_acc`` on validation clips (``{}`` when there are none)."""
    if not len(X):
        return {}
    P = song_proba(model, X)
    ids, Ps = song_decisions(P, song)
    y_song = np.array([y[song == s][0] for s in ids])
    return {"val_clip_acc": float((P.argmax(1) == y).mean()), "val_song_acc": float((Ps.argmax(1) == y_song).mean())}


def predict_genre(checkpoint, files, n_clips: int | None = None) -> list:
    """Genre of each audio file: mean of its clips' probabilities.

    Returns
    -------
    list of dict
        ``path``, ``genre``, ``proba`` ({genre: p}), or ``path``, ``error`` for unreadable files.
    """
    ck, model, params = load_genre(checkpoint)
    classes = list(ck["classes"])
    n = int(n_clips or ck.get("config", {}).get("n_clips", N_CLIPS))
    out = []
    for f in files:
        try:
            X = song_features(f, params, n)
        except AudioError as err:
            out.append({"path": str(f), "error": str(err)})
            continue
        p = song_proba(model, X).mean(0)
        out.append({"path": str(f), "genre": classes[int(p.argmax())],
                    "proba": {c: float(v) for c, v in zip(classes, p)}})
    return out


def receptive_field_table(checkpoint=None) -> str:
    """``sonotype genre receptive-field``: markdown table for a checkpoint's config (or the default)."""
    config, params = None, STFT
    if checkpoint:
        ck, _, params = load_genre(checkpoint)
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
    _, model, params = load_genre(tr["checkpoint"])
    corpus = open_corpus(spec)
    item = next(i for i in corpus.items if genre is None or i.label == genre)
    y = load(item.path, sr=params.sr)
    starts = clip_starts(len(y))
    s = starts[len(starts) // 2]
    clip = song_clips(y)[len(starts) // 2]
    say(log, f"auralising {Path(item.path).name} from {s / params.sr:.2f} s")
    res = auralise(model, clip, params.sr, layers, features, out_dir / "auralise", params=params,
                   title=f"{Path(item.path).name} @ {s / params.sr:.1f} s")
    say(log, f"wrote {res['index']}")
    return {"train": tr, "evaluate": {k: ev[k] for k in ("accuracy", "split", "n_songs")},
            "auralise": res["index"]}
