"""fusegen's models, built on :mod:`fusegen.nn` blocks.

Generative models (:class:`DCGAN`, :class:`ConvVAE`) have ``.sample(n, labels=None,
generator=None)`` returning images in [0, 1]; restoration models (:class:`DnCNN`,
:class:`NLMDenoiser`, :class:`BM3DDenoiser`) have ``.denoise(x)``; :class:`InpaintingUNet` fills
missing pixels with ``.inpaint(image, mask)``. ``fusegen.load(path)`` rebuilds any of them from a
training checkpoint.
:class:`Ensemble` combines trained models (mixture of generators, average of restoration models,
parameter soup) with fixed or learned weights; :func:`soup` averages parameters into one model.
"""

from .bm3d_denoiser import BM3DDenoiser
from .dcgan import DCGAN, DCGANDiscriminator, DCGANGenerator
from .dncnn import DnCNN
from .ensemble import Ensemble, format_report, least_squares_weights, mmd_mixture_weights, soup
from .inpaint import InpaintingUNet
from .nlm_denoiser import NLMDenoiser
from .registry import MODEL_KINDS, build_model
from .restoration import RestorationModel
from .vae import ConvVAE

__all__ = ["BM3DDenoiser", "DCGAN", "ConvVAE", "DCGANDiscriminator", "DCGANGenerator", "DnCNN",
           "Ensemble", "InpaintingUNet", "MODEL_KINDS", "NLMDenoiser", "RestorationModel", "build_model",
           "format_report", "least_squares_weights", "mmd_mixture_weights", "soup"]
