"""Clip and frame scores in the paper's terms.

All values are fractions in 0..1 and every result is a plain,
JSON-serialisable dict with the keys

``n``, ``accuracy``, ``speech_accuracy`` (speech vs non-speech),
``recall``, ``precision``, ``f1`` (``{class: value}``), ``macro_f1``,
``confusion`` (rows: true class in ``classes`` order; columns:
``confusion_columns``, i.e. ``classes`` followed by any other predicted
label), ``confusion_columns`` and ``classes``.

Per-class scores follow sklearn with ``zero_division=0``: a class with no
true (predicted) sample gets recall (precision) 0, and ``macro_f1`` is the
plain mean over ``classes``, so score pooled data rather than single files.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support


def _as_labels(values):
    return np.array([str(v) for v in np.asarray(values, dtype=object).ravel()], dtype=object)


def _scores(y_true, y_pred, classes, speech_label):
    """Scores of string labels; true labels must be in ``classes``."""
    classes = [str(c) for c in classes]
    unknown_true = sorted(set(y_true) - set(classes))
    if unknown_true:
        raise ValueError(f"true labels not in classes: {unknown_true}")
    extra = sorted(set(y_pred) - set(classes))
    columns = classes + extra
    # rows of the extra labels are all zero (no true sample has them): drop them
    conf = confusion_matrix(y_true, y_pred, labels=columns)[: len(classes)]
    prec, rec, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, zero_division=0)
    is_speech_true = y_true == speech_label
    is_speech_pred = y_pred == speech_label
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "speech_accuracy": float(np.mean(is_speech_true == is_speech_pred)),
        "recall": {c: float(v) for c, v in zip(classes, rec)},
        "precision": {c: float(v) for c, v in zip(classes, prec)},
        "f1": {c: float(v) for c, v in zip(classes, f1)},
        "macro_f1": float(np.mean(f1)),
        "confusion": conf.astype(int).tolist(),
        "confusion_columns": columns,
        "classes": classes,
    }


def _check(y_true, y_pred):
    y_true, y_pred = _as_labels(y_true), _as_labels(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(f"length mismatch: {len(y_true)} true vs {len(y_pred)} predicted")
    if len(y_true) == 0:
        raise ValueError("no labels to score")
    return y_true, y_pred


def clip_metrics(y_true, y_pred, classes, speech_label="speech"):
    """Score clip decisions.

    Parameters
    ----------
    y_true, y_pred : sequence of str
        True and predicted class names, one per clip.
    classes : sequence of str
        Class order for per-class scores and confusion rows.
    speech_label : str
        Class that counts as speech for the speech-vs-non-speech accuracy.

    Returns
    -------
    dict
        See the module docstring.

    Raises
    ------
    ValueError
        On empty input, unequal lengths or a true label outside ``classes``.
    """
    y_true, y_pred = _check(y_true, y_pred)
    return _scores(y_true, y_pred, classes, speech_label)


def frame_metrics(true_frames, pred_frames, classes, ignore=("silence",), speech_label="speech"):
    """Score frame labels of a segmentation, as in the paper.

    Frames whose *true* label is in ``ignore`` are left out (the paper does
    not score silence). A predicted label outside ``classes`` (e.g.
    ``"silence"`` over true speech) counts as an error and gets its own
    confusion column.

    Parameters
    ----------
    true_frames, pred_frames : sequence of str
        True and predicted label per frame.
    classes : sequence of str
        Scored classes.
    ignore : sequence of str
        True labels whose frames are excluded.
    speech_label : str
        Class that counts as speech for the speech-vs-non-speech accuracy.

    Returns
    -------
    dict
        The keys of :func:`clip_metrics` plus ``n_excluded``.

    Raises
    ------
    ValueError
        On empty input, unequal lengths, no frame left after exclusion, or a
        true label outside ``classes`` and ``ignore``.
    """
    y_true, y_pred = _check(true_frames, pred_frames)
    keep = ~np.isin(y_true, list(ignore))
    if not keep.any():
        raise ValueError(f"every frame has a true label in {tuple(ignore)}")
    result = _scores(y_true[keep], y_pred[keep], classes, speech_label)
    result["n_excluded"] = int((~keep).sum())
    return result
