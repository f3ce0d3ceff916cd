"""Rebuild the bundled default models (SwishNet slim and wide) from minimusan, reproducibly.

    python scripts/build_default_models.py [--corpus musan:../shared/data/minimusan] [--runs runs/default]
        [--models slim,wide] [--recipe rel30-ema] [--epochs 41] [--cv [MODEL=]DIR [--cv ...]]

Trains each model with the recipe below (seeded), evaluates it on the test split, and copies the
best checkpoint into src/sonotype/assets/models/<name>.pt, its raw-audio ONNX export (what the core
install runs) into <name>.onnx, and a model card <name>.md. With
``--cv`` the card quotes that source-fold cross-validation (``sonotype reproduce sources``; one table per ``--cv``).
The recipe was chosen by source-fold cross-validation, never on the test split (README, Results).
"""
import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from sonotype.export.raw import export_raw
from sonotype.experiment import train_model
from sonotype.experiments.sources import DEPLOYED, RECIPES

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "src" / "sonotype" / "assets" / "models"
EXCLUDE = ROOT / "exclusions" / "minimusan.csv"
EPOCHS = {"slim": 41, "wide": 41}  # SGDR's fourth cycle ends at 40.6 epochs (the third at 23.75)
RECIPE = {"clip": 2.0, "epoch_clips": 10000, "updates_per_epoch": 100, "patience": 12, "lr": 3e-3,
          "seed": 0}
# the teacher of a distillation recipe: trained first on the same split, at the budget its source-fold CV used
TEACHER_RECIPE = "teacher-rel30"
TEACHER = {"model": "mobilenetv2", "epochs": 5, "epoch_clips": 4000, "updates_per_epoch": 100}
WAVE_COPY = """
  **{copies} of every training file** beside the original (`sonotype.data.augment`:
  a noise mix at 0–20 dB SNR, gain, a real 8 kHz telephone band, OGG Vorbis re-encoding, reverb) and"""


def wave_copy_text(recipe: str) -> str:
    """The recipe's waveform copies, in words ('' without them)."""
    aug = RECIPES[recipe].get("augment")
    if aug is None:
        return ""
    n = int(aug.copies)
    return WAVE_COPY.format(copies="one waveform-augmented copy" if n == 1 else f"{n} waveform-augmented copies")
PAPER_INPUT = {"slim": 5675, "wide": 17635}  # count_parameters(build_model(name, n_in=20))


def silence_text(recipe: str) -> str:
    """The recipe's silence removal, in words."""
    prep = RECIPES[recipe].get("prep")
    rel = getattr(prep, "silence_rel_db", None)
    return ("silence removed below -50 dBFS" if rel is None else
            f"silence removed below -50 dBFS **and {rel:g} dB or more under the signal's loud level** (95th "
            "percentile of its 50 ms windows: the floor between isolated words is dropped, not equalised up)")


def teacher_text(r) -> str:
    """The card's line on the distillation teacher ('' for a model trained without one)."""
    d = r.get("distill")
    if not d:
        return ""
    t = json.loads((Path(d["teacher"]).parent / "train.json").read_text())["test"]
    sweep = f" (chosen on validation from {', '.join(sorted(d['sweep'], key=float))})" if d.get("sweep") else ""
    return (f"\n- **Teacher**: {TEACHER['model']} from ImageNet weights ({t['params']:,} parameters, recipe "
            f"`{TEACHER_RECIPE}`, {TEACHER['epochs']} epochs of {TEACHER['epoch_clips']:,} clips) trained first on the "
            f"same split (test accuracy {100 * t['accuracy']:.2f} %); loss {d['alpha']:g} × soft targets at "
            f"T = {float(d['temperature']):g}{sweep} + {1 - d['alpha']:g} × labels, each clip's soft target "
            "being the teacher's logits of the clip before its log-mel augmentation.")


