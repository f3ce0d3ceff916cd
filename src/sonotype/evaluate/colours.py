"""Colours per label, shared by the figures and the HTML report (no plotting library needed)."""
from __future__ import annotations

# fixed colour per label, shared with the HTML report
LABEL_COLOURS = {
    "speech": "#1f77b4",
    "music": "#ff7f0e",
    "noise": "#2ca02c",
    "silence": "#c7c7c7",
}
_OTHER_COLOURS = ("#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#d62728")


def label_colour(label):
    """Colour (hex) of a label; unknown labels get a stable colour of their own."""
    if label in LABEL_COLOURS:
        return LABEL_COLOURS[label]
    return _OTHER_COLOURS[sum(map(ord, str(label))) % len(_OTHER_COLOURS)]
