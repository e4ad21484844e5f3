"""fusegen.nn.fuse on DCGAN-like models."""

import torch
from torch import nn

from fusegen.nn import FusedConvNormAct, fuse


def generator():
    return nn.Sequential(
        nn.ConvTranspose2d(16, 32, 4, 1, 0, bias=False), nn.BatchNorm2d(32), nn.ReLU(True),
        nn.ConvTranspose2d(32, 16, 4, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(True),
        nn.ConvTranspose2d(16, 3, 4, 2, 1, bias=False), nn.Tanh(),
    )


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(16, 32, 4, 2, 1, bias=False), nn.BatchNorm2d(32), nn.LeakyReLU(0.2, inplace=True),
        )
        self.head = nn.Conv2d(32, 1, 4, 1, 0, bias=False)

    def forward(self, x):
        return torch.sigmoid(self.head(self.features(x))).flatten(1)


def _check_same(original, fused, x):
    xo = x.clone().requires_grad_()
    xf = x.clone().requires_grad_()
    out_o, out_f = original(xo), fused(xf)
    torch.testing.assert_close(out_f, out_o, atol=1e-4, rtol=1e-4)
    out_o.square().sum().backward()
    out_f.square().sum().backward()
    torch.testing.assert_close(xf.grad, xo.grad, atol=1e-4, rtol=1e-4)
    fused_params = dict(fused.named_parameters())
    for name, p in original.named_parameters():
        if name in fused_params:  # convolution weights keep their names
            torch.testing.assert_close(fused_params[name].grad, p.grad, atol=1e-4, rtol=1e-4)


def test_fuse_generator_train_and_eval():
    torch.manual_seed(0)
    g = generator()
    fused = fuse(g)
    assert fused is not g and all(not isinstance(m, FusedConvNormAct) for m in g.modules())
    assert [type(m).__name__ for m in fused] == (["FusedConvNormAct", "Identity", "Identity"] * 2
                                                + ["FusedConvNormAct", "Identity"])
    z = torch.randn(4, 16, 1, 1)
    _check_same(g, fused, z)
    torch.testing.assert_close(fused[0].running_mean, g[1].running_mean)
    torch.testing.assert_close(fused[3].running_var, g[4].running_var)
    g.eval()
    fused.eval()
    _check_same(g, fused, z)
    with torch.no_grad():
        torch.testing.assert_close(fused(z), g(z), atol=1e-5, rtol=1e-4)


def test_fuse_nested_discriminator_inplace():
    torch.manual_seed(0)
    d = Discriminator()
    reference = Discriminator()
    reference.load_state_dict(d.state_dict())
    same = fuse(d, inplace=True)
    assert same is d
    assert isinstance(d.features[0], FusedConvNormAct) and d.features[0].norm == "none"
    assert isinstance(d.features[2], FusedConvNormAct) and d.features[2].norm == "batch"
    assert isinstance(d.head, nn.Conv2d)  # a lone convolution is left alone
    _check_same(reference, d, torch.randn(3, 3, 16, 16))


def test_state_dict_of_the_original_loads_into_the_fused_model():
    torch.manual_seed(0)
    trained = generator()
    trained(torch.randn(4, 16, 1, 1))  # move the running statistics away from their start
    torch.manual_seed(1)
    fused = fuse(generator())
    result = fused.load_state_dict(trained.state_dict())
    assert not result.missing_keys and not result.unexpected_keys
    assert set(fused.state_dict()) >= {"0.weight", "0.norm_weight", "0.running_mean", "3.num_batches_tracked"}
    trained.eval()
    fused.eval()
    z = torch.randn(2, 16, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(fused(z), trained(z), atol=1e-5, rtol=1e-4)
    # A fused model's own state_dict loads back as well.
    again = fuse(generator())
    again.load_state_dict(fused.state_dict())


class Block(nn.Module):
    """A Conv -> BN -> LeakyReLU chain called from a custom forward, plus unfusable neighbours."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.LeakyReLU(0.2)
        self.skip_conv = nn.Conv2d(8, 8, 3, padding=1)  # its output is used twice: not fused
        self.skip_bn = nn.BatchNorm2d(8)
        self.shared_act = nn.ReLU()  # called twice: not fused
        self.last = nn.ConvTranspose2d(8, 4, 4, 2, 1)
        self.last_act = nn.Tanh()

    def forward(self, x):
        h = self.act(self.bn(self.conv(x)))
        s = self.skip_conv(h)
        h = self.shared_act(self.skip_bn(s) + s)
        return self.last_act(self.last(self.shared_act(h)))


def test_fuse_attributes_called_from_a_custom_forward():
    torch.manual_seed(0)
    block = Block()
    reference = Block()
    reference.load_state_dict(block.state_dict())
    fused = fuse(block)
    assert isinstance(fused.conv, FusedConvNormAct) and fused.conv.norm == "batch"
    assert isinstance(fused.bn, nn.Identity) and isinstance(fused.act, nn.Identity)
    assert isinstance(fused.last, FusedConvNormAct) and isinstance(fused.last_act, nn.Identity)
    assert type(fused.skip_conv) is nn.Conv2d and type(fused.skip_bn) is nn.BatchNorm2d
    assert type(fused.shared_act) is nn.ReLU
    x = torch.randn(2, 3, 8, 8)
    _check_same(reference, fused, x)
    torch.testing.assert_close(fused.conv.running_mean, reference.bn.running_mean)
    reference.eval()
    fused.eval()
    _check_same(reference, fused, x)
    # The unfused model's state_dict loads into the fused one.
    again = fuse(Block())
    result = again.load_state_dict(reference.state_dict())
    assert not result.missing_keys and not result.unexpected_keys
    again.eval()
    with torch.no_grad():
        torch.testing.assert_close(again(x), reference(x), atol=1e-5, rtol=1e-4)


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.act = nn.ReLU()

    def forward(self, x):
        if x.mean() > 0:  # control flow on a tensor value: torch.fx cannot trace it
            x = -x
        return self.act(self.conv(x))


def test_untraceable_forward_is_left_unfused():
    torch.manual_seed(0)
    model = DataDependent()
    fused = fuse(model)
    assert type(fused.conv) is nn.Conv2d and type(fused.act) is nn.ReLU
    x = torch.randn(2, 3, 6, 6)
    torch.testing.assert_close(fused(x), model(x))
