"""Cosine annealing with warm restarts (SGDR) with a real-valued cycle multiplier."""
from __future__ import annotations

import math


def sgdr(step: int, cycle_steps: int, lr_max: float, lr_min: float, mult: float = 1.5) -> float:
    """Learning rate at ``step`` for cycles of ``cycle_steps``, each ``mult`` times longer.

    Parameters
    ----------
    step : int
        Optimiser step (0-based).
    cycle_steps : int
        Length of the first cycle in steps.
    lr_max, lr_min : float
        Rate at the start and end of every cycle.
    mult : float
        Cycle length multiplier (torch's CosineAnnealingWarmRestarts only takes integers).
    """
    if cycle_steps <= 0:
        raise ValueError("cycle_steps must be positive")
    length, t = float(cycle_steps), float(step)
    while t >= length:
        t -= length
        length *= mult
    return lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * t / length))
