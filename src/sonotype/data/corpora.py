"""Corpus readers: MUSAN, GTZAN music/speech, GTZAN genres, folder-per-class, manifest CSV.

Every reader returns a :class:`Corpus` whose items carry a label and a group (speaker,
track or original recording) so splits can keep a group on one side.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

AUDIO_EXTENSIONS = (".wav", ".ogg", ".opus", ".flac", ".mp3", ".au", ".aiff", ".aif", ".snd")
MUSAN_CLASSES = ("speech", "music", "noise")
KINDS = ("musan", "gtzan-ms", "gtzan-genres", "folders", "manifest")


class CorpusError(Exception):
    """A corpus path or layout that cannot be read; message names the path."""


@dataclass(frozen=True)
class Item:
    """One audio file of a corpus."""

    path: str
    label: str
    group: str
    source: str = ""


@dataclass
class Corpus:
    """Items of one corpus, sorted by path."""

    kind: str
    root: str
    items: list = field(default_factory=list)

    @property
    def classes(self) -> list:
        order = [c for c in MUSAN_CLASSES if any(i.label == c for i in self.items)]
        return order + sorted({i.label for i in self.items} - set(order))

    def __len__(self) -> int:
        return len(self.items)

    def spec(self) -> str:
        return f"{self.kind}:{self.root}"


def _audio_files(folder: Path) -> list:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


def _need_dir(path: Path, what: str) -> Path:
    if not path.exists():
        raise CorpusError(f"{path}: no such directory ({what})")
    if not path.is_dir():
        raise CorpusError(f"{path}: not a directory ({what})")
    return path


def _finish(kind: str, root: Path, items: list) -> Corpus:
    if not items:
        raise CorpusError(f"{root}: no audio files found in the {kind} layout")
    return Corpus(kind, str(root), sorted(items, key=lambda i: i.path))


def read_manifest(path) -> Corpus:
    """Read a manifest CSV with columns ``path``, ``label`` (or ``category``), ``group``
    and optionally ``source``; relative paths are relative to the CSV's folder."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: manifest not found")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        cols = set(reader.fieldnames or [])
        label_col = "label" if "label" in cols else "category" if "category" in cols else None
        if "path" not in cols or label_col is None:
            raise CorpusError(f"{path}: manifest needs columns 'path' and 'label' (or 'category'), has {sorted(cols)}")
        items = []
        for row in reader:
            p = Path(row["path"])
            p = p if p.is_absolute() else path.parent / p
            group = row.get("group") or p.stem
            items.append(Item(str(p), row[label_col], group, row.get("source") or ""))
    return _finish("manifest", path.parent, items)


def read_musan(root) -> Corpus:
    """MUSAN: ``{speech,music,noise}/<subset>/*.wav``. A ``manifest.csv`` at the root,
    when present (as in minimusan), gives groups; otherwise each file is its own group
    and the subset folder is the source."""
    root = _need_dir(Path(root), "MUSAN root")
    if (root / "manifest.csv").is_file():
        c = read_manifest(root / "manifest.csv")
        return Corpus("musan", str(root), c.items)
    items = []
    for label in MUSAN_CLASSES:
        d = root / label
        if not d.is_dir():
            continue
        for p in _audio_files(d):
            subset = p.relative_to(d).parts[0] if len(p.relative_to(d).parts) > 1 else ""
            items.append(Item(str(p), label, f"{label}/{subset}/{p.stem}", subset))
    if not any((root / c).is_dir() for c in MUSAN_CLASSES):
        raise CorpusError(f"{root}: not a MUSAN layout (no speech/, music/ or noise/ folder)")
    return _finish("musan", root, items)


def read_gtzan_ms(root) -> Corpus:
    """GTZAN music/speech: ``music_speech/{music_wav,speech_wav}/*.wav`` (root may be
    ``music_speech`` itself or its parent)."""
    root = _need_dir(Path(root), "GTZAN music/speech root")
    base = root / "music_speech" if (root / "music_speech").is_dir() else root
    items = []
    for label in ("music", "speech"):
        d = base / f"{label}_wav"
        if d.is_dir():
            items += [Item(str(p), label, p.stem, "gtzan-ms") for p in _audio_files(d)]
    if not items:
        raise CorpusError(f"{root}: not a GTZAN music/speech layout (no music_wav/ or speech_wav/ with audio)")
    return _finish("gtzan-ms", root, items)


def read_gtzan_genres(root) -> Corpus:
    """GTZAN genres: ``genres/<genre>/<genre>.000NN.au`` (root may be ``genres`` or its parent)."""
    root = _need_dir(Path(root), "GTZAN genres root")
    base = root / "genres" if (root / "genres").is_dir() else root
    items = []
    for d in sorted(p for p in base.iterdir() if p.is_dir()):
        items += [Item(str(p), d.name, p.stem, "gtzan") for p in _audio_files(d)]
    return _finish("gtzan-genres", root, items)


def read_folders(root) -> Corpus:
    """A plain folder-per-class tree ``<root>/<class>/**/<file>``; each file its own group."""
    root = _need_dir(Path(root), "class folders root")
    items = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        items += [Item(str(p), d.name, str(p.relative_to(root).with_suffix("")), d.name) for p in _audio_files(d)]
    return _finish("folders", root, items)


READERS = {"musan": read_musan, "gtzan-ms": read_gtzan_ms, "gtzan-genres": read_gtzan_genres,
           "folders": read_folders, "manifest": read_manifest}


def guess_kind(path) -> str:
    """Guess the layout of ``path`` from its contents."""
    p = Path(path)
    if p.is_file() and p.suffix.lower() == ".csv":
        return "manifest"
    if (p / "manifest.csv").is_file() or any((p / c).is_dir() for c in MUSAN_CLASSES):
        return "musan"
    if (p / "music_speech").is_dir() or (p / "music_wav").is_dir() or (p / "speech_wav").is_dir():
        return "gtzan-ms"
    if (p / "genres").is_dir():
        return "gtzan-genres"
    return "folders"


def open_corpus(spec: str) -> Corpus:
    """Open ``"kind:PATH"`` (kinds: musan, gtzan-ms, gtzan-genres, folders, manifest) or a bare
    PATH whose layout is guessed."""
    kind, sep, path = str(spec).partition(":")
    if not sep or kind not in READERS:
        kind, path = guess_kind(spec), str(spec)
    if not Path(path).exists():
        raise CorpusError(f"{path}: no such file or directory")
    return READERS[kind](path)


def read_exclusions(path) -> dict:
    """``{relative path: reason}`` from an exclusion list (CSV ``path,reason``, paths relative
    to the corpus root, ``#`` lines are comments)."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: exclusion list not found")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    if rows and "path" not in rows[0]:
        raise CorpusError(f"{path}: an exclusion list needs a 'path' column")
    return {Path(r["path"]).as_posix(): (r.get("reason") or "") for r in rows}


def exclude(corpus: Corpus, path) -> tuple:
    """``(corpus without the listed files, number left out)``; listed files not in the corpus
    are ignored (a list can serve a corpus and its subsets)."""
    listed = read_exclusions(path)
    root = Path(corpus.root)
    keep = [i for i in corpus.items if Path(os.path.relpath(i.path, root)).as_posix() not in listed]
    return Corpus(corpus.kind, corpus.root, keep), len(corpus.items) - len(keep)