def average_text(recipe: str) -> str:
    """The recipe's weight averaging, in words ('' without it)."""
    decay = RECIPES[recipe].get("ema", 0.0)
    return (f" **The weights validated and kept are an exponential moving average** of the trained ones (decay "
            f"{decay:g} per step, `TrainConfig.ema`)." if decay else "")


def kept_text(r) -> str:
    """Which epoch's weights a training result kept: "Weights of epoch 41 of 41 (the last)"."""
    kept, n = r.get("kept_epoch", r.get("best_epoch")), len(r.get("history", []))
    return f"Weights of epoch {kept} of {n} ({'the last' if kept == n else 'the best on validation'})"


def card(name, r, corpus, cmd, cv_text, epochs, recipe=DEPLOYED):
    t = r["test"]
    shown = {"clip": RECIPE["clip"], "deltas": RECIPES[recipe]["deltas"], **RECIPE, "epochs": epochs}
    rec = ", ".join(f"{k} {v}" for k, v in shown.items())
    pct = lambda v: f"{100 * v:.2f} %"
    worst = ", ".join(f"{s} {100 * v['accuracy']:.1f} %" for s, v in list(t["sources"].items())[:3])
    cv = (f"\n## Source-fold cross-validation (each table names its model and folder; the README's results give "
          f"each folder's command and budget: 10,000 clips per epoch at the bundled models' budget, {epochs} epochs "
          f"for `{recipe}` as in this build, 8 × 6,000 clips at the sweep budget)\n\n{cv_text}" if cv_text else "")
    return f"""# SwishNet-{name} (bundled default{' — used by `sonotype classify` without --model' if name == 'wide' else ''})

- **Data**: `{corpus}` (minimusan: real recordings in MUSAN's layout, 16 kHz), seeded group split
  65/10/25 per class (seed 0): trained on train, early-stopped on val, tested on test; files in
  `exclusions/minimusan.csv` (label-audit suspects) left out of every split.
- **Recipe**: {rec}; Adam, SGDR (lr {RECIPE['lr']} → 1e-5, cycle 5 epochs × 1.5), class-weighted
  cross-entropy (recipe `{recipe}` of `sonotype reproduce sources`); each epoch draws {RECIPE['epoch_clips']}
  random training clips;{wave_copy_text(recipe)}
  **log-mel augmentation drawn afresh for every clip** (`sonotype.data.melaug`: a background from the
  training split under speech and music at 5–25 dB SNR, random EQ ±10 dB, telephone / AM / low-pass band
  limits, a room tail with RT60 0.2–1.2 s, ±6 dB gain, SpecAugment time and band masks). Input: 20 MFCCs /
  32 mel bands / 25 ms / 10 ms **with Δ and ΔΔ stacked as 60 input channels**, {silence_text(recipe)}, loudness
  equalised over 250 ms windows.{average_text(recipe)}{teacher_text(r)}
- **Parameters**: {t['params']:,} ({PAPER_INPUT[name]:,} with the paper's 20 static MFCC inputs: the 60 input
  channels widen block 1 only). {kept_text(r)}; training took
  {r['seconds']:.0f} s on this machine's 2-core CPU (one torch thread).
- **Test split, {RECIPE['clip']:g} s clips** ({t['n']} clips from {t['files']} files): accuracy {pct(t['accuracy'])},
  speech-vs-non-speech {pct(t['speech_accuracy'])}, recall speech {pct(t['recall']['speech'])} /
  music {pct(t['recall']['music'])} / noise {pct(t['recall']['noise'])}, macro-F1 {pct(t['macro_f1'])}.
  Weakest test sources: {worst}.
- **Rebuilt by**: `{cmd}`
{cv}"""


