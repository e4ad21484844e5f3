"""fusegen's modules, built on the fused operators."""

from .weighted_sum import WeightedSum

__all__ = ["WeightedSum"]
