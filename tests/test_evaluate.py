"""Metrics, paper tables and figures."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from sonotype.evaluate import figures, tables
from sonotype.evaluate.metrics import clip_metrics, frame_metrics
from sonotype.evaluate.paper import PAPER, paper_clip_accuracy, paper_segment_accuracy
from sonotype.infer.formats import Segment

CLASSES = ["speech", "music", "noise"]


def test_clip_metrics_hand_computed():
    y_true = ["speech", "speech", "music", "music", "noise", "noise"]
    y_pred = ["speech", "music", "music", "music", "noise", "speech"]
    m = clip_metrics(y_true, y_pred, CLASSES)
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    # speech vs other: agree on clips 0, 2, 3, 4
    assert m["speech_accuracy"] == pytest.approx(4 / 6)
    assert m["recall"] == pytest.approx({"speech": 0.5, "music": 1.0, "noise": 0.5})
    assert m["precision"] == pytest.approx({"speech": 0.5, "music": 2 / 3, "noise": 1.0})
    assert m["f1"] == pytest.approx({"speech": 0.5, "music": 0.8, "noise": 2 / 3})
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["classes"] == CLASSES
    json.dumps(m)  # plain data only


def test_clip_metrics_rejects_bad_input():
    with pytest.raises(ValueError):
        clip_metrics([], [], CLASSES)
    with pytest.raises(ValueError):
        clip_metrics(["speech"], ["speech", "music"], CLASSES)
    with pytest.raises(ValueError):
        clip_metrics(["laughter"], ["speech"], CLASSES)


def test_frame_metrics_excludes_silence_and_counts_unknown_prediction():
    true = ["speech", "silence", "speech", "music", "silence"]
    pred = ["silence", "speech", "speech", "music", "music"]
    m = frame_metrics(true, pred, CLASSES)
    assert m["n"] == 3 and m["n_excluded"] == 2
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["speech_accuracy"] == pytest.approx(2 / 3)
    assert m["recall"]["speech"] == pytest.approx(0.5)
    assert m["confusion_columns"] == CLASSES + ["silence"]
    assert m["confusion"] == [[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 0, 0]]
    json.dumps(m)


def test_frame_metrics_all_silence_is_an_error():
    with pytest.raises(ValueError):
        frame_metrics(["silence"] * 3, ["speech"] * 3, CLASSES)


def test_paper_table():
    assert set(PAPER) == {"gmm", "snn", "slim", "wide", "wide-distilled", "mobilenet"}
    assert paper_clip_accuracy("slim", 1) == 98.20
    assert paper_clip_accuracy("mobilenet", 0.5) == 98.94
    assert paper_clip_accuracy("nope", 1) is None
    assert paper_segment_accuracy("wide") == 94.11
    assert paper_segment_accuracy("wide", 2.0) is None
    assert PAPER["mobilenet"]["gtzan_accuracy"] == 98.83


def _metrics():
    return clip_metrics(["speech", "music", "noise", "noise"],
                        ["speech", "music", "noise", "music"], CLASSES)


def test_clip_table_has_paper_column():
    rows = [{"model": "slim", "params": 5483, "clip": 1.0, "metrics": _metrics()},
            {"model": "mine", "params": None, "clip": 0.5, "metrics": _metrics()}]
    text = tables.clip_table(rows)
    lines = text.strip().splitlines()
    assert "paper acc %" in lines[0] and len(lines) == 4
    assert "| slim | 5,483 | 1 | 75.00 | 100.00 | 100.00 | 100.00 | 50.00 |" in text
    assert lines[2].endswith("| 98.20 |")
    assert lines[3].endswith("| – |")


def test_results_grid_and_segment_table():
    rows = [{"model": "gmm", "params": 92416, "clip": c, "metrics": _metrics()} for c in (0.5, 2.0)]
    grid = tables.results_grid(rows)
    assert "acc 0.5 s" in grid and "paper 2 s" in grid
    assert "| gmm | 92,416 | 92,416 | 75.00 | 96.53 | 75.00 | 97.79 |" in grid
    fm = frame_metrics(["speech", "silence", "music"], ["speech", "speech", "noise"], CLASSES)
    seg = tables.segment_table([{"model": "mobilenet", "window": 1.0, "metrics": fm},
                                {"model": "mobilenet", "window": 2.0, "metrics": fm}])
    lines = seg.strip().splitlines()
    assert lines[2].startswith("| mobilenet | median | 1 | 50.00 |") and lines[2].endswith("| 96.26 |")
    assert lines[3].endswith("| – |")


def _check_png(path):
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50
    assert image[..., :3].std() > 0.01  # not blank


def test_figures_write_pngs(tmp_path):
    fm = frame_metrics(["speech", "music", "noise", "speech"],
                       ["speech", "music", "silence", "noise"], CLASSES)
    path = figures.plot_confusion(fm["confusion"], CLASSES, tmp_path / "confusion.png",
                                  title="test", columns=fm["confusion_columns"])
    _check_png(path)
    _check_png(figures.plot_confusion(fm["confusion"], CLASSES, tmp_path / "counts.png",
                                      normalise=False, columns=fm["confusion_columns"]))
    segments = [Segment(0, 2, "speech", 0.9), Segment(2, 3, "silence", 0.8),
                Segment(3, 5, "music", 0.7)]
    truth = [Segment(0, 2.5, "speech", 1.0), Segment(2.5, 5, "music", 1.0)]
    probs = np.random.default_rng(0).dirichlet([1, 1, 1], size=500)
    _check_png(figures.plot_timeline(segments, 5.0, tmp_path / "timeline.png",
                                     truth=truth, probs=probs, hop_s=0.01, classes=CLASSES))
    _check_png(figures.plot_timeline(segments, 5.0, tmp_path / "plain.png"))
    rows = [{"model": "slim", "window": w, "accuracy": a} for w, a in ((0.5, 0.9), (1, 0.95), (2, 0.97))]
    rows.append({"model": "mine", "clip": 1.0, "metrics": {"accuracy": 0.8}})
    _check_png(figures.plot_accuracy_by_window(rows, tmp_path / "by_window.png"))


def test_label_colours_fixed():
    assert figures.label_colour("speech") == figures.LABEL_COLOURS["speech"]
    # an unknown label gets one of the other colours, never a known label's
    unknown = ["laughter", "applause", "birds", "engine", "rain", "bells"]
    colours = [figures.label_colour(x) for x in unknown]
    assert set(colours) <= set(figures._OTHER_COLOURS)
    assert not set(colours) & set(figures.LABEL_COLOURS.values())
    assert len(set(colours)) > 1  # not one colour for all of them
    # stable across interpreters: str hashes are salted per process, the colour must not be
    code = "from sonotype.evaluate.figures import label_colour as c; print(' '.join(map(c, %r)))" % unknown
    src = str(Path(figures.__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": src}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == colours


def test_standard_metrics_hand_made():
    from sonotype.evaluate.standard import StandardMetrics
    true = np.array(["speech"] * 100 + ["music"] * 100, dtype=object)      # boundary at 1.0 s
    st = StandardMetrics()
    st.add(true, np.array(["speech"] * 130 + ["music"] * 70, dtype=object))  # 0.3 s late: matched
    r = st.result()
    assert r["detection_error_rate"] == pytest.approx(0.3)                  # 0.3 s false alarm / 1 s speech
    assert r["boundary_precision"] == r["boundary_recall"] == 1.0
    assert r["purity"] == pytest.approx(1.7 / 2) and r["coverage"] == pytest.approx(1.7 / 2)
    st.add(true, np.array(["speech"] * 170 + ["music"] * 30, dtype=object))  # 0.7 s late: a miss
    r = st.result()
    assert r["boundary_precision"] == r["boundary_recall"] == 0.5
    assert r["detection_error_rate"] == pytest.approx(1.0 / 2)
