"""How a model is trained: `TrainSettings` and its `AugSettings`, checked on construction.

Free of Keras, so settings are validated (and a bad `SET=` refused in one line) before
TensorFlow is even imported. Every field is part of a run's identity (competition.provenance).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from competition.settings import check_choice, check_number, check_range_pair

BALANCE = ("balanced", "subsample", "weights", "none")
TARGETS = ("labels", "words")
KEEP = ("best", "last")
TTA_VIEWS = (1, 3, 5)
FRONTENDS = ("logmel", "pcen", "pcen_learned")  # models/frontend.py


@dataclass(frozen=True)
class AugSettings:
    """What augmentation a training run uses (models/augment.py). 0 or 0.0 turns a part off.
    The defaults were chosen by `make bench-ablation` on the clean dev test and kept by
    `make bench-kaggle-like` (README, "Kaggle-like benchmark"): the stronger set for a noisy test
    (noise on 80% of clips at 0-20 dB, gain 10 dB, two masks of each kind, stretch 0.15) lost on
    both the plain and the Kaggle-like test at the benchmark's 10 epochs."""

    shift_frames: int = 10  # +-100 ms at a 10 ms hop
    gain_db: float = 6.0  # +- this many dB
    noise_prob: float = 0.5  # share of clips that get background noise
    snr_db: tuple[float, float] = (10.0, 30.0)  # uniform range of the noise's SNR
    time_masks: int = 1
    time_mask_frames: int = 8
    freq_masks: int = 1
    freq_mask_mels: int = 4
    mixup_alpha: float = 0.0  # > 0: mixup in the feeder with Beta(alpha, alpha)
    stretch: float = 0.0  # time-stretch: each clip's rate uniform in [1 - stretch, 1 + stretch]
    spliced_unknown: float = 0.0  # share of command-word rows replaced by two half-words joined, labelled unknown
    reversed_unknown: float = 0.0  # share of command-word rows played backwards, labelled unknown

    def __post_init__(self):
        for name in ("shift_frames", "time_masks", "time_mask_frames", "freq_masks", "freq_mask_mels"):
            check_number(f"aug.{name}", getattr(self, name), 0, 1000, integer=True)
        check_number("aug.gain_db", self.gain_db, 0, 60)
        check_number("aug.noise_prob", self.noise_prob, 0, 1)
        check_range_pair("aug.snr_db", self.snr_db, -30, 100)
        check_number("aug.mixup_alpha", self.mixup_alpha, 0, 100)
        check_number("aug.stretch", self.stretch, 0, 0.5)
        check_number("aug.spliced_unknown", self.spliced_unknown, 0, 0.5)
        check_number("aug.reversed_unknown", self.reversed_unknown, 0, 0.5)


NO_AUG = AugSettings(shift_frames=0, gain_db=0.0, noise_prob=0.0, time_masks=0, freq_masks=0)


@dataclass(frozen=True)
class TrainSettings:
    """How a model is trained. Every field is part of the run's identity."""

    epochs: int = 40
    batch_size: int = 64  # the device policy sets 512 on a GPU (models/plan.py)
    lr: float = 2e-3  # peak of a linear warm-up then cosine decay to zero
    warmup_epochs: float = 1.0
    weight_decay: float = 1e-2  # AdamW, decoupled
    label_smoothing: float = 0.1
    balance: str = "balanced"  # balanced | subsample (only unknown) | weights (class weights) | none
    unknown_per_epoch: float = 1.0  # subsample: unknown clips per epoch = this x mean command-word count
    targets: str = "labels"  # labels: the 12 outputs | words: every word + silence, summed back to 12
    tta: int = 3  # views averaged at inference: 1 (none), 3 (0, +-tta_frames), 5 (and +-2 tta_frames)
    tta_frames: int = 4
    # last: the weights after the last epoch (cosine decay ends at lr 0); best: the epoch with the best
    # validation accuracy, chosen on the rows whose predictions become OOF (optimistic: README, "Selection leak")
    keep: str = "last"
    # what the model sees of the log-mel (models/frontend.py): pcen (per-channel energy normalisation:
    # each band divided by its own running average), pcen_learned (its per-band constants trained) or
    # logmel (the dB values, normalised). pcen: on the Kaggle-like benchmark (README, "PCEN") crnn_vgg
    # +1.7 and crnn_resnet +3.4 points on the noisy test, the plain test unchanged
    frontend: str = "pcen"
    seed: int = 0
    aug: AugSettings = field(default_factory=AugSettings)

    def __post_init__(self):
        check_number("epochs", self.epochs, 1, 10_000, integer=True)
        check_number("batch_size", self.batch_size, 1, 65_536, integer=True)
        check_number("lr", self.lr, 0, 10, lo_open=True)
        check_number("warmup_epochs", self.warmup_epochs, 0, self.epochs)
        check_number("weight_decay", self.weight_decay, 0, 10)
        check_number("label_smoothing", self.label_smoothing, 0, 1, hi_open=True)
        check_choice("balance", self.balance, BALANCE)
        check_number("unknown_per_epoch", self.unknown_per_epoch, 0, 1000, lo_open=True)
        check_choice("targets", self.targets, TARGETS)
        check_choice("tta", self.tta, TTA_VIEWS)
        check_number("tta_frames", self.tta_frames, 0, 100, integer=True)
        check_choice("keep", self.keep, KEEP)
        check_choice("frontend", self.frontend, FRONTENDS)
        check_number("seed", self.seed, 0, 2**31 - 1, integer=True)


TRAIN_FIELDS = frozenset(f.name for f in fields(TrainSettings))
