"""fusegen.nn.unfuse: the plain-PyTorch twin of a fused model computes the same thing."""

import torch

from torch import nn

from fusegen.models import DCGAN, DnCNN
from fusegen.nn import FusedConvNormAct, fuse, unfuse


def test_unfused_dcgan_matches_in_train_and_eval():
    torch.manual_seed(0)
    fused = DCGAN(latent_dim=8, image_size=16, width=4, num_classes=3)
    eager = unfuse(fused)
    assert not any(isinstance(m, FusedConvNormAct) for m in eager.modules())
    z, y = torch.randn(4, 8), torch.tensor([0, 1, 2, 0])
    for mode in (True, False):
        fused.train(mode), eager.train(mode)
        torch.testing.assert_close(eager(z, y), fused(z, y), atol=1e-5, rtol=1e-4)
        x = torch.rand(4, 1, 16, 16) * 2 - 1  # not fused(z, y): that would update its BN statistics
        torch.testing.assert_close(eager.discriminator(x, y), fused.discriminator(x, y),
                                   atol=1e-5, rtol=1e-4)


def test_unfused_dncnn_matches():
    torch.manual_seed(0)
    fused = DnCNN(depth=4, width=8).eval()
    x = torch.rand(2, 1, 12, 12)
    torch.testing.assert_close(unfuse(fused).denoise(x), fused.denoise(x), atol=1e-5, rtol=1e-4)


def test_unfused_dcgan_has_the_same_gradients():
    torch.manual_seed(0)
    fused = DCGAN(latent_dim=8, image_size=16, width=4, num_classes=3)
    eager = unfuse(fused)
    z, y = torch.randn(6, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    for model in (fused, eager):  # a generator loss through the discriminator
        model.discriminator(model(z, y), y).sum().backward()
    fused_grads = [p.grad for p in fused.parameters()]
    eager_grads = [p.grad for p in eager.parameters()]
    assert len(fused_grads) == len(eager_grads)
    for f, e in zip(fused_grads, eager_grads):
        torch.testing.assert_close(f, e, atol=1e-5, rtol=1e-3)


def test_unfuse_inverts_fuse_for_every_activation():
    torch.manual_seed(0)
    acts = [nn.ReLU(), nn.LeakyReLU(0.3), nn.Tanh(), nn.Sigmoid(), nn.SiLU(), nn.Identity()]
    model = nn.Sequential(*[m for act in acts for m in (nn.Conv2d(3, 3, 3, padding=1),
                                                        nn.BatchNorm2d(3), act)]).eval()
    fused = fuse(model)
    assert sum(isinstance(m, FusedConvNormAct) for m in fused.modules()) == len(acts)
    eager = unfuse(fused)
    assert not any(isinstance(m, FusedConvNormAct) for m in eager.modules())
    leaky = [m for m in eager.modules() if isinstance(m, nn.LeakyReLU)]
    assert [m.negative_slope for m in leaky] == [0.3]
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(eager(x), model(x), atol=1e-5, rtol=1e-4)
