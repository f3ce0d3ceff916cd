"""The paper's distillation experiment: SwishNet-slim and -wide with and without a MobileNet teacher.

For every clip length :func:`reproduce_distill` trains (each under ``out/<name>-<clip>s``):

* ``slim``, ``wide``: undistilled;
* ``mobilenet``: MobileNet α = 0.25 from random init, the teacher;
* ``slim-distilled``, ``wide-distilled``: distilled from that teacher (T given or ``"auto"``);
* ``mobilenetv2-imagenet``: MobileNetV2 from ImageNet weights, when ``imagenet`` is given or
  the optional weights package is installed (skipped otherwise, and the table says so).

and writes ``distill.md`` (one row per model: parameters, test accuracy per clip length
and the paper's figures beside) and ``distill.json``.
"""
from __future__ import annotations

from pathlib import Path

from .evaluate.paper import PAPER
from .experiment import train_model, write_json, write_text
from .models.pretrained import find_imagenet_weights

PAPER_KEY = {"slim": "slim", "wide": "wide", "slim-distilled": "slim", "wide-distilled": "wide-distilled",
             "mobilenet": None, "mobilenetv2-imagenet": "mobilenet"}


def _paper(name: str, clip: float):
    entry = PAPER.get(PAPER_KEY.get(name) or "")
    acc = entry["clip_accuracy"].get(round(float(clip), 3)) if entry else None
    return "–" if acc is None else f"{acc:.2f}"


def reproduce_distill(corpus: str, out, clips=(0.5, 1.0, 2.0), epochs: int = 60, teacher_epochs: int | None = None,
                      temperature="auto", alpha: float = 0.9, imagenet=None, seed: int = 0, log=print,
                      **config) -> str:
    """Train the distillation table's models at every clip length; returns the markdown table."""
    out = Path(out)
    weights = imagenet or find_imagenet_weights()
    teacher_epochs = teacher_epochs or epochs
    results: dict = {}
    for clip in clips:
        tag = f"{clip:g}s"

        def run(name, model, clip=clip, tag=tag, **kw):
            r = train_model(corpus, model, clip, out / f"{name}-{tag}", seed=seed, log=log, **{**config, **kw})
            results.setdefault(name, {})[clip] = {"accuracy": r["test"]["accuracy"], "params": r["test"]["params"],
                                                  "temperature": (r.get("distill") or {}).get("temperature")}
            return r
        run("slim", "slim", epochs=epochs)
        run("wide", "wide", epochs=epochs)
        teacher = run("mobilenet", "mobilenet", epochs=teacher_epochs, model_kwargs={"alpha": 0.25})["checkpoint"]
        run("slim-distilled", "slim", epochs=epochs, teacher=teacher, temperature=temperature, alpha=alpha)
        run("wide-distilled", "wide", epochs=epochs, teacher=teacher, temperature=temperature, alpha=alpha)
        if weights:
            run("mobilenetv2-imagenet", "mobilenetv2", epochs=teacher_epochs, init=f"imagenet:{weights}")
    names = [n for n in PAPER_KEY if n in results]
    head = ["model", "params"] + [f"acc {c:g} s %" for c in clips] + [f"paper {c:g} s %" for c in clips] + ["T"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n in names:
        r = results[n]
        params = next(iter(r.values()))["params"]
        ts = [r[c]["temperature"] for c in clips if r.get(c, {}).get("temperature") is not None]
        lines.append("| " + " | ".join([n, f"{params:,}"]
                                       + [f"{100 * r[c]['accuracy']:.2f}" if c in r else "–" for c in clips]
                                       + [_paper(n, c) for c in clips]
                                       + ["/".join(f"{t:g}" for t in ts) or "–"]) + " |")
    note = "" if weights else "\nMobileNetV2 with ImageNet init skipped: no weights (pass --imagenet PATH or " \
                              "install sonotype[imagenet]).\n"
    text = ("## Distillation (test split)\n\nTeacher: MobileNet α = 0.25 from random init; T = distillation "
            "temperature per clip length. Paper figures: SwishNet-slim (undistilled), SwishNet-wide distilled, "
            "MobileNet from ImageNet.\n\n" + "\n".join(lines) + "\n" + note)
    write_json(out / "distill.json", {n: {str(c): v for c, v in r.items()} for n, r in results.items()})
    write_text(out / "distill.md", text)
    return text
