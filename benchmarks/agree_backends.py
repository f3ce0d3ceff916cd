"""Raw-audio ONNX vs torch path on a synth-segments corpus: frame labels, segments and probabilities.

Usage: python benchmarks/agree_backends.py [GLOB] [--dft folded|direct|factored] [--out JSON]
(default runs/synth100/synth-*.wav, made by `sonotype synth-segments --corpus musan:../shared/data/minimusan
--subset test --n 100 --out runs/synth100`). Without ``--dft`` the bundled ``.onnx`` graphs are compared as
shipped; ``--dft D`` exports the bundled checkpoints with that DFT (``sonotype export --dft D``) into a
temporary folder and compares those instead. Reported per model: files with identical frame labels and
segments, the largest difference of a window-averaged frame probability over all frames and over the frames
labelled a class (not silence), whose probabilities are the decoder's input.
"""
import argparse
import glob
import json
import tempfile
from pathlib import Path

import numpy as np

from sonotype.export.dft import DFTS
from sonotype.export.raw import export_raw
from sonotype.infer import Classifier, Segmenter

ap = argparse.ArgumentParser()
ap.add_argument("files", nargs="?", default="runs/synth100/synth-*.wav")
ap.add_argument("--dft", choices=list(DFTS), default=None)
ap.add_argument("--out", default="runs/agree-synth100.json")
args = ap.parse_args()
out, tmp = {}, Path(tempfile.mkdtemp())
files = sorted(glob.glob(args.files))
for model in ("wide", "slim"):
    core = model if args.dft is None else str(export_raw(model, tmp / f"{model}.onnx", dft=args.dft))
    onnx = Segmenter(Classifier(core, backend="onnx"))
    torch = Segmenter(Classifier(model, backend="torch"))
    same_labels = same_segments = 0
    worst = worst_class = 0.0
    for f in files:
        a, b = onnx.segment(f), torch.segment(f)
        same_labels += bool(np.array_equal(a.frame_labels, b.frame_labels))
        same_segments += [(s.start, s.end, s.label) for s in a.segments] == [(s.start, s.end, s.label) for s in b.segments]
        diff = np.abs(a.probs - b.probs).max(1) if len(a.probs) else np.zeros(0)
        worst = max(worst, float(diff.max(initial=0.0)))
        # frames labelled a class (not silence): where the probabilities are the decision's input
        worst_class = max(worst_class, float(diff[a.frame_labels < len(a.classes) - 1].max(initial=0.0)))
    out[model] = {"files": len(files), "dft": onnx.classifier.model.metadata.get("dft", "direct"),
                  "identical_frame_labels": same_labels,
                  "identical_segments": same_segments, "max_prob_diff": worst,
                  "max_prob_diff_class_frames": worst_class}
    print(model, out[model], flush=True)
json.dump(out, open(args.out, "w"), indent=1)
