"""``unfuse(model)``: the same model with plain PyTorch layers, to compare against the fused blocks
(the inverse of :func:`fusegen.nn.fuse`)."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..ops.activations import ACTIVATIONS
from .conv_norm_act import FusedConvNormAct
from .norm_act import FusedNormAct


def eager_block(block: FusedConvNormAct) -> nn.Sequential:
    """``nn.Sequential(conv, norm, act)`` with ``block``'s parameters, buffers and mode."""
    factory = {"device": block.weight.device, "dtype": block.weight.dtype}
    if block.transposed:
        conv = nn.ConvTranspose2d(block.in_channels, block.out_channels, block.kernel_size,
                                  block.stride, block.padding, block.output_padding, block.groups,
                                  block.bias is not None, block.dilation, **factory)
    else:
        conv = nn.Conv2d(block.in_channels, block.out_channels, block.kernel_size, block.stride,
                         block.padding, block.dilation, block.groups, block.bias is not None, **factory)
    if block.norm == "batch":
        norm = nn.BatchNorm2d(block.out_channels, block.eps, block.momentum, block.affine,
                              block.track_running_stats, **factory)
    elif block.norm == "instance":
        norm = nn.InstanceNorm2d(block.out_channels, block.eps, block.momentum, block.affine,
                                 block.track_running_stats, **factory)
    else:
        norm = nn.Identity()
    act = ACTIVATIONS[block.activation].make_module(block.negative_slope)
    with torch.no_grad():
        conv.weight.copy_(block.weight)
        if block.bias is not None:
            conv.bias.copy_(block.bias)
        if block.affine:
            norm.weight.copy_(block.norm_weight)
            norm.bias.copy_(block.norm_bias)
        if block.track_running_stats:
            norm.running_mean.copy_(block.running_mean)
            norm.running_var.copy_(block.running_var)
            norm.num_batches_tracked.copy_(block.num_batches_tracked)
    return nn.Sequential(conv, norm, act).train(block.training)


def eager_norm_act(block: FusedNormAct) -> nn.Sequential:
    """``nn.Sequential(norm, act)`` with ``block``'s parameters, buffers and mode."""
    tensors = [t for t in (block.weight, block.running_mean) if t is not None]
    factory = {"device": tensors[0].device, "dtype": tensors[0].dtype} if tensors else {}
    torch_norm = nn.BatchNorm2d if block.norm == "batch" else nn.InstanceNorm2d
    norm = torch_norm(block.num_features, block.eps, block.momentum, block.affine,
                      block.track_running_stats, **factory)
    norm.load_state_dict(block.state_dict())
    act = ACTIVATIONS[block.activation].make_module(block.negative_slope)
    return nn.Sequential(norm, act).train(block.training)


def unfuse(model: nn.Module) -> nn.Module:
    """A copy of ``model`` in which every :class:`~fusegen.nn.FusedConvNormAct` is replaced by the
    equivalent eager ``nn.Sequential(conv, norm, act)`` and every
    :class:`~fusegen.nn.FusedNormAct` by ``nn.Sequential(norm, act)``: same outputs, plain
    PyTorch. Blocks with spectral normalization are not supported."""
    model = copy.deepcopy(model)
    for name, child in list(model.named_children()):
        if isinstance(child, FusedConvNormAct):
            if torch.nn.utils.parametrize.is_parametrized(child):
                raise ValueError("unfuse does not support parametrized (spectral-norm) blocks")
            setattr(model, name, eager_block(child))
        elif isinstance(child, FusedNormAct):
            setattr(model, name, eager_norm_act(child))
        else:
            setattr(model, name, unfuse(child))
    return model
