"""Knowledge distillation loss (Hinton et al. 2015) as the SwishNet paper uses it."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def distillation_loss(logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                      temperature: float = 1.0, alpha: float = 0.9, weight=None,
                      label_smoothing: float = 0.0, weighted: bool = False, trusted: bool = False,
                      class_factor: torch.Tensor | None = None) -> torch.Tensor:
    """``alpha * T² * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, y)``.

    The soft part is scaled by T² so its gradients keep their size as T changes; ``label_smoothing``
    applies to the label part ``CE(s, y)``, and ``weight`` (per class) to it. With ``weighted`` the
    soft part is class-weighted too: each clip's KL counts ``weight[y]``, normalised by the sum of
    the batch's weights as the weighted cross-entropy is. With ``trusted`` a clip's soft part counts
    only where the teacher's top class is the clip's label (still normalised over the whole batch), so a
    teacher that hears a noise clip as speech does not teach the student to. ``class_factor`` (one value per
    class) multiplies each clip's soft part by its label's value: 0 drops it, 2 counts it twice (still normalised
    over the whole batch's weights).
    """
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    log_p = F.log_softmax(logits / temperature, -1)
    q = F.softmax(teacher_logits / temperature, -1)
    if trusted or class_factor is not None or (weighted and weight is not None):
        w = weight[labels] if weighted and weight is not None else torch.ones_like(logits[:, 0])
        kl = F.kl_div(log_p, q, reduction="none").sum(-1)
        if trusted:
            kl = kl * (teacher_logits.argmax(-1) == labels).to(kl.dtype)
        if class_factor is not None:
            kl = kl * class_factor.to(kl.dtype)[labels]
        soft = (kl * w).sum() / w.sum() * temperature**2
    else:
        soft = F.kl_div(log_p, q, reduction="batchmean") * temperature**2
    hard = F.cross_entropy(logits, labels, weight=weight, label_smoothing=label_smoothing)
    return alpha * soft + (1 - alpha) * hard
