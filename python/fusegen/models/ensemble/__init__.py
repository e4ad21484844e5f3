"""Ensembles of trained models, each combined by the fused weighted sum (:func:`fusegen.ops.weighted_sum`).

Three ways to combine K models with weights ``w`` on the probability simplex (``w_k >= 0``,
``sum_k w_k = 1``):

* ``"mixture"`` (generators): each sample comes from one member, member ``k`` with probability
  ``w_k``. The samples are assembled with per-sample one-hot weights. A pixel average of GAN
  samples is *not* a sample of the mixture: it blurs the members' modes together.
* ``"average"`` (restoration models, VAE reconstructions): the output-space weighted average
  ``sum_k w_k f_k(x)``. Denoisers with different errors (NLM and DnCNN) can beat each member.
* ``"soup"``: one model whose parameters are the weighted average of same-architecture models'
  parameters (Wortsman et al. 2022). Meaningful for models fine-tuned from one initialisation:
  independently initialised networks differ by a permutation of their units and do not average.

Weights are fixed or learned from data: for restoration, by least squares on validation pairs
(exact on the simplex) or by gradient descent on their mean PSNR; for generators, by minimising
the squared MMD between the mixture's features and real features (exact on the simplex).
:meth:`Ensemble.report` scores the ensemble beside each member on the same metric.

Modules: :mod:`.weights` (the simplex, least squares, MMD), :mod:`.soup` (parameter averages),
:mod:`.members` (checks of members and data), :mod:`.ensemble` (the module), :mod:`.report`
(scores and their table).
"""

from .ensemble import Ensemble
from .members import MODES
from .report import format_report
from .soup import soup
from .weights import least_squares_weights, mmd_mixture_weights, normalize_weights, simplex_qp

__all__ = ["MODES", "Ensemble", "format_report", "least_squares_weights", "mmd_mixture_weights",
           "normalize_weights", "simplex_qp", "soup"]
