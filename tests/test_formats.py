"""Segment file formats round-trip, and frame runs merge into a gapless cover."""

import io
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sonotype.infer.formats import (FORMATS, SUFFIX, Segment, read_segments,
                                    segments_from_frames, write_segments)

SEGMENTS = [Segment(0.0, 1.25, "speech", 0.91), Segment(1.25, 2.0, "silence", 0.6),
            Segment(2.0, 4.5, "music", 0.875), Segment(4.5, 5.37, "noise", 0.5)]
DURATION = 5.37


def _same(read, written, confidence=True):
    assert len(read) == len(written)
    for a, b in zip(read, written):
        assert a.label == b.label
        assert a.start == pytest.approx(b.start, abs=1e-3)
        assert a.end == pytest.approx(b.end, abs=1e-3)
        if confidence:
            assert a.confidence == pytest.approx(b.confidence, abs=1e-3)


def _write(tmp_path, fmt, segments=SEGMENTS, **kw):
    path = tmp_path / ("out" + SUFFIX[fmt])
    with open(path, "w", encoding="utf-8") as f:
        write_segments(segments, fmt, f, duration=DURATION, **kw)
    return path


def test_suffixes_cover_formats():
    assert set(SUFFIX) == set(FORMATS)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_round_trip_with_confidence(tmp_path, fmt):
    path = _write(tmp_path, fmt)
    _same(read_segments(path, fmt), SEGMENTS)
    with open(path, encoding="utf-8") as f:
        _same(read_segments(f, fmt), SEGMENTS)


def test_csv_layout():
    out = io.StringIO()
    write_segments(SEGMENTS, "csv", out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "start,end,label,confidence"
    assert lines[1] == "0.000,1.250,speech,0.910"


def test_audacity_round_trip(tmp_path):
    path = _write(tmp_path, "audacity")
    assert path.read_text().splitlines()[0] == "0.000000\t1.250000\tspeech"
    read = read_segments(path, "audacity")
    _same(read, SEGMENTS, confidence=False)
    assert all(math.isnan(s.confidence) for s in read)


def test_json_layout_and_unknown_confidence():
    out = io.StringIO()
    write_segments([Segment(0.0, 1.0, "speech")], "json", out, uri="rec1", duration=1.0)
    data = json.loads(out.getvalue())  # strict JSON: no NaN
    assert data["uri"] == "rec1" and data["duration"] == 1.0
    assert data["segments"][0]["confidence"] is None


def test_textgrid_parsed_by_praatio(tmp_path):
    textgrid = pytest.importorskip("praatio.textgrid")
    path = _write(tmp_path, "textgrid")
    tg = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    assert tg.minTimestamp == 0.0 and tg.maxTimestamp == pytest.approx(DURATION)
    tier = tg.getTier("labels")
    got = [Segment(e.start, e.end, e.label) for e in tier.entries]
    _same(got, SEGMENTS, confidence=False)


def test_rttm_parsed_by_pyannote(tmp_path):
    util = pytest.importorskip("pyannote.database.util")
    path = _write(tmp_path, "rttm", uri="rec1")
    fields = path.read_text().splitlines()[0].split()
    assert len(fields) == 10 and fields[0] == "SPEAKER" and fields[1] == "rec1"
    annotations = util.load_rttm(str(path))
    assert list(annotations) == ["rec1"]
    got = sorted((seg.start, seg.end, label)
                 for seg, _, label in annotations["rec1"].itertracks(yield_label=True))
    _same([Segment(*g) for g in got], SEGMENTS, confidence=False)


def test_unknown_format():
    with pytest.raises(ValueError):
        write_segments(SEGMENTS, "srt", io.StringIO())
    with pytest.raises(ValueError):
        read_segments(io.StringIO(""), "rttm")


def test_segments_from_frames_simple():
    labels = ["speech"] * 3 + ["music"] * 2 + ["speech"]
    conf = [0.9, 0.8, 0.7, 0.6, 0.4, 1.0]
    segs = segments_from_frames(labels, conf, 0.01, duration=0.065)
    assert [s.label for s in segs] == ["speech", "music", "speech"]
    assert [s.start for s in segs] == pytest.approx([0.0, 0.03, 0.05])
    assert segs[-1].end == 0.065
    assert segs[0].confidence == pytest.approx(0.8)
    assert segs[1].confidence == pytest.approx(0.5)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["speech", "music", "noise", "silence"]), min_size=1, max_size=300),
       st.sampled_from([0.01, 0.02, 0.0125]),
       st.floats(0.2, 1.5))
def test_segments_from_frames_cover_without_gaps(labels, hop_s, stretch):
    duration = len(labels) * hop_s * stretch  # shorter or longer than the frames
    conf = np.linspace(0, 1, len(labels))
    segs = segments_from_frames(labels, conf, hop_s, duration)
    assert segs[0].start == 0.0
    assert segs[-1].end == duration
    for a, b in zip(segs, segs[1:]):
        assert a.end == b.start  # no gap, no overlap
        assert a.label != b.label  # runs are merged
    assert all(s.end > s.start for s in segs)
    # every frame starting inside the file keeps its label
    for i, label in enumerate(labels):
        t = i * hop_s
        if t < duration - 1e-9:
            seg = next(s for s in segs if s.start <= t + 1e-9 < s.end)
            assert seg.label == label


def test_segments_from_codes_equal_segments_from_frame_labels():
    from sonotype.infer.formats import segments_from_codes, segments_from_frames
    rng = np.random.default_rng(0)
    classes = ["speech", "music", "noise", "silence"]
    codes = np.repeat(rng.integers(0, 4, 200), rng.integers(1, 40, 200)).astype(np.int8)
    conf = rng.random(len(codes)).astype(np.float32)
    dur = len(codes) * 0.01 - 0.004
    want = segments_from_frames(np.asarray(classes, object)[codes], conf, 0.01, dur)
    assert segments_from_codes(codes, conf, classes, 0.01, dur) == want
    assert want[-1].end == dur and len(want) > 50


def test_segmenter_column_grows_past_a_short_guess():
    from sonotype.infer.segment import _Column
    col = _Column(2, (3,), np.float32)
    rows = np.arange(30, dtype=np.float32).reshape(10, 3)
    col.add(rows[:4])
    col.add(rows[4:])
    np.testing.assert_array_equal(col.array(), rows)
