"""fusegen's functional API: checked wrappers over ``torch.ops.fusegen.*``.

Plain-PyTorch twins of every operator, used as references by the tests and benchmarks, live
in :mod:`fusegen.ops.reference`.
"""

from . import reference
from .conv_norm_act import bias_act, conv_norm_act, norm_act
from .weighted_sum import weighted_sum

__all__ = ["bias_act", "conv_norm_act", "norm_act", "reference", "weighted_sum"]
