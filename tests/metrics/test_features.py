"""FeatureExtractor: shapes, determinism, training, atomic save and load."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from fusegen.metrics import FeatureExtractor


def two_class_images(n: int = 64, seed: int = 0):
    """Bright-left vs bright-right 8x8 images: easy to learn, labels 0 and 1."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    images = 0.2 * torch.rand(n, 1, 8, 8, generator=g)
    images[labels == 0, :, :, :4] += 0.7
    images[labels == 1, :, :, 4:] += 0.7
    return images, labels


def test_random_extractor_shapes_and_determinism(device):
    images = torch.rand(5, 3, 16, 12).to(device)
    a = FeatureExtractor.random(3, feature_dim=24).to(device)
    b = FeatureExtractor.random(3, feature_dim=24).to(device)
    fa, fb = a.extract(images, batch_size=2), b.extract(images)
    assert fa.shape == (5, 24) and fa.device == images.device
    torch.testing.assert_close(fa, fb)
    assert not torch.allclose(fa, FeatureExtractor.random(3, feature_dim=24, seed=1).to(device).extract(images))
    assert fa.std() > 0.01  # He initialisation: random features are not squashed to constants


def test_random_extractor_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    FeatureExtractor.random(1)
    assert torch.equal(torch.rand(3), expected)


def test_default_extractor_is_the_random_network_for_the_first_images():
    images = torch.rand(4, 2, 8, 8)
    torch.testing.assert_close(FeatureExtractor().extract(images), FeatureExtractor.random(2).extract(images))


def test_wraps_any_module_and_flattens():
    module = nn.Conv2d(1, 2, 3)
    out = FeatureExtractor(module).extract(torch.rand(3, 1, 6, 6))
    assert out.shape == (3, 2 * 4 * 4)
    with pytest.raises(TypeError, match="module must be a torch.nn.Module"):
        FeatureExtractor("resnet")


def test_trained_classifier_learns_the_labels_and_gives_its_features():
    images, labels = two_class_images()
    extractor = FeatureExtractor.train_classifier(images, labels, feature_dim=8, width=8, epochs=15,
                                                  batch_size=16)
    assert extractor.train_accuracy > 0.95
    feats = extractor.extract(images)
    assert feats.shape == (64, 8)
    # Features of the two classes sit apart: class means differ by more than the spread.
    gap = (feats[labels == 0].mean(0) - feats[labels == 1].mean(0)).norm()
    assert gap > feats[labels == 0].std(0).norm()


def test_save_load_round_trip_is_atomic(tmp_path):
    images, labels = two_class_images(16)
    extractor = FeatureExtractor.train_classifier(images, labels, feature_dim=4, width=4, epochs=1)
    path = tmp_path / "extractor.pt"
    extractor.save(path)
    assert os.listdir(tmp_path) == ["extractor.pt"]  # no temporary file left behind
    loaded = FeatureExtractor.load(path)
    torch.testing.assert_close(loaded.extract(images), extractor.extract(images), rtol=0, atol=0)
    assert loaded.description == extractor.description


def test_save_refuses_custom_modules_and_load_refuses_other_files(tmp_path):
    with pytest.raises(TypeError, match="custom module"):
        FeatureExtractor(nn.Identity()).save(tmp_path / "x.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a fusegen feature extractor"):
        FeatureExtractor.load(tmp_path / "other.pt")


def test_argument_errors_are_named():
    with pytest.raises(ValueError, match="images must have shape"):
        FeatureExtractor.random(1).extract(torch.rand(8, 8))
    with pytest.raises(ValueError, match="images have 3 channels but this extractor takes 1"):
        FeatureExtractor.random(1).extract(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="labels must be a 1-D tensor"):
        FeatureExtractor.train_classifier(torch.rand(4, 1, 8, 8), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="feature_dim must be an integer >= 1"):
        FeatureExtractor.random(1, feature_dim=0)
