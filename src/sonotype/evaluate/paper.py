"""The SwishNet paper's reported figures, in one table.

Accuracies are percentages, as printed in the paper (MUSAN test split
unless noted). ``None`` means the paper gives no figure.

- ``clip_accuracy``: {clip length in s: accuracy %}.
- ``cpu_ms``: CPU time per 1 s clip, batch 1.
- ``segment_accuracy``: frame accuracy of segmentation with a 1 s window,
  silence frames excluded.
- ``gtzan_accuracy``: GTZAN music/speech, 2 s clips, after fine-tuning.
"""

PAPER = {
    "gmm": {
        "name": "GMM", "params": 92_416,
        "clip_accuracy": {0.5: 96.53, 1.0: 97.33, 2.0: 97.79},
        "cpu_ms": 3.6, "segment_accuracy": None, "gtzan_accuracy": None,
    },
    "snn": {
        "name": "SNN", "params": 179_203,
        "clip_accuracy": {0.5: 97.07, 1.0: 97.41, 2.0: 97.71},
        "cpu_ms": 0.92, "segment_accuracy": None, "gtzan_accuracy": None,
    },
    "slim": {
        "name": "SwishNet-slim", "params": 5_483,
        "clip_accuracy": {0.5: 97.64, 1.0: 98.20, 2.0: 98.41},
        "cpu_ms": 0.88, "segment_accuracy": 93.26, "gtzan_accuracy": 98.00,
    },
    # the paper's clip table only lists the distilled wide model
    "wide": {
        "name": "SwishNet-wide", "params": 18_267,
        "clip_accuracy": {},
        "cpu_ms": None, "segment_accuracy": 94.11, "gtzan_accuracy": 98.26,
    },
    "wide-distilled": {
        "name": "SwishNet-wide, distilled", "params": 18_267,
        "clip_accuracy": {0.5: 98.05, 1.0: 98.54, 2.0: 98.92},
        "cpu_ms": 1.1, "segment_accuracy": None, "gtzan_accuracy": None,
    },
    "mobilenet": {
        "name": "MobileNet, ImageNet init", "params": 217_235,
        "clip_accuracy": {0.5: 98.94, 1.0: 99.24, 2.0: 99.38},
        "cpu_ms": 5.27, "segment_accuracy": 96.26, "gtzan_accuracy": 98.83,
    },
}

# window (s) the paper's segmentation figures were measured with
SEGMENT_WINDOW_S = 1.0
# clip length (s) of the GTZAN music/speech figures
GTZAN_CLIP_S = 2.0
# the paper's per-class weak spot: noise recall range on MUSAN
NOISE_RECALL_RANGE = (0.78, 0.94)


def paper_clip_accuracy(model, clip_s):
    """Paper's clip accuracy (%) of ``model`` at ``clip_s`` seconds, or None."""
    entry = PAPER.get(model)
    if entry is None:
        return None
    return entry["clip_accuracy"].get(round(float(clip_s), 3))


def paper_segment_accuracy(model, window_s=SEGMENT_WINDOW_S):
    """Paper's segmentation frame accuracy (%), or None.

    Only the 1 s window was reported, so other windows give None.
    """
    entry = PAPER.get(model)
    if entry is None or abs(float(window_s) - SEGMENT_WINDOW_S) > 1e-6:
        return None
    return entry["segment_accuracy"]
