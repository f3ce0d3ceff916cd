"""PNG figures: confusion matrices, label timelines, accuracy by window.

Figures are drawn on the Agg canvas directly (no pyplot, no window), so
they work headless and leave matplotlib's global state alone.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .paper import PAPER

from .colours import _OTHER_COLOURS, LABEL_COLOURS, label_colour  # noqa: F401 (re-exported)


def _new_figure(width, height):
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path):
    fig.savefig(path, dpi=100)
    return path


def plot_confusion(confusion, classes, path, title=None, normalise=True, columns=None):
    """Draw a confusion matrix with annotated cells.

    Parameters
    ----------
    confusion : array-like, shape (n_true, n_pred)
        Counts, rows = true class.
    classes : sequence of str
        Row names (true classes).
    path : str or path-like
        PNG file to write.
    title : str, optional
        Figure title.
    normalise : bool
        Show each row as fractions of its total (recall on the diagonal).
    columns : sequence of str, optional
        Column names when they differ from ``classes`` (extra predicted
        labels, see ``frame_metrics``' ``confusion_columns``).

    Returns
    -------
    path
    """
    counts = np.asarray(confusion, dtype=float)
    columns = list(columns) if columns is not None else list(classes)[: counts.shape[1]]
    if normalise:
        totals = counts.sum(axis=1, keepdims=True)
        values = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    else:
        values = counts
    fig = _new_figure(1.2 + 1.1 * len(columns), 1.0 + 1.0 * len(classes))
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalise else None)
    fig.colorbar(image, ax=ax, shrink=0.8)
    threshold = values.max() / 2 if values.size else 0
    for (i, j), v in np.ndenumerate(values):
        text = f"{v:.2f}" if normalise else f"{int(v)}"
        ax.text(j, i, text, ha="center", va="center",
                color="white" if v > threshold else "black")
    ax.set_xticks(range(len(columns)), columns)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    return _save(fig, path)


def _bars(ax, segments, y, height):
    for label in dict.fromkeys(s.label for s in segments):
        spans = [(s.start, s.end - s.start) for s in segments if s.label == label]
        ax.broken_barh(spans, (y, height), facecolors=label_colour(label))


def plot_timeline(segments, duration, path, truth=None, probs=None, hop_s=0.01, classes=None):
    """Draw a label timeline, optionally with ground truth and probabilities.

    Parameters
    ----------
    segments : sequence of Segment
        Predicted segments (``start``, ``end``, ``label``).
    duration : float
        Recording length in seconds.
    path : str or path-like
        PNG file to write.
    truth : sequence of Segment, optional
        True segments, drawn as a second row.
    probs : array-like, shape (n_frames, n_classes), optional
        Class probabilities per frame, drawn as curves below.
    hop_s : float
        Frame hop of ``probs`` in seconds.
    classes : sequence of str, optional
        Names of the ``probs`` columns; speech, music, noise by default.

    Returns
    -------
    path
    """
    rows = [("predicted", list(segments))]
    if truth is not None:
        rows.insert(0, ("truth", list(truth)))
    fig = _new_figure(12, 1.2 + 0.5 * len(rows) + (2.0 if probs is not None else 0))
    if probs is not None:
        ax, ax_p = fig.subplots(2, 1, sharex=True, height_ratios=[len(rows), 3])
    else:
        ax, ax_p = fig.add_subplot(), None
    for i, (name, segs) in enumerate(rows):
        _bars(ax, segs, len(rows) - 1 - i, 0.8)
    ax.set_yticks([len(rows) - 1 - i + 0.4 for i in range(len(rows))], [r[0] for r in rows])
    ax.set_xlim(0, duration)
    labels = dict.fromkeys(s.label for _, segs in rows for s in segs)
    ax.legend(handles=[Patch(color=label_colour(lab), label=lab) for lab in labels],
              loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    if ax_p is not None:
        probs = np.asarray(probs, dtype=float)
        names = list(classes) if classes is not None else ["speech", "music", "noise"]
        t = np.arange(len(probs)) * hop_s
        for k in range(probs.shape[1]):
            name = names[k] if k < len(names) else f"class {k}"
            ax_p.plot(t, probs[:, k], color=label_colour(name), label=name, lw=1)
        ax_p.set_ylim(0, 1.02)
        ax_p.set_ylabel("probability")
        ax_p.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
        ax_p.set_xlabel("time (s)")
    else:
        ax.set_xlabel("time (s)")
    return _save(fig, path)


def plot_accuracy_by_window(rows, path):
    """Plot accuracy against clip/window length, one line per model.

    The paper's clip accuracies (when known for the model) are drawn as
    dashed lines with hollow markers in the same colour.

    Parameters
    ----------
    rows : sequence of dict
        Keys ``model``, ``window`` or ``clip`` (seconds), and ``accuracy``
        (fraction) or ``metrics`` (with an ``accuracy`` entry).
    path : str or path-like
        PNG file to write.

    Returns
    -------
    path
    """
    points = {}
    for r in rows:
        window = float(r.get("window", r.get("clip")))
        acc = r["accuracy"] if "accuracy" in r else r["metrics"]["accuracy"]
        points.setdefault(r["model"], []).append((window, 100.0 * acc))
    fig = _new_figure(6, 4)
    ax = fig.add_subplot()
    for i, (model, pts) in enumerate(points.items()):
        colour = f"C{i % 10}"
        x, y = zip(*sorted(pts))
        ax.plot(x, y, "o-", color=colour, label=model)
        paper = sorted(PAPER.get(model, {}).get("clip_accuracy", {}).items())
        if paper:
            px, py = zip(*paper)
            ax.plot(px, py, "o--", color=colour, mfc="none", label=f"{model} (paper)")
    ax.set_xlabel("window (s)")
    ax.set_ylabel("accuracy %")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)
