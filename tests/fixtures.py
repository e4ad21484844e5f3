"""Small trained checkpoints shared by the tests of several packages (import the fixtures)."""

from __future__ import annotations

import pytest
import torch

from fusegen.checkpoint import save_model
from fusegen.models import DCGAN, DnCNN
from fusegen.train import train

GAN = dict(image_size=16, width=4, latent_dim=8, batch_size=8, device="cpu", progress=False)
DNCNN = dict(batch_size=4, device="cpu", progress=False)


def write_images(folder, count: int, size: int, seed: int) -> str:
    from fusegen.data import write_image

    folder.mkdir()
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    for i in range(count):  # smooth images, so that denoising them is meaningful
        phase = float(torch.rand(1, generator=g)) * 6
        write_image((0.5 + 0.4 * torch.sin(6 * x + phase) * torch.cos(4 * y))[None], folder / f"{i}.png")
    return str(folder)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ensemble")
    paths = {}
    for k in range(2):
        torch.manual_seed(k)
        paths[f"dncnn{k}"] = str(save_model(DnCNN(depth=3, width=4).eval(), tmp / f"dncnn{k}.pt"))
        gan = DCGAN(latent_dim=8, image_size=16, width=4).eval()
        paths[f"gan{k}"] = str(save_model(gan, tmp / f"gan{k}.pt"))
    torch.manual_seed(2)
    paths["dncnn_wide"] = str(save_model(DnCNN(depth=3, width=6).eval(), tmp / "wide.pt"))
    paths["val"] = write_images(tmp / "val", 2, 48, seed=0)
    paths["test"] = write_images(tmp / "test", 2, 40, seed=1)
    return tmp, paths


@pytest.fixture(scope="module")
def pre(tmp_path_factory):
    """Tiny pre-trained checkpoints: a conditional digits GAN (10 classes), a DnCNN at sigma 25, a VAE."""
    pytest.importorskip("sklearn")
    root = tmp_path_factory.mktemp("pre")
    train("dcgan", "digits", root / "gan", 2, conditional=True, **GAN)
    train("dncnn", "photos", root / "dncnn", 2, depth=4, width=4, **DNCNN)
    train("vae", "digits", root / "vae", 1, **{**GAN, "width": 4})
    return {k: root / k / "last.pt" for k in ("gan", "dncnn", "vae")}
