"""fusegen's functional API: checked wrappers over ``torch.ops.fusegen.*``.

Plain-PyTorch twins of every operator, used as references by the tests and benchmarks, live
in :mod:`fusegen.ops.reference`.
"""

from . import reference
from .nlm import nlm_denoise
from .weighted_sum import weighted_sum

__all__ = ["nlm_denoise", "reference", "weighted_sum"]
