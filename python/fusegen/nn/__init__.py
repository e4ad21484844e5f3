"""fusegen's modules, built on the fused operators."""

from .nlm import NLMDenoise
from .weighted_sum import WeightedSum

__all__ = ["NLMDenoise", "WeightedSum"]
