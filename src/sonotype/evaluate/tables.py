"""Markdown tables of results, laid out like the paper's, with its figures beside ours.

Rows are dicts; ``metrics`` is a dict from
:func:`sonotype.evaluate.metrics.clip_metrics` or ``frame_metrics``.
Percentages are printed to 2 decimals; a missing value is shown as "–".
"""

from __future__ import annotations

from .paper import PAPER, paper_clip_accuracy, paper_segment_accuracy

DASH = "–"
RECALL_CLASSES = ("speech", "music", "noise")


def _pct(value):
    return DASH if value is None else f"{100.0 * value:.2f}"


def _paper_pct(value):
    return DASH if value is None else f"{value:.2f}"


def _params(value):
    return DASH if value is None else f"{int(value):,}"


def _seconds(value):
    return DASH if value is None else f"{float(value):g}"


def markdown_table(header, body) -> str:
    """A markdown table: ``header`` (column names) and ``body`` (rows of cells, printed with ``str``),
    ending in a newline."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def _recalls(metrics):
    recall = metrics.get("recall", {})
    return [_pct(recall.get(c)) for c in RECALL_CLASSES]


def clip_table(rows):
    """Clip classification results, one line per (model, clip length).

    Parameters
    ----------
    rows : sequence of dict
        Keys ``model`` (name, a :data:`PAPER` key for the paper column),
        ``params`` (int or None), ``clip`` (seconds) and ``metrics``.

    Returns
    -------
    str
        A markdown table.
    """
    header = ["model", "params", "clip (s)", "accuracy %", "speech-vs-non-speech %",
              "recall speech %", "recall music %", "recall noise %", "macro-F1 %", "paper acc %"]
    body = []
    for row in rows:
        m = row["metrics"]
        body.append([row["model"], _params(row.get("params")), _seconds(row["clip"]),
                     _pct(m.get("accuracy")), _pct(m.get("speech_accuracy")), *_recalls(m),
                     _pct(m.get("macro_f1")),
                     _paper_pct(paper_clip_accuracy(row["model"], row["clip"]))])
    return markdown_table(header, body)


def results_grid(rows):
    """Model × clip-length accuracy grid beside the paper's (Table II form).

    Parameters
    ----------
    rows : sequence of dict
        As for :func:`clip_table`; ``params`` is optional.

    Returns
    -------
    str
        A markdown table with, per clip length, our accuracy and the paper's.
    """
    clips = sorted({float(r["clip"]) for r in rows})
    models, params, acc = [], {}, {}
    for r in rows:
        if r["model"] not in models:
            models.append(r["model"])
        params.setdefault(r["model"], r.get("params"))
        acc[r["model"], float(r["clip"])] = r["metrics"].get("accuracy")
    header = ["model", "params", "paper params"]
    for c in clips:
        header += [f"acc {c:g} s", f"paper {c:g} s"]
    body = []
    for model in models:
        line = [model, _params(params[model]), _params(PAPER.get(model, {}).get("params"))]
        for c in clips:
            line += [_pct(acc.get((model, c))), _paper_pct(paper_clip_accuracy(model, c))]
        body.append(line)
    return markdown_table(header, body)


def segment_table(rows):
    """Segmentation results (Table V form) with the standard metrics.

    Parameters
    ----------
    rows : sequence of dict
        Keys ``model``, ``window`` (context window, seconds), ``metrics`` (from
        ``frame_metrics``) and optionally ``smoothing`` and ``standard``
        (:meth:`sonotype.evaluate.standard.StandardMetrics.result`).

    Returns
    -------
    str
        A markdown table; the paper figure is given for the 1 s window only.
    """
    header = ["model", "smoothing", "window (s)", "frame accuracy %", "speech-vs-non-speech %",
              "recall speech %", "recall music %", "recall noise %", "detection error rate %",
              "coverage %", "purity %", "boundary P / R (±0.5 s) %", "paper frame acc %"]
    body = []
    for row in rows:
        m, st = row["metrics"], row.get("standard") or {}
        pr = (f"{_pct(st['boundary_precision'])} / {_pct(st['boundary_recall'])}"
              if "boundary_precision" in st else DASH)
        body.append([row["model"], row.get("smoothing", "median"), _seconds(row["window"]), _pct(m.get("accuracy")),
                     _pct(m.get("speech_accuracy")), *_recalls(m), _pct(st.get("detection_error_rate")),
                     _pct(st.get("coverage")), _pct(st.get("purity")), pr,
                     _paper_pct(paper_segment_accuracy(row["model"], row["window"]))])
    return markdown_table(header, body)


def source_table(sources: dict) -> str:
    """Accuracy of each source's clips (the recall of its class), worst first.

    ``sources`` maps a source to ``{"label", "files", "n", "accuracy"}``.
    """
    rows = sorted(sources.items(), key=lambda kv: (kv[1]["accuracy"], kv[0]))
    return markdown_table(["source", "class", "files", "clips", "accuracy %"],
                     [[s or DASH, v["label"], v["files"], v["n"], _pct(v["accuracy"])] for s, v in rows])
