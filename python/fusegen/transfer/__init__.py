"""Transfer learning: fine-tune a trained GAN, VAE or DnCNN on a new domain or noise level.

* :func:`load_partial` -- copy the tensors of a checkpoint that fit a model (same key, same
  shape) and get a :class:`TransferReport` of what was loaded, re-shaped, missing or unused;
* :func:`freeze` / :func:`blocks` / :func:`unfreeze` -- freeze the first N blocks (a DCGAN's
  discriminator by default: FreezeD, Mo et al. 2020), batch norm included;
* :func:`param_groups` -- optimizer groups: new layers at ``lr``, pre-trained ones at
  ``backbone_lr``;
* ``fusegen.train.train(..., init=CKPT, freeze=N, backbone_lr=X)`` and
  ``fusegen train KIND --init CKPT --freeze N --backbone-lr X`` do all three in a training run
  (:class:`FineTune`).
"""

from .freeze import PARTS, blocks, freeze, frozen, param_groups, unfreeze
from .load import load_partial
from .report import TransferReport
from .training import FineTune

__all__ = ["PARTS", "FineTune", "TransferReport", "blocks", "freeze", "frozen",
           "load_partial", "param_groups", "unfreeze"]
