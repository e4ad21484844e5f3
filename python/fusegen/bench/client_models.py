"""Users' networks, written the way the most-used public code writes them, for ``fusegen bench fuse``.

Each builder re-implements one well-known architecture in plain ``torch.nn`` (no fusegen), in the
style of the code people copy -- module order, in-place activations, biases, custom ``forward``
methods -- so that :func:`fusegen.nn.fuse` is judged on the models users already have:

* :func:`resnet_generator`: CycleGAN / pix2pix ``ResnetGenerator`` and ``ResnetBlock``
  (Zhu et al. 2017);
* :func:`unet_generator`: pix2pix ``UnetGenerator`` of nested ``UnetSkipConnectionBlock``
  (Isola et al. 2017);
* :func:`patchgan_discriminator`: pix2pix / CycleGAN ``NLayerDiscriminator`` (the 70x70 PatchGAN);
* :func:`preact_resnet`: pre-activation ResNet-18 (He et al. 2016) as kuangliu/pytorch-cifar's
  ``PreActBlock`` writes it;
* :func:`dncnn`: DnCNN (Zhang et al. 2017) as its authors' PyTorch training code writes it;
* :func:`vgg_discriminator`: SRGAN's VGG-style discriminator (Ledig et al. 2017).

:data:`CLIENT_MODELS` names them with their input channels and smallest image size;
:func:`build` makes one with a fixed seed.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

# The CycleGAN / pix2pix ``get_norm_layer`` choices. "instance" is that code's InstanceNorm in its
# earlier releases (running statistics tracked, and used in eval mode); its current version tracks
# none ("instance-untracked").
NORM_LAYERS: dict[str, Callable[[int], nn.Module]] = {
    "instance": functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=True),
    "instance-untracked": functools.partial(nn.InstanceNorm2d, affine=False,
                                            track_running_stats=False),
    "batch": functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True),
}


def norm_layer(norm: str | Callable[[int], nn.Module]) -> Callable[[int], nn.Module]:
    """A norm-layer factory (channels -> module) from a :data:`NORM_LAYERS` name, or ``norm`` itself."""
    if callable(norm):
        return norm
    if norm not in NORM_LAYERS:
        raise ValueError(f"norm must be one of {tuple(NORM_LAYERS)} or a callable, got {norm!r}")
    return NORM_LAYERS[norm]


def _use_bias(norm: Callable[[int], nn.Module]) -> bool:
    """As the CycleGAN code: convolutions before InstanceNorm keep a bias (affine=False has no
    shift of its own), those before BatchNorm do not."""
    func = norm.func if isinstance(norm, functools.partial) else norm
    return func is nn.InstanceNorm2d


# ---- CycleGAN / pix2pix ResnetGenerator -----------------------------------------------------------

class ResnetBlock(nn.Module):
    """Reflection pad -> Conv3x3 -> Norm -> ReLU -> reflection pad -> Conv3x3 -> Norm, plus ``x``."""

    def __init__(self, dim: int, norm: Callable[[int], nn.Module], use_bias: bool) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=use_bias),
            norm(dim),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, kernel_size=3, padding=0, bias=use_bias),
            norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    """CycleGAN's generator: 7x7 stem, two stride-2 downsamplings, ResnetBlocks, two transposed
    upsamplings, 7x7 output conv and Tanh, all in one ``nn.Sequential``."""

    def __init__(self, in_ch: int = 3, out_ch: int = 3, width: int = 64, blocks: int = 9,
                 norm: str | Callable[[int], nn.Module] = "instance") -> None:
        super().__init__()
        norm = norm_layer(norm)
        use_bias = _use_bias(norm)
        model = [nn.ReflectionPad2d(3),
                 nn.Conv2d(in_ch, width, kernel_size=7, padding=0, bias=use_bias),
                 norm(width),
                 nn.ReLU(True)]
        for i in range(2):  # downsampling
            mult = 2 ** i
            model += [nn.Conv2d(width * mult, width * mult * 2, kernel_size=3, stride=2, padding=1,
                                bias=use_bias),
                      norm(width * mult * 2),
                      nn.ReLU(True)]
        model += [ResnetBlock(width * 4, norm, use_bias) for _ in range(blocks)]
        for i in range(2):  # upsampling
            mult = 2 ** (2 - i)
            model += [nn.ConvTranspose2d(width * mult, width * mult // 2, kernel_size=3, stride=2,
                                         padding=1, output_padding=1, bias=use_bias),
                      norm(width * mult // 2),
                      nn.ReLU(True)]
        model += [nn.ReflectionPad2d(3),
                  nn.Conv2d(width, out_ch, kernel_size=7, padding=0),
                  nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.model(input)


def resnet_generator(in_ch: int = 3, out_ch: int = 3, width: int = 64, blocks: int = 9,
                     norm: str | Callable[[int], nn.Module] = "instance") -> ResnetGenerator:
    """CycleGAN / pix2pix ``ResnetGenerator`` (``resnet_9blocks``; ``blocks=6`` is
    ``resnet_6blocks``), ``norm`` a :data:`NORM_LAYERS` name or factory. Image sides: multiples
    of 4, at least 8 (the reflection padding needs more pixels than it pads)."""
    return ResnetGenerator(in_ch, out_ch, width, blocks, norm)


# ---- pix2pix UnetGenerator ------------------------------------------------------------------------

class UnetSkipConnectionBlock(nn.Module):
    """One level of the U-Net: activation-first down path, ``submodule``, up path; its input is
    concatenated with its output (except in the outermost block).

    As in the pix2pix code, the down path's ``LeakyReLU(0.2, True)`` works in place on the
    block's input, so the skip connection carries the activated input."""

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: int | None = None,
                 submodule: nn.Module | None = None, outermost: bool = False,
                 innermost: bool = False, norm: Callable[[int], nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        self.outermost = outermost
        use_bias = _use_bias(norm)
        if input_nc is None:
            input_nc = outer_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        downrelu = nn.LeakyReLU(0.2, True)
        downnorm = norm(inner_nc)
        uprelu = nn.ReLU(True)
        upnorm = norm(outer_nc)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1,
                                        bias=use_bias)
            model = [downrelu, downconv, uprelu, upconv, upnorm]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1,
                                        bias=use_bias)
            model = [downrelu, downconv, downnorm, submodule, uprelu, upconv, upnorm]
        self.model = nn.Sequential(*model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """pix2pix's U-Net: ``num_downs`` nested skip blocks, innermost first."""

    def __init__(self, in_ch: int = 3, out_ch: int = 3, num_downs: int = 6, width: int = 64,
                 norm: str | Callable[[int], nn.Module] = "batch") -> None:
        super().__init__()
        if num_downs < 5:
            raise ValueError(f"num_downs must be >= 5, got {num_downs}")
        norm = norm_layer(norm)
        block = UnetSkipConnectionBlock(width * 8, width * 8, norm=norm, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(width * 8, width * 8, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(width * 4, width * 8, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(width * 2, width * 4, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(width, width * 2, submodule=block, norm=norm)
        self.model = UnetSkipConnectionBlock(out_ch, width, input_nc=in_ch, submodule=block,
                                             outermost=True, norm=norm)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.model(input)


def unet_generator(in_ch: int = 3, out_ch: int = 3, num_downs: int = 6, width: int = 64,
                   norm: str | Callable[[int], nn.Module] = "batch") -> UnetGenerator:
    """pix2pix ``UnetGenerator`` (``unet_128`` is ``num_downs=7``, ``unet_256`` is 8).

    Each level halves the image, so image sides must be multiples of ``2 ** num_downs`` (64 for
    the default 6; 32 for ``num_downs=5``, the smallest)."""
    return UnetGenerator(in_ch, out_ch, num_downs, width, norm)


# ---- pix2pix / CycleGAN NLayerDiscriminator -------------------------------------------------------

class NLayerDiscriminator(nn.Module):
    """PatchGAN: Conv4x4/s2 -> LeakyReLU, then Conv4x4 -> Norm -> LeakyReLU blocks (stride 2, the
    last one stride 1), then a Conv4x4 to one channel of patch logits."""

    def __init__(self, in_ch: int = 3, width: int = 64, layers: int = 3,
                 norm: str | Callable[[int], nn.Module] = "batch") -> None:
        super().__init__()
        norm = norm_layer(norm)
        use_bias = _use_bias(norm)
        kw, padw = 4, 1
        sequence = [nn.Conv2d(in_ch, width, kernel_size=kw, stride=2, padding=padw),
                    nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, layers + 1):
            mult_prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < layers else 1
            sequence += [nn.Conv2d(width * mult_prev, width * mult, kernel_size=kw, stride=stride,
                                   padding=padw, bias=use_bias),
                         norm(width * mult),
                         nn.LeakyReLU(0.2, True)]
        sequence += [nn.Conv2d(width * mult, 1, kernel_size=kw, stride=1, padding=padw)]
        self.model = nn.Sequential(*sequence)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return self.model(input)


def patchgan_discriminator(in_ch: int = 3, width: int = 64, layers: int = 3,
                           norm: str | Callable[[int], nn.Module] = "batch") -> NLayerDiscriminator:
    """pix2pix / CycleGAN ``NLayerDiscriminator`` (``layers=3``: the 70x70 PatchGAN). Image sides
    at least ``2 ** layers * 4`` (32 for 3 layers), so that the last norm sees more than one pixel."""
    return NLayerDiscriminator(in_ch, width, layers, norm)


# ---- pre-activation ResNet (kuangliu/pytorch-cifar) ----------------------------------------------

class PreActBlock(nn.Module):
    """BN -> ReLU -> Conv3x3 -> BN -> ReLU -> Conv3x3, plus the shortcut; ReLUs are ``F.relu`` in
    ``forward``, as in kuangliu/pytorch-cifar."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion * planes, kernel_size=1, stride=stride, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if hasattr(self, "shortcut") else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        out += shortcut
        return out


class PreActResNet(nn.Module):
    """A 3x3 stem, four stages of ``PreActBlock`` (strides 1, 2, 2, 2), average pool, linear."""

    def __init__(self, num_blocks=(2, 2, 2, 2), num_classes: int = 10, width: int = 64,
                 in_ch: int = 3) -> None:
        super().__init__()
        self.in_planes = width
        self.conv1 = nn.Conv2d(in_ch, width, kernel_size=3, stride=1, padding=1, bias=False)
        self.layer1 = self._make_layer(width, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(width * 2, num_blocks[1], stride=2)
        self.layer3 = self._make_layer(width * 4, num_blocks[2], stride=2)
        self.layer4 = self._make_layer(width * 8, num_blocks[3], stride=2)
        self.linear = nn.Linear(width * 8 * PreActBlock.expansion, num_classes)

    def _make_layer(self, planes: int, num_blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (num_blocks - 1):
            layers.append(PreActBlock(self.in_planes, planes, s))
            self.in_planes = planes * PreActBlock.expansion
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        # kuangliu's code pools with F.avg_pool2d(out, 4), right for 32 px only; the adaptive
        # pool is the same there and lets the model take any image size.
        out = F.adaptive_avg_pool2d(out, 1)
        out = out.view(out.size(0), -1)
        return self.linear(out)


def preact_resnet(num_classes: int = 10, width: int = 64, blocks=(2, 2, 2, 2),
                  in_ch: int = 3) -> PreActResNet:
    """Pre-activation ResNet-18 (``blocks=(2, 2, 2, 2)``) in kuangliu/pytorch-cifar's style, for
    CIFAR-sized images (32 px) and up; image sides at least 8."""
    return PreActResNet(tuple(blocks), num_classes, width, in_ch)


# ---- DnCNN ----------------------------------------------------------------------------------------

class DnCNN(nn.Module):
    """Conv+ReLU, ``depth - 2`` x (Conv -> BatchNorm -> ReLU), Conv, in one ``nn.Sequential``
    predicting the noise; returns the input minus it (residual learning)."""

    def __init__(self, channels: int = 1, depth: int = 17, width: int = 64) -> None:
        super().__init__()
        layers = [nn.Conv2d(channels, width, kernel_size=3, padding=1, bias=True),
                  nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, kernel_size=3, padding=1, bias=False),
                       nn.BatchNorm2d(width, eps=0.0001, momentum=0.95),
                       nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, channels, kernel_size=3, padding=1, bias=False))
        self.dncnn = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        out = self.dncnn(x)
        return y - out


def dncnn(channels: int = 1, depth: int = 17, width: int = 64) -> DnCNN:
    """DnCNN as in its authors' PyTorch training code (``depth=17``: DnCNN-S; 20: DnCNN-B), any
    image size."""
    return DnCNN(channels, depth, width)


# ---- SRGAN discriminator --------------------------------------------------------------------------

class VGGDiscriminator(nn.Module):
    """Conv3x3 -> LeakyReLU, then seven Conv3x3 -> BatchNorm -> LeakyReLU blocks (strides 2, 1, 2,
    1, 2, 1, 2; channels doubling every other block), then a dense head on the average-pooled
    features: Linear -> LeakyReLU -> Linear to one logit."""

    def __init__(self, in_ch: int = 3, width: int = 64) -> None:
        super().__init__()
        layers = [nn.Conv2d(in_ch, width, kernel_size=3, padding=1), nn.LeakyReLU(0.2)]
        channels = width
        for i in range(7):
            out = width * 2 ** ((i + 1) // 2)
            layers += [nn.Conv2d(channels, out, kernel_size=3, stride=2 if i % 2 == 0 else 1,
                                 padding=1),
                       nn.BatchNorm2d(out),
                       nn.LeakyReLU(0.2, True)]
            channels = out
        self.features = nn.Sequential(*layers)
        # SRGAN's dense 1024 -> dense 1 after pooling (leftthomas/SRGAN writes them as 1x1 convs);
        # the pool lets any image size in, not only the 96 px crops of the paper.
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(channels, width * 16), nn.LeakyReLU(0.2, True),
                                        nn.Linear(width * 16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.pool(self.features(x))
        return self.classifier(torch.flatten(out, 1))


def vgg_discriminator(in_ch: int = 3, width: int = 64) -> VGGDiscriminator:
    """SRGAN's VGG-style discriminator; returns logits (no sigmoid: the losses take logits). Image
    sides at least 32 (four stride-2 convolutions leave 2x2 for the last BatchNorm)."""
    return VGGDiscriminator(in_ch, width)


# ---- registry -------------------------------------------------------------------------------------

class ClientModel(NamedTuple):
    builder: Callable[..., nn.Module]
    in_channels: int
    min_size: int  # the smallest image side its default configuration takes


CLIENT_MODELS: dict[str, ClientModel] = {
    "resnet_generator": ClientModel(resnet_generator, 3, 8),
    "unet_generator": ClientModel(unet_generator, 3, 64),
    "patchgan_discriminator": ClientModel(patchgan_discriminator, 3, 32),
    "preact_resnet": ClientModel(preact_resnet, 3, 8),
    "dncnn": ClientModel(dncnn, 1, 1),
    "vgg_discriminator": ClientModel(vgg_discriminator, 3, 32),
}


def build(name: str, seed: int = 0, **options) -> nn.Module:
    """The :data:`CLIENT_MODELS` model ``name``, built with ``options`` after
    ``torch.manual_seed(seed)`` (same seed, same weights)."""
    if name not in CLIENT_MODELS:
        raise ValueError(f"name must be one of {tuple(CLIENT_MODELS)}, got {name!r}")
    torch.manual_seed(seed)
    return CLIENT_MODELS[name].builder(**options)
