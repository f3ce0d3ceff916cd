"""How any model (torch module or GMM) turns clips into class probabilities."""
from __future__ import annotations

import numpy as np
import torch


def _vote(frame_pred: np.ndarray, k: int) -> np.ndarray:
    counts = np.stack([(frame_pred == c).sum(-1) for c in range(k)], -1).astype(np.float32)
    return counts / np.maximum(counts.sum(-1, keepdims=True), 1)


@torch.no_grad()
def clip_proba(model, x, batch_size: int = 256) -> np.ndarray:
    """Class probabilities of clips ``x`` shaped (clips, channels, frames).

    Models with ``clip_rule == "vote"`` (SNN, GMM) give the fraction of frames voting for
    each class; the others the softmax of their clip logits.
    """
    x = torch.as_tensor(np.asarray(x, np.float32)) if not isinstance(x, torch.Tensor) else x
    if x.ndim != 3:
        raise ValueError(f"expected (clips, channels, frames), got shape {tuple(x.shape)}")
    if not isinstance(model, torch.nn.Module):  # GMM
        return np.stack([model.predict_clip_proba(c.T.numpy()) for c in x]) if len(x) else np.zeros((0, len(model.classes_)))
    model.eval()
    dev = next(model.parameters()).device
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(dev)
        if getattr(model, "clip_rule", "mean") == "vote":
            fl = model.frame_logits(xb)
            out.append(_vote(fl.argmax(1).cpu().numpy(), fl.shape[1]))
        else:
            out.append(torch.softmax(model(xb), -1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)
