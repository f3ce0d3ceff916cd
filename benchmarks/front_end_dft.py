"""The raw-audio graph's front end alone, direct against factored and folded DFT: time per block and error.

Each front end (``sonotype.export.frontend.FrontEnd``, ``dft="direct"``, ``"factored"`` or ``"folded"``) is
exported as a graph from samples to mel power, run by onnxruntime on one thread over a block of
4,207 frames (what the segmenter feeds the network at a time), and compared with a float64
numpy reference (windowed frames, ``numpy.fft.rfft``, librosa's mel bank) on a chirp, in dB of
the mel bands::

    python benchmarks/front_end_dft.py [--repeats 20]
"""
import argparse
import tempfile
import time
import warnings
from pathlib import Path

import librosa
import numpy as np
import onnxruntime as ort
import torch

from sonotype.export.dft import DFTS
from sonotype.export.frontend import FrontEnd
from sonotype.features.params import MFCC_DELTAS as P


class MelPower(torch.nn.Module):
    def __init__(self, dft):
        super().__init__()
        self.front = FrontEnd(P, dft=dft)

    def forward(self, samples):
        return self.front.mel_power(samples)


def reference(y):
    frames = np.lib.stride_tricks.sliding_window_view(y.astype(np.float64), P.n_fft)[::P.hop_length]
    w = librosa.util.pad_center(librosa.filters.get_window("hann", P.win_length, fftbins=True), size=P.n_fft)
    mel = librosa.filters.mel(sr=P.sr, n_fft=P.n_fft, n_mels=P.n_mels).astype(np.float64)
    return mel @ (np.abs(np.fft.rfft(frames * w, axis=1)) ** 2).T


def main(repeats):
    frames = 4207
    n = (frames - 1) * P.hop_length + P.n_fft
    t = np.arange(n) / P.sr
    chirp = (0.5 * np.sin(2 * np.pi * (100 + 120 * t) * t)).astype(np.float32)[None]
    db = lambda m: 10 * np.log10(np.maximum(m, 1e-10))  # noqa: E731
    want = db(reference(chirp[0]))
    tmp = Path(tempfile.mkdtemp())
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
    print("| DFT | ms per block of 4,207 frames (median) | × real time, front end alone | max error, dB of mel bands |")
    print("|---|---|---|---|")
    for dft in DFTS:
        path = tmp / f"{dft}.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(MelPower(dft).eval(), (torch.from_numpy(chirp[:, :P.n_fft + 99 * P.hop_length]),),
                              str(path), dynamo=False, input_names=["samples"],
                              dynamic_axes={"samples": {0: "b", 1: "n"}}, opset_version=17)
        s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        got = s.run(None, {"samples": chirp})[0][0]
        times = []
        for _ in range(int(repeats)):
            t0 = time.perf_counter()
            s.run(None, {"samples": chirp})
            times.append(time.perf_counter() - t0)
        ms = 1e3 * float(np.median(times))
        print(f"| {dft} | {ms:.2f} | {frames * P.hop_length / P.sr / (ms / 1e3):,.0f} | "
              f"{np.abs(db(got) - want).max():.4f} |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    main(ap.parse_args().repeats)