def train_teacher(corpus: str, runs: Path) -> Path:
    """Train (or resume) the distillation teacher under ``runs/teacher``; returns its checkpoint."""
    done = runs / "teacher" / "train.json"
    if done.is_file() and "test" in json.loads(done.read_text()):  # trained and tested: resume nothing
        return runs / "teacher" / "model.pt"
    cfg = {k: v for k, v in TEACHER.items() if k != "model"}
    r = train_model(corpus, TEACHER["model"], RECIPE["clip"], runs / "teacher", seed=RECIPE["seed"],
                    exclude_list=EXCLUDE, **RECIPES[TEACHER_RECIPE], **cfg)
    print(f"teacher {TEACHER['model']}: test acc {r['test']['accuracy']:.4f}")
    return runs / "teacher" / "model.pt"


def recipe_kwargs(corpus: str, runs: Path, temperature=None, name: str = DEPLOYED) -> dict:
    """``train_model`` keyword arguments of recipe ``name`` (its teacher trained first if it distils).

    ``temperature`` None keeps the recipe's own T; a value (or ``"auto"``) overrides it, as in ``reproduce sources``.
    """
    recipe = dict(RECIPES[name])
    if recipe.pop("distill", False):
        recipe["teacher"] = train_teacher(corpus, runs)
        if temperature is not None:
            recipe["temperature"] = temperature
    return recipe


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="musan:../shared/data/minimusan")
    ap.add_argument("--runs", default="runs/default")
    ap.add_argument("--models", default="slim,wide", help="slim,wide; 'teacher' trains only the distillation teacher")
    ap.add_argument("--recipe", default=DEPLOYED, choices=sorted(RECIPES),
                    help=f"training recipe (default the deployed one, {DEPLOYED})")
    ap.add_argument("--assets", default=str(ASSETS),
                    help="where the models and cards go (default the package's assets: the bundled models)")
    ap.add_argument("--temperature", default=None,
                    help="distillation temperature of a distilling recipe (default the recipe's own T; "
                         "'auto' chooses it on validation)")
    ap.add_argument("--cv", action="append", default=[], metavar="[MODEL=]DIR",
                    help="a finished 'sonotype reproduce sources' folder to quote in the cards (repeat: one per seed); "
                         "MODEL=DIR quotes it in that model's card only")
    ap.add_argument("--epochs", type=int, default=None,
                    help="epochs for every model (default 41: the end of SGDR's fourth cycle; 24 ends the third)")
    args = ap.parse_args(argv)
    cmd = "python scripts/build_default_models.py " + " ".join(argv if argv is not None else sys.argv[1:])
    cv = [tuple(c.split("=", 1)) if "=" in c else (None, c) for c in args.cv]
    assets = Path(args.assets)
    assets.mkdir(parents=True, exist_ok=True)
    if args.models == "teacher":
        train_teacher(args.corpus, Path(args.runs))
        return
    T = args.temperature if args.temperature in (None, "auto") else float(args.temperature)
    recipe = recipe_kwargs(args.corpus, Path(args.runs), T, args.recipe)
    for name in args.models.split(","):
        t0 = time.time()
        epochs = args.epochs or EPOCHS[name]
        cfg = {k: v for k, v in RECIPE.items() if k not in ("clip", "seed")}
        r = train_model(args.corpus, name, RECIPE["clip"], Path(args.runs) / name, seed=RECIPE["seed"],
                        exclude_list=EXCLUDE, epochs=epochs, **recipe, **cfg)
        shutil.copyfile(Path(args.runs) / name / "model.pt", assets / f"{name}.pt")
        export_raw(assets / f"{name}.pt", assets / f"{name}.onnx")  # tests check the two are one model
        cv_text = "\n\n".join(f"`{d}`:\n\n" + (Path(d) / "sources.md").read_text().strip()
                                for m, d in cv if m in (None, name))
        (assets / f"{name}.md").write_text(card(name, r, args.corpus, cmd.strip(), cv_text, epochs,
                                                        args.recipe))
        (assets / f"{name}.json").write_text(json.dumps({k: r[k] for k in ("test", "best_val_accuracy", "seconds")},
                                                        indent=1, default=float))
        print(f"{name}: test acc {r['test']['accuracy']:.4f} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
