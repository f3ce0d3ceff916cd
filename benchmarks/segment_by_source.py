"""Per-source frame accuracy of a model on a synth-segments corpus (silence excluded).

Usage: python benchmarks/segment_by_source.py MODEL DIR   (e.g. wide runs/synth100)
Prints, worst first, each (class, source): frames, accuracy and what the frames were called.
"""
import sys, csv, collections, numpy as np
from pathlib import Path
from sonotype.infer.segment import Segmenter
from sonotype.evaluate.segments import score_file
model, data = sys.argv[1], Path(sys.argv[2])
seg = Segmenter(model)
tot = collections.defaultdict(lambda: collections.Counter())
for row in csv.DictReader(open(data / "index.csv")):
    true, pred, _ = score_file(seg, data / row["audio"], data / row["truth"])
    for r in csv.DictReader(open(data / row["truth"])):
        if r["label"] == "silence": continue
        a, b = int(round(float(r["start"]) / 0.01)), int(round(float(r["end"]) / 0.01))
        t, p = true[a:b], pred[a:b]
        keep = t != "silence"
        src = r["source"].split("/")[-2]
        c = tot[(r["label"], src)]
        c["n"] += int(keep.sum()); c["ok"] += int((p[keep] == t[keep]).sum())
        for lab in ("speech", "music", "noise", "silence"): c[lab] += int((p[keep] == lab).sum())
rows = sorted(tot.items(), key=lambda kv: -kv[1]["n"] + kv[1]["ok"])
for (lab, src), c in rows:
    print(f"{lab:7s} {src:22s} n={c['n']:7d} acc={100*c['ok']/max(1,c['n']):5.1f}  sp={c['speech']} mu={c['music']} no={c['noise']} si={c['silence']}")
