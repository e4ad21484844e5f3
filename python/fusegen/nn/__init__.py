"""fusegen's modules, built on the fused operators."""

from .bm3d import BM3DDenoise
from .conv_norm_act import FusedConvNormAct
from .fuse import fuse
from .fuse_report import FuseReport
from .nlm import NLMDenoise
from .norm_act import FusedNormAct
from .partial_conv import PartialConvNormAct
from .unfuse import unfuse
from .weighted_sum import WeightedSum

__all__ = ["BM3DDenoise", "FuseReport", "FusedConvNormAct", "FusedNormAct", "NLMDenoise",
           "PartialConvNormAct", "WeightedSum", "fuse", "unfuse"]
