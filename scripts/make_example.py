"""Rebuild the bundled example recording (speech → music → noise) from ../shared/data/minimusan.

The speech is from the minimusan *test* split (seed 0); the music and the noise are from its
*train* split (the test split's permissively licensed music and noise are ambiguous loops and
effects), so the bundled models have heard those two excerpts' recordings during training. Usage: python scripts/make_example.py [MINIMUSAN] [OUT_DIR]
"""
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from sonotype.audio import load

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/minimusan")
OUT = Path(sys.argv[2] if len(sys.argv) > 2 else "src/sonotype/assets")
SR = 16000
PARTS = [  # (file, start s, seconds, label, credit)
    ("speech/librispeech/1069-133699-0000.ogg", 0.0, 8.0, "speech",
     "LibriSpeech train-clean-100 utterance 1069-133699-0000 (Panayotov et al., LibriVox reading), CC BY 4.0"),
    ("music/music-on-hold/manolo_camp-morning_coffee.ogg", 20.0, 8.0, "music",
     "Manolo Camp, 'Morning Coffee' (opsound, Debian asterisk-moh-opsound-wav), CC BY-SA 3.0"),
    ("noise/sonic-pi/vinyl_hiss.ogg", 0.0, 6.0, "noise",
     "Sonic Pi sample vinyl_hiss (Debian sonic-pi-samples), CC0 / CC BY"),
]
GAP = 0.5  # seconds of very quiet room tone between parts


def main():
    rng = np.random.default_rng(0)
    pieces, rows, t = [], [], 0.0
    for k, (rel, start, secs, label, _) in enumerate(PARTS):
        y = load(ROOT / rel, sr=SR, offset=start, duration=secs)
        y = 0.25 * y / (np.sqrt(np.mean(y**2)) * 4 + 1e-9)  # about -24 dBFS RMS
        fade = np.linspace(0, 1, int(0.02 * SR), dtype=np.float32)
        y[: len(fade)] *= fade
        y[-len(fade):] *= fade[::-1]
        pieces.append(y)
        rows.append((t, t + len(y) / SR, label))
        t += len(y) / SR
        if k < len(PARTS) - 1:
            gap = (rng.standard_normal(int(GAP * SR)) * 10 ** (-70 / 20)).astype(np.float32)
            pieces.append(gap)
            rows.append((t, t + GAP, "silence"))
            t += GAP
    y = np.clip(np.concatenate(pieces), -1, 1)
    OUT.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(OUT / "example.ogg", "w", SR, 1, format="OGG", subtype="VORBIS") as f:
        for i in range(0, len(y), 65536):
            f.write(y[i:i + 65536])
    with open(OUT / "example.csv", "w") as f:
        f.write("start,end,label\n" + "".join(f"{a:.3f},{b:.3f},{l}\n" for a, b, l in rows))
    credits = "\n".join(f"- {r[4]}: {r[0]}, {r[1]:g}-{r[1] + r[2]:g} s" for r in PARTS)
    (OUT / "EXAMPLE-LICENSE.md").write_text(
        "# example.ogg\n\nA 23 s recording made by `scripts/make_example.py`: speech, then music, then noise, "
        "with 0.5 s of near-silence between them; ground truth in `example.csv`. Parts (speech from the "
        "minimusan test split, music and noise from its train split):\n\n" + credits + "\n\nThe combined file is shared under CC BY-SA 3.0 (the music's licence; the other parts allow it); "
        "credit the sources above.\n")
    print(f"wrote {OUT / 'example.ogg'} ({len(y) / SR:.1f} s)")


if __name__ == "__main__":
    main()
