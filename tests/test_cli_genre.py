"""``sonotype genre ...`` and ``sonotype auralise`` through the CLI entry point (tiny settings)."""
from __future__ import annotations

import json

import pytest
import torch
from conftest import write_audio

from sonotype.cli.main import main


def test_genre_receptive_field_prints_table(capsys):
    assert main(["genre", "receptive-field"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| layer | kernel")
    assert "| 1 | 3x3 | 3 x 3 | 93 | 65 | 4 x 4 | 116 | 86 |" in out
    assert "| 5 | 3x3 | 78 x 78 |" in out


@pytest.fixture(scope="module")
def genre_run(tmp_path_factory):
    """1 epoch on 3 classes x 3 songs of 5 s at 22,050 Hz (folder-per-class), 8 maps, 2 clips/song."""
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("cli_genre")
    root = tmp / "tree"
    for c, (label, kind) in enumerate({"noisy": "noise", "tonal": "music", "talky": "speech"}.items()):
        for k in range(3):
            write_audio(root / label / f"{label}.{k:05d}.wav", sr=22050, kind=kind, dur=5.0, seed=10 * c + k)
    run = tmp / "run"
    rc = main(["genre", "train", "--corpus", f"folders:{root}", "--out", str(run), "--epochs", "1",
               "--seed", "0", "--clips", "2", "--channels", "8"])
    assert rc == 0
    return root, run


def test_genre_train_predict_auralise(genre_run, tmp_path, capsys):
    root, run = genre_run
    ck = run / "model.pt"
    assert ck.is_file() and (run / "split.csv").is_file() and (run / "train.json").is_file()
    capsys.readouterr()
    song = root / "talky" / "talky.00000.wav"
    assert main(["genre", "predict", "--model", str(ck), "--json", str(song)]) == 0
    row = json.loads(capsys.readouterr().out.strip())
    assert row["genre"] in {"noisy", "tonal", "talky"} and 0 <= row["p"] <= 1

    out = tmp_path / "aur"
    assert main(["auralise", "--model", str(ck), str(song), "--layers", "1-2", "--features", "top:2",
                 "--out", str(out), "--offset", "0.5"]) == 0
    wavs = sorted(p.name for p in out.glob("layer*_feature*.wav"))
    pngs = sorted(p.name for p in out.glob("layer*_feature*.png"))
    assert len(wavs) == 4 and len(pngs) == 4 and {w[:6] for w in wavs} == {"layer1", "layer2"}
    page = (out / "index.html").read_text()
    assert all(f'src="{w}"' in page for w in wavs) and all(f'src="{p}"' in page for p in pngs)
    assert (out / "original.wav").is_file()


def test_genre_evaluate_writes_table(genre_run, tmp_path, capsys):
    _, run = genre_run
    assert main(["genre", "evaluate", "--model", str(run / "model.pt"), "--out", str(tmp_path / "ev")]) == 0
    assert "song accuracy" in capsys.readouterr().out
    assert (tmp_path / "ev" / "table.md").is_file()


def test_bad_audio_gives_exit_2_and_one_line(genre_run, tmp_path, capsys):
    _, run = genre_run
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"this is not audio at all" * 10)
    capsys.readouterr()
    assert main(["auralise", "--model", str(run / "model.pt"), str(bad), "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sonotype: error: ") and err.count("\n") == 1 and "bad.wav" in err
    assert main(["genre", "predict", "--model", str(run / "model.pt"), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sonotype: error: ") and err.count("\n") == 1
    assert main(["genre", "predict", "--model", str(tmp_path / "missing.pt"), str(bad)]) == 2
    assert capsys.readouterr().err.startswith("sonotype: error: ")
