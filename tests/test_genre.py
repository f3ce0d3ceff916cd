"""Genre CNN, receptive fields and the train / evaluate / predict workflow (tiny settings)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sonotype.experiments.genre import (clip_starts, evaluate_genre, predict_genre, receptive_field_table, small_corpus_note,
                            song_clips, train_genre)
from sonotype.models import build_model
from sonotype.models.genre_cnn import GENRE_CLIP_SAMPLES, GenreCNN, receptive_fields
from sonotype.checkpoint import build_from_checkpoint, load_checkpoint

from conftest import write_audio


def test_default_genre_cnn_shapes():
    m = build_model("genre_cnn").eval()
    assert isinstance(m, GenreCNN) and m.clip_rule == "mean" and m.receptive_field is None
    assert m.config["channels"] == 64 and m.config["n_layers"] == 5 and m.config["dropout"] == 0.5
    x = torch.rand(1, 1, 257, 173)
    logits, acts, switches, pooled = m.forward_with_switches(x)
    assert logits.shape == (1, 10)
    assert [tuple(a.shape[-2:]) for a in acts] == [(257, 173), (128, 86), (64, 43), (32, 21), (16, 10)]
    assert [tuple(p.shape[-2:]) for p in pooled] == [(128, 86), (64, 43), (32, 21), (16, 10), (8, 5)]
    assert all(s.shape == p.shape for s, p in zip(switches, pooled))
    assert torch.allclose(m(x), logits)
    assert torch.allclose(m(x[:, 0]), logits)  # (B, F, T) works too
    assert m.frame_logits(x[:, 0]).shape == (1, 10, 173)


def test_receptive_field_table_default():
    rows = receptive_fields()
    assert [r["conv_frames"] for r in rows] == [3, 8, 18, 38, 78]
    assert [r["pool_frames"] for r in rows] == [4, 10, 22, 46, 94]
    assert [r["jump"] for r in rows] == [1, 2, 4, 8, 16]
    # layer 1: 3 frames = 2 hops + one 512-sample window = 1024 samples = 92.9 ms; 4 bins = 86.1 Hz
    assert rows[0]["conv_ms"] == pytest.approx(1000 * 1024 / 11025)
    assert rows[0]["pool_hz"] == pytest.approx(4 * 11025 / 512)
    assert rows[4]["pool_ms"] == pytest.approx(1000 * (93 * 256 + 512) / 11025)
    text = receptive_field_table()
    assert text.startswith("| layer") and "| 1 | 3x3 | 3 x 3 | 93 | 65 | 4 x 4 | 116 | 86 |" in text


def test_clips_evenly_spaced():
    sr = 11025
    starts = clip_starts(30 * sr)
    assert len(starts) == 10 and starts[0] == 0 and starts[-1] == 30 * sr - GENRE_CLIP_SAMPLES
    assert np.allclose(np.diff(starts), np.diff(starts)[0], atol=1)
    short = song_clips(np.ones(1000, np.float32))
    assert short.shape == (10, GENRE_CLIP_SAMPLES) and short[:, 1000:].sum() == 0


def test_train_evaluate_predict_on_tiny_folder_tree(tmp_path, capsys):
    root = tmp_path / "genres"
    kinds = {"rockish": "noise", "classicalish": "music", "talky": "speech"}
    for c, (label, kind) in enumerate(kinds.items()):
        for k in range(2):
            write_audio(root / label / f"{label}{k}.wav", sr=11025, kind=kind, dur=5.0, seed=10 * c + k)
    run = tmp_path / "run"
    tr = train_genre(f"folders:{root}", run, epochs=1, seed=0, n_clips=2,
                     model_kwargs={"channels": 4, "fc": 8})
    assert "cannot train or measure" in capsys.readouterr().out
    ck = load_checkpoint(tr["checkpoint"])
    assert ck["arch"] == "genre_cnn" and ck["features"]["kind"] == "stft" and ck["features"]["sr"] == 11025
    assert ck["classes"] == sorted(kinds) and (run / "split.csv").is_file() and (run / "train.json").is_file()
    assert isinstance(build_from_checkpoint(ck), GenreCNN)
    files = [str(root / "talky" / "talky0.wav"), str(tmp_path / "missing.wav")]
    pred = predict_genre(tr["checkpoint"], files)
    assert pred[0]["genre"] in kinds and abs(sum(pred[0]["proba"].values()) - 1) < 1e-5
    assert "error" in pred[1]
    res = evaluate_genre(tr["checkpoint"], f"folders:{root}", tmp_path / "eval")
    assert res["n_songs"] >= 1 and 0 <= res["accuracy"] <= 1
    assert np.asarray(res["confusion"]).sum() == res["n_songs"]
    assert (tmp_path / "eval" / "table.md").is_file() and (tmp_path / "eval" / "metrics.json").is_file()


def test_small_corpus_note():
    from sonotype.data import Item
    few = [Item(f"{g}.au", g, g) for g in "abc"]
    assert "cannot train" in small_corpus_note(few)
    many = [Item(f"{g}{k}.au", g, f"{g}{k}") for g in "ab" for k in range(10)]
    assert small_corpus_note(many) is None
