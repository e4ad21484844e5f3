"""Training fusegen's models: one trainer for GANs, VAEs and denoisers.

:func:`train` is the one-call entry point (what ``fusegen train`` runs). The parts:
:class:`Trainer` and :class:`TrainSettings` (the loop: progress bars, sample grids, atomic
checkpoints, exact resume, early stopping, AMP, DistributedDataParallel under ``torchrun``),
the tasks :class:`GANTask`, :class:`VAETask`, :class:`DenoiserTask`, and :class:`EMA`.
"""

from .denoiser import DenoiserTask
from .ema import EMA
from .gan import GANTask
from .recipes import KINDS, TEST_PHOTOS, TRAIN_PHOTOS, train
from .task import Task
from .trainer import Trainer, TrainingDiverged, TrainSettings, resolve_device
from .vae import VAETask

__all__ = ["EMA", "KINDS", "TEST_PHOTOS", "TRAIN_PHOTOS", "DenoiserTask", "GANTask", "Task",
           "TrainSettings", "Trainer", "TrainingDiverged", "VAETask", "resolve_device", "train"]
