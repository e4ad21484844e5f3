"""Training fusegen's models: one trainer for GANs, VAEs, denoisers and inpainting models.

:func:`train` is the one-call entry point (what ``fusegen train`` runs). The parts:
:class:`Trainer` and :class:`TrainSettings` (the loop: progress bars, sample grids, atomic
checkpoints, exact resume, early stopping, AMP, DistributedDataParallel under ``torchrun``),
generator ensembles by boosting (:func:`train_generator_ensemble`), the tasks :class:`GANTask`, :class:`VAETask`, :class:`DenoiserTask`, :class:`InpaintingTask`,
and :class:`EMA`.
"""

from .boosting import train_generator_ensemble
from .denoiser import DenoiserTask
from .ema import EMA
from .gan import GANTask
from .inpainter import InpaintingTask, inpainting_loss
from .recipes import KINDS, TEST_PHOTOS, TRAIN_PHOTOS, train
from .task import Task
from .trainer import Trainer, TrainingDiverged, TrainSettings, resolve_device
from .vae import VAETask

__all__ = ["EMA", "KINDS", "TEST_PHOTOS", "TRAIN_PHOTOS", "DenoiserTask", "GANTask", "InpaintingTask", "Task",
           "TrainSettings", "Trainer", "TrainingDiverged", "VAETask", "inpainting_loss", "resolve_device", "train",
           "train_generator_ensemble"]
