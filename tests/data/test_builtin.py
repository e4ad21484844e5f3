"""Offline data sets and denoising pairs."""

import pytest
import torch

from fusegen.data import NoisyPairs, digits, extract_patches, faces, photo


def test_digits_upsampled_with_labels():
    pytest.importorskip("sklearn")
    data = digits(image_size=16)
    assert data.images.shape == (1797, 1, 16, 16) and data.num_classes == 10
    assert 0 <= data.images.min() and data.images.max() <= 1
    assert sorted(set(data.labels.tolist())) == list(range(10))
    assert digits(image_size=32, channels=3).images.shape[1:] == (3, 32, 32)


def test_faces_are_the_face_half_of_lfw_subset():
    data = faces(image_size=32)
    assert data.images.shape == (100, 1, 32, 32) and data.num_classes == 0


def test_photo_and_patches():
    camera = photo("camera")
    assert camera.shape == (1, 512, 512) and camera.max() <= 1
    assert photo("astronaut", channels=3).shape == (3, 512, 512)
    patches = extract_patches([camera[:, :80, :60]], patch_size=40, stride=20)
    assert patches.shape == (3 * 2, 1, 40, 40)
    torch.testing.assert_close(patches[1], camera[:, 0:40, 20:60])
    with pytest.raises(ValueError, match="unknown photo"):
        photo("nope")


def test_noisy_pairs_fixed_by_index_and_sigma():
    clean = torch.full((200, 1, 16, 16), 0.5)
    pairs = NoisyPairs(clean, sigma=25, seed=3)
    noisy, c = pairs[7]
    torch.testing.assert_close(noisy, pairs[7][0])  # same item, same noise
    assert not torch.equal(noisy, pairs[8][0])
    noise = torch.stack([pairs[i][0] for i in range(200)]) - clean
    assert abs(noise.std().item() * 255 - 25) < 1.0
    blind = NoisyPairs(clean, sigma=(0, 50))
    noisy_batch, _ = blind.batch(torch.arange(200), torch.Generator().manual_seed(0))
    stds = (noisy_batch - clean).flatten(1).std(1) * 255
    assert stds.min() < 10 and stds.max() > 40
    with pytest.raises(ValueError):
        NoisyPairs(clean, sigma=(30, 10))
