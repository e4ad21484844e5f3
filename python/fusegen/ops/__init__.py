"""fusegen's functional API: checked wrappers over ``torch.ops.fusegen.*``.

Plain-PyTorch twins of every operator, used as references by the tests and benchmarks, live
in :mod:`fusegen.ops.reference`.
"""

from . import reference
from . import onednn
from .conv_norm_act import bias_act, conv_bias_act, conv_norm_act, norm_act
from .nlm import nlm_denoise
from .weighted_sum import weighted_sum

__all__ = ["bias_act", "conv_bias_act", "conv_norm_act", "nlm_denoise", "norm_act", "reference", "weighted_sum"]
