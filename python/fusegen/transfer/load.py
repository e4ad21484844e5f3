"""``load_partial``: copy the pre-trained tensors that fit a model, report the ones that do not."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .report import TransferReport


def read_source(source: Any) -> tuple[dict[str, torch.Tensor], str, str | None, dict | None]:
    """``(state_dict, description, kind, config)`` of a checkpoint path, a checkpoint payload
    (``fusegen.train.load_checkpoint``'s dict), a module, or a plain state dict."""
    if isinstance(source, (str, os.PathLike)):
        from ..checkpoint import load_checkpoint  # OSError naming the file if unusable

        payload = load_checkpoint(source)
        return _from_payload(payload, str(source))
    if isinstance(source, nn.Module):
        return (dict(source.state_dict()), type(source).__name__, getattr(source, "kind", None),
                getattr(source, "config", None))
    if isinstance(source, Mapping):
        if "model" in source and isinstance(source["model"], Mapping):
            return _from_payload(source, "a checkpoint payload")
        if all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in source.items()):
            return dict(source), "a state dict", None, None
        raise TypeError("source must be a checkpoint path, a checkpoint payload (with a 'model' "
                        "state dict), a module or a state dict of tensors")
    raise TypeError(f"source must be a checkpoint path, payload, module or state dict, got "
                    f"{type(source).__name__}")


def _from_payload(payload: Mapping, name: str):
    config = payload.get("config")
    return dict(payload["model"]), name, payload.get("kind"), dict(config) if config else None


def _rename(state: dict[str, torch.Tensor], prefix_map: Mapping[str, str] | None):
    """Source keys under the model's names, and the source keys no prefix matches."""
    if prefix_map is None:
        return dict(state), {k: k for k in state}, []
    renamed, origin, unmatched = {}, {}, []
    prefixes = sorted(prefix_map, key=len, reverse=True)  # the longest matching prefix wins
    for key, value in state.items():
        prefix = next((p for p in prefixes if key.startswith(p)), None)
        if prefix is None:
            unmatched.append(key)
            continue
        new = prefix_map[prefix] + key[len(prefix):]
        renamed[new], origin[new] = value, key
    return renamed, origin, unmatched


def load_partial(model: nn.Module, source: Any, *,
                 prefix_map: Mapping[str, str] | None = None) -> TransferReport:
    """Copy into ``model`` every tensor of ``source`` whose key and shape match; return what was
    and was not loaded.

    Args:
        model: the model to initialize (its parameters and buffers are overwritten in place).
        source: a checkpoint path (``last.pt`` / ``best.pt`` of ``fusegen train``: its exported
            ``model`` weights, so a DCGAN's generator comes with its EMA weights), a checkpoint
            payload, a module, or a state dict.
        prefix_map: ``{source prefix: model prefix}`` to rename keys, e.g. ``{"": "generator."}``
            to load a bare generator's state dict into a DCGAN, or ``{"discriminator.":
            "discriminator."}`` to load only the discriminator. When given, source keys under
            none of its prefixes are not loaded (they are reported as unused).

    Tensors whose shapes differ (a class embedding of 10 classes into a model of 5, a first
    convolution of 1 channel into one of 3) are reported, never loaded or sliced. A checkpoint
    of another model kind (a VAE into a DCGAN) is refused with ``ValueError``, as is a source
    of which no parameter fits. Buffers (batch-norm running statistics) load like parameters.
    """
    state, name, kind, config = read_source(source)
    model_kind = getattr(model, "kind", None)
    if kind and model_kind and kind != model_kind:
        raise ValueError(f"{name}: a {kind} checkpoint cannot initialize a {model_kind} model")
    renamed, origin, unmatched = _rename(state, prefix_map)
    target = model.state_dict()
    report = TransferReport(source=name, source_kind=kind)
    if config and isinstance(getattr(model, "config", None), Mapping):
        report.config_changes = {k: (config[k], v) for k, v in model.config.items()
                                 if k in config and config[k] != v}
    chosen = {}
    for key, tensor in target.items():
        report.total_values += tensor.numel()
        if key not in renamed:
            report.missing.append(key)
        elif tuple(renamed[key].shape) != tuple(tensor.shape):
            report.mismatched.append((key, tuple(tensor.shape), tuple(renamed[key].shape)))
        else:
            chosen[key] = renamed[key]
            report.loaded.append(key)
            report.loaded_values += tensor.numel()
    report.unused = unmatched + [origin[k] for k in renamed if k not in target]
    parameters = {name for name, _ in model.named_parameters()}
    if not parameters & chosen.keys():  # e.g. only batch-norm step counters (shape ()) fit
        hint = ""
        if report.config_changes:
            hint = " (its options differ: " + ", ".join(
                f"{k} {a!r} there, {b!r} here" for k, (a, b) in report.config_changes.items()) + ")"
        raise ValueError(f"{name}: none of its {len(state)} tensors fits this "
                         f"{model_kind or type(model).__name__} model{hint}")
    result = model.load_state_dict(chosen, strict=False)
    if result.unexpected_keys:  # cannot happen: every chosen key is one of the model's
        raise RuntimeError(f"unexpected keys {result.unexpected_keys}")
    return report
