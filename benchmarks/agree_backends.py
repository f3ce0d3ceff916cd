"""Raw-audio ONNX vs torch path on a synth-segments corpus: frame labels, segments and probabilities.

Usage: python benchmarks/agree_backends.py [GLOB]   (default runs/synth100/synth-*.wav, made by
`sonotype synth-segments --corpus musan:../shared/data/minimusan --subset test --n 100 --out runs/synth100`)
"""
import glob, json, sys
import numpy as np
from sonotype.infer import Classifier, Segmenter
out = {}
for model in ("wide", "slim"):
    onnx = Segmenter(Classifier(model, backend="onnx"))
    torch = Segmenter(Classifier(model, backend="torch"))
    same_labels = same_segments = 0
    worst = 0.0
    files = sorted(glob.glob(sys.argv[1] if len(sys.argv) > 1 else "runs/synth100/synth-*.wav"))
    for f in files:
        a, b = onnx.segment(f), torch.segment(f)
        same_labels += bool(np.array_equal(a.frame_labels, b.frame_labels))
        same_segments += [(s.start, s.end, s.label) for s in a.segments] == [(s.start, s.end, s.label) for s in b.segments]
        worst = max(worst, float(np.abs(a.probs - b.probs).max()) if len(a.probs) else 0.0)
    out[model] = {"files": len(files), "identical_frame_labels": same_labels, "identical_segments": same_segments,
                  "max_prob_diff": worst}
    print(model, out[model], flush=True)
json.dump(out, open("runs/agree-synth100.json", "w"), indent=1)
