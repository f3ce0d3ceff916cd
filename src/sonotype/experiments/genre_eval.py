"""Song-level evaluation of a genre CNN checkpoint: accuracy, confusion, table, songs CSV, figure."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import confusion_matrix

from ..atomic import write_text
from ..data import make_split, open_corpus
from .songs import N_CLIPS, featurise_songs, load_genre, say, small_corpus_note, song_decisions, song_proba


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
    ck, model, _ = load_genre(checkpoint)
    classes = list(ck["classes"])
    items, used = songs_to_score(ck, corpus_spec, split, log)
    note = small_corpus_note(items)
    if note:
        say(log, note)
    X, y, song = featurise_songs(items, classes, int(ck.get("config", {}).get("n_clips", N_CLIPS)), log)
    res = {"checkpoint": str(checkpoint), "split": used, **song_results(song_proba(model, X), y, song, items, classes),
           "note": note}
    say(log, f"song accuracy {res['accuracy']:.3f} on {res['n_songs']} songs ({used}); "
             f"clip accuracy {res['clip_accuracy']:.3f}")
    if out:
        _write_eval(Path(out), res)
    return res


def songs_to_score(ck: dict, corpus_spec, split: str, log) -> tuple:
    """(items, split used): the songs of ``split``, re-split with the checkpoint's seed; all songs
    (split ``"all"``) when that split is empty."""
    corpus = open_corpus(corpus_spec or ck["config"]["corpus"])
    unknown = sorted({i.label for i in corpus.items} - set(ck["classes"]))
    if unknown:
        raise ValueError(f"corpus has genres the model does not know: {unknown}")
    if split == "all":
        return corpus.items, split
    parts, _ = make_split(corpus, seed=int(ck.get("config", {}).get("seed", 0)))
    if parts[split]:
        return parts[split], split
    say(log, f"NOTE: the {split} split is empty; scoring all {len(corpus.items)} songs, "
             "which include training songs (not a measure of generalisation)")
    return corpus.items, "all"


def song_results(P: np.ndarray, y: np.ndarray, song: np.ndarray, items, classes) -> dict:
    """Song-level numbers from clip probabilities ``P`` ``(clips, classes)``, clip classes ``y`` and
    the song index of each clip: ``n_songs``, ``classes``, ``accuracy`` (songs), ``clip_accuracy``,
    ``confusion`` (rows true, columns predicted) and ``songs``."""
    ids, Ps = song_decisions(P, song)
    y_song = np.array([y[song == s][0] for s in ids], int)
    pred = Ps.argmax(1)
    K = len(classes)
    conf = confusion_matrix(y_song, pred, labels=np.arange(K)) if len(ids) else np.zeros((K, K), int)
    songs = [{"path": items[s].path, "true": classes[t], "predicted": classes[p],
              "proba": [float(v) for v in pr]} for s, t, p, pr in zip(ids, y_song, pred, Ps)]
    return {"n_songs": len(ids), "classes": classes,
            "accuracy": float((pred == y_song).mean()) if len(ids) else float("nan"),
            "clip_accuracy": float((P.argmax(1) == y).mean()) if len(y) else float("nan"),
            "confusion": conf.tolist(), "songs": songs}


def confusion_markdown(conf, classes) -> str:
    """Markdown table of a confusion matrix (rows true, columns predicted, in ``classes`` order)."""
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


