"""fusegen's functional API: checked wrappers over ``torch.ops.fusegen.*``.

One module per operator family, named like the operators and their kernels in ``csrc/ops/``:
:mod:`~fusegen.ops.norm_act`, :mod:`~fusegen.ops.bias_act`, :mod:`~fusegen.ops.weighted_sum`,
:mod:`~fusegen.ops.nlm`, :mod:`~fusegen.ops.bm3d`; the composites :mod:`~fusegen.ops.conv_norm_act` and
:mod:`~fusegen.ops.conv_bias_act`; the activation table every layer reads,
:mod:`~fusegen.ops.activations`. Plain-PyTorch twins of every operator, used as references by
the tests and benchmarks, live in :mod:`fusegen.ops.reference`.
"""

from . import activations, reference
from .bias_act import bias_act
from .bm3d import bm3d_denoise
from .conv_bias_act import conv_bias_act
from .conv_norm_act import conv_norm_act
from .nlm import nlm_denoise
from .norm_act import norm_act
from .partial_conv import keep_valid, mask_counts, partial_bias_act
from .weighted_sum import weighted_sum

__all__ = ["activations", "bias_act", "bm3d_denoise", "conv_bias_act", "conv_norm_act", "keep_valid", "mask_counts", "nlm_denoise", "norm_act", "partial_bias_act",
           "reference", "weighted_sum"]
