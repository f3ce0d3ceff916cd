"""Raw PCM blocks and the merging of streamed frame decisions into segments."""
import io

import numpy as np

from sonotype.infer.pcm import BLOCK_BYTES, pcm_blocks, stream_segments


def test_pcm_blocks_carry_odd_bytes_and_scale():
    x = (np.arange(-2000, 2000, dtype=np.int16) * 8).astype("<i2")
    raw = x.tobytes()

    class Dribble(io.RawIOBase):  # reads of odd sizes split samples across reads
        def __init__(self):
            self.pos = 0

        def read(self, n):
            k = min(BLOCK_BYTES - 1, len(raw) - self.pos)
            out = raw[self.pos:self.pos + k]
            self.pos += k
            return out
    y = np.concatenate(list(pcm_blocks(Dribble(), 16000, 16000)))
    np.testing.assert_array_equal(y, x.astype(np.float32) / 32768.0)


def test_pcm_blocks_resample_to_model_rate():
    raw = (np.zeros(8000, "<i2")).tobytes()  # one second at 8 kHz
    n = sum(len(b) for b in pcm_blocks(io.BytesIO(raw), 8000, 16000))
    assert abs(n - 16000) <= 2


class FakeSegmenter:
    """Decides each 10 ms frame as it arrives: speech for the first 30 frames, then music."""

    hop_s = 0.01
    sr = 16000

    def __init__(self):
        self.t = 0
        self.buf = 0

    def push(self, y):
        self.buf += len(y)
        out = []
        while self.buf >= 160:
            self.buf -= 160
            out.append((self.t, "speech" if self.t < 30 else "music", 0.5 if self.t % 2 else 1.0))
            self.t += 1
        return out

    def flush(self):
        return [(self.t, "music", 1.0)]


def test_stream_segments_merge_runs_of_one_label():
    raw = np.zeros(160 * 50, "<i2").tobytes()  # 50 frames, then one more at flush
    segs = list(stream_segments(FakeSegmenter(), io.BytesIO(raw), 16000))
    assert [(round(a, 2), round(b, 2), lab) for a, b, lab, _ in segs] == [(0.0, 0.3, "speech"), (0.3, 0.51, "music")]
    assert segs[0][3] == 0.75  # mean confidence of alternating 1.0 / 0.5
