"""The demo's sizes: one dataclass, passed to :func:`fusegen.demo.run`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoSizes:
    """How long each demo step trains and how big its models are.

    The defaults keep the whole demo to a few minutes on a 2-core CPU; :meth:`quick` shrinks
    every step to a few training steps (a smoke test of the whole pipeline in well under a
    minute, with meaningless figures).
    """

    gan_steps: int = 2000  # the conditional GAN: the defaults of `fusegen train gan`
    gan_width: int | None = None  # None: the recipe's default
    gan_size: int | None = None
    dncnn_steps: int = 1500
    dncnn_depth: int = 8
    dncnn_width: int = 32
    dncnn_batch: int = 16
    speed_size: int = 32  # the DCGAN timed fused against eager
    speed_width: int = 64
    speed_batch: int = 64
    metrics_epochs: int = 8  # of the digit classifier whose features the metrics use
    ensemble_samples: int = 400
    ensemble_vae_steps: int = 100
    active_rounds: int = 6
    active_learner_steps: int = 120
    transfer_steps: int = 20
    inpaint_steps: int = 200
    inpaint_width: int = 16
    inpaint_depth: int = 4
    inpaint_batch: int = 8
    inpaint_patch: int = 64

    @classmethod
    def quick(cls) -> DemoSizes:
        """A few training steps per model: checks that every step runs, figures mean nothing."""
        return cls(gan_steps=4, gan_width=4, gan_size=16, dncnn_steps=4, dncnn_depth=3, dncnn_width=4, dncnn_batch=4,
                   speed_size=16, speed_width=4, speed_batch=8, metrics_epochs=1, ensemble_samples=80,
                   ensemble_vae_steps=2, active_rounds=1, active_learner_steps=5, transfer_steps=2,
                   inpaint_steps=2, inpaint_width=4, inpaint_depth=2, inpaint_batch=2, inpaint_patch=16)
