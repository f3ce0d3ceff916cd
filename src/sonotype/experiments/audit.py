"""Label audit: rank files whose out-of-fold predictions disagree most with their label.

Confident learning (:mod:`cleanlab`) on the file probabilities of source-fold models
(:func:`~sonotype.experiments.sources.reproduce_sources` writes them to ``oof.csv``).
"""
from __future__ import annotations

import csv
import html
import io
from pathlib import Path

import numpy as np

from ..atomic import write_text


def read_oof(path):
    """``(rows, classes, labels (n,), probs (n, classes))`` from an ``oof.csv``."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path}: no predictions")
    classes = [k[2:] for k in rows[0] if k.startswith("p_")]
    P = np.array([[float(r[f"p_{c}"]) for c in classes] for r in rows])
    P = P / np.maximum(P.sum(1, keepdims=True), 1e-12)
    labels = np.array([classes.index(r["label"]) for r in rows])
    return rows, classes, labels, P


def audit_labels(oof, out, top: int = 50) -> list:
    """Rank the files of ``oof`` (an ``oof.csv``) by label quality; write the audit.

    Writes ``audit.csv`` (every file, worst first, with cleanlab's self-confidence
    score and whether confident learning flags it), ``audit.md`` (the ``top`` worst) and
    ``audit.html`` (the same with an audio player per file).

    Returns
    -------
    list of dict
        The ranked rows.
    """
    try:
        from cleanlab.filter import find_label_issues
        from cleanlab.rank import get_label_quality_scores
    except ImportError:
        raise ValueError("the label audit needs cleanlab: pip install 'sonotype[audit]'") from None
    rows, classes, labels, P = read_oof(oof)
    quality = get_label_quality_scores(labels, P, method="self_confidence")
    flagged = find_label_issues(labels, P, filter_by="prune_by_noise_rate")
    ranked = []
    for k in np.argsort(quality, kind="stable"):
        r = rows[k]
        ranked.append({"path": r["path"], "label": r["label"], "source": r["source"], "clips": int(r["clips"]),
                       "predicted": classes[int(P[k].argmax())], "p_label": float(P[k, labels[k]]),
                       "quality": float(quality[k]), "flagged": bool(flagged[k])})
    out = Path(out)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(ranked[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(ranked)
    write_text(out / "audit.csv", buf.getvalue())
    n_flag = int(flagged.sum())
    head = (f"{n_flag} of {len(ranked)} files flagged by confident learning (cleanlab, prune by noise rate) "
            f"on out-of-fold predictions; the {min(top, len(ranked))} with the lowest probability of their label:\n")
    lines = [head, "| rank | file | label | source | predicted | p(label) | flagged |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {i + 1} | {Path(r['path']).name} | {r['label']} | {r['source']} | {r['predicted']} | "
              f"{r['p_label']:.3f} | {'yes' if r['flagged'] else ''} |" for i, r in enumerate(ranked[:top])]
    write_text(out / "audit.md", "\n".join(lines) + "\n")
    write_text(out / "audit.html", _page(head, ranked[:top]))
    return ranked


def _page(head: str, rows) -> str:
    body = "".join(
        f"<tr><td>{i + 1}</td><td>{html.escape(Path(r['path']).name)}<br><audio controls preload=none "
        f"src=\"{html.escape(Path(r['path']).resolve().as_uri())}\"></audio></td><td>{r['label']}</td>"
        f"<td>{html.escape(r['source'])}</td><td>{r['predicted']}</td><td>{r['p_label']:.3f}</td>"
        f"<td>{'yes' if r['flagged'] else ''}</td></tr>" for i, r in enumerate(rows))
    return ("<!doctype html><meta charset=utf-8><title>sonotype label audit</title>"
            "<style>body{font:14px sans-serif;margin:2em}td,th{border-bottom:1px solid #ddd;padding:4px 8px}"
            "audio{height:28px;width:260px}</style>"
            f"<h1>Label audit</h1><p>{html.escape(head)}</p><table><tr><th>rank</th><th>file</th><th>label</th>"
            f"<th>source</th><th>predicted</th><th>p(label)</th><th>flagged</th></tr>{body}</table>\n")
