"""Distance-to-real metrics for generated and restored images.

Set metrics on (n, d) feature tensors (extract them with :class:`FeatureExtractor`):

* :func:`frechet_distance` — Fréchet distance of Gaussian fits (lower is better)
* :func:`kid` — kernel distance, unbiased MMD² (lower is better)
* :func:`precision_recall` — fidelity and diversity of k-NN manifolds (higher is better)
* :func:`density_coverage` — their outlier-robust variants (higher is better)
* :func:`within_class_diversity` — a conditional generator's spread within each class, as a
  share of the real data's (higher is better, up to about 1)

Per-sample risks of generated samples: :func:`realism_score`, :func:`knn_distance`,
:func:`classifier_two_sample_test`. Restoration: :func:`psnr`, :func:`ssim`.
:func:`evaluate` runs them all; ``fusegen evaluate`` does it from the command line.
"""

from .diversity import mean_pairwise_distance, within_class_diversity
from .evaluate import evaluate
from .features import FeatureExtractor, SmallCNN
from .image_metrics import psnr, ssim
from .risk import TwoSampleTest, classifier_two_sample_test, knn_distance, realism_score
from .set_metrics import (
    KID,
    DensityCoverage,
    PrecisionRecall,
    density_coverage,
    feature_statistics,
    frechet_distance,
    frechet_distance_from_statistics,
    kid,
    precision_recall,
)

__all__ = [
    "KID", "DensityCoverage", "FeatureExtractor", "PrecisionRecall", "SmallCNN", "TwoSampleTest",
    "classifier_two_sample_test", "density_coverage", "evaluate", "feature_statistics",
    "frechet_distance", "frechet_distance_from_statistics", "kid", "knn_distance", "precision_recall",
    "mean_pairwise_distance", "psnr", "realism_score", "ssim", "within_class_diversity",
]
