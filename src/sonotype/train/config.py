"""The settings of a training run, importable without torch (the command line reads its defaults)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class DistillConfig:
    """Knowledge distillation settings: the one place they travel (stored as ``config.distill``).

    Parameters
    ----------
    teacher : str
        Teacher checkpoint (same classes as the student).
    temperature : float or "auto"
        Softmax temperature T > 0 of the soft targets; ``"auto"`` only until the temperature
        sweep (:func:`sonotype.experiments.training.sweep_temperature`) replaces it by a number.
    alpha : float
        Weight of the soft-target loss; the label loss gets ``1 - alpha``.
    sweep : dict or None
        ``{str(T): best validation accuracy}`` of the sweep that chose ``temperature``.
    weighted : bool
        Weight each clip's soft-target loss by its class's weight, as the label loss is weighted
        (``TrainConfig.class_weights``). False (the paper's loss, and this project's until the
        seventh CV round): only the label part is class-weighted.
    trusted : bool
        Count a clip's soft-target loss only where the teacher's top class is its label.
    soft_classes : list of str, dict or None
        Count a clip's soft-target loss only where its label is one of these classes (None: every class), or
        ``{class: factor}``: multiply it by its label's factor (0 for a class not named).
    """

    teacher: str
    temperature: float | str = 1.0
    alpha: float = 0.9
    sweep: dict | None = None
    weighted: bool = False
    trusted: bool = False
    soft_classes: list | dict | None = None


@dataclass
class TrainConfig:
    """Everything that decides a training run (stored in the checkpoint)."""

    model: str = "slim"
    clip: float = 1.0
    epochs: int = 60
    lr: float = 3e-3
    lr_min: float = 1e-5
    cycle: int = 5
    cycle_mult: float = 1.5
    updates_per_epoch: int = 200
    # train on a fresh seeded random subset of this many clips each epoch (None: all clips)
    epoch_clips: int | None = None
    patience: int = 15
    seed: int = 0
    # "source": each epoch draws clips so that every (class, source) has the same share of its class;
    # "sqrt-source": a share in proportion to the square root of its size; "noise-source": "source" for noise only
    balance: str = "none"
    # log-mel augmentation drawn per batch (MelAugmentParams.to_dict(); stored only, the data carries it)
    mel_augment: dict | None = None
    class_weights: bool = True
    # label smoothing of the cross-entropy (0: none) and decoupled weight decay (AdamW when > 0)
    label_smoothing: float = 0.0
    weight_decay: float = 0.0
    # exponential moving average of the weights, decay per optimiser step (0: none); when set, the averaged
    # weights are the ones validated, kept and saved (Polyak / EMA averaging)
    ema: float = 0.0
    # the weights kept in model.pt: "best", the epoch best on validation (early stopping after ``patience``
    # epochs without a better one), or "last", those after the last epoch (no early stopping; validation
    # only logged)
    keep: str = "best"
    gmm_components: int = 256
    gmm_frames: int = 40000
    device: str = "auto"
    workers: int = 0
    model_kwargs: dict = field(default_factory=dict)
    # "random", "imagenet" or "imagenet:PATH" (MobileNets, see sonotype.models.pretrained.resolve_init)
    init: str = "random"
    # fine-tuning: start from this checkpoint's weights (head replaced when the classes differ)
    init_checkpoint: str | None = None
    # knowledge distillation (teacher logits are passed to fit); None: plain training
    distill: DistillConfig | None = None

    def __post_init__(self):
        if not 0.0 <= self.label_smoothing < 1.0 or self.weight_decay < 0:
            raise ValueError(f"need 0 <= label_smoothing < 1 and weight_decay >= 0, got "
                             f"{self.label_smoothing:g} and {self.weight_decay:g}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"need 0 <= ema < 1 (a decay per step), got {self.ema:g}")
        if self.keep not in ("best", "last"):
            raise ValueError(f"keep must be 'best' or 'last', got {self.keep!r}")

    def to_dict(self) -> dict:
        """Plain dict for the checkpoint (``distill``: ``{}`` when there is no teacher)."""
        d = asdict(self)
        d["distill"] = d["distill"] or {}
        return d
