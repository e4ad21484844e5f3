"""Checks and conversions of an ensemble's members, names, labels and data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .soup import check_states

MODES = ("mixture", "average", "soup")


def interface_of(m: nn.Module) -> str:
    """What a member does: "restore", "denoise", "reconstruct", "sample" or "forward"."""
    if getattr(m, "kind", None) == "ensemble":  # a nested ensemble: what it can do in its mode
        if m.mode == "mixture":
            return "sample"
        if m.restores:
            return "denoise"
        return m.interface if m.interface in ("reconstruct", "sample") else "forward"
    if callable(getattr(m, "restore", None)) and callable(getattr(m, "denoise", None)):
        return "restore"
    if callable(getattr(m, "denoise", None)):
        return "denoise"
    if callable(getattr(m, "reconstruct", None)):
        return "reconstruct"
    if callable(getattr(m, "sample", None)):
        return "sample"
    return "forward"


def build_members(members: object) -> list[nn.Module]:
    if isinstance(members, (nn.Module, str, bytes, Mapping)) or not isinstance(members, Sequence):
        raise TypeError(f"members must be a list of models, got {type(members).__name__}")
    members = list(members)
    if not members:
        raise ValueError("members must hold at least one model, got none")
    built = []
    for k, m in enumerate(members):
        if isinstance(m, Mapping):
            from ..registry import build_model

            if "kind" not in m or "config" not in m:
                raise ValueError(f"members[{k}] as a specification needs 'kind' and 'config', got "
                                 f"keys {sorted(m)}")
            m = build_model(m["kind"], dict(m["config"]))
        if not isinstance(m, nn.Module):
            raise TypeError(f"members[{k}] must be a torch.nn.Module, got {type(m).__name__}")
        built.append(m)
    return built


def resolve_mode(mode: object, members: list[nn.Module]) -> str:
    if mode == "auto":
        interfaces = {interface_of(m) for m in members}
        if interfaces <= {"restore", "denoise"}:
            return "average"
        if all(callable(getattr(m, "sample", None)) for m in members):
            return "mixture"
        classes = ", ".join(type(m).__name__ for m in members)
        raise ValueError(f"mode='auto' cannot tell how to combine {classes}: pass mode='mixture', "
                         f"'average' or 'soup'")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES} or 'auto', got {mode!r}")
    return str(mode)


def check_members(members: list[nn.Module], mode: str) -> str:
    """Checks for ``mode``; returns the members' common interface."""
    interfaces = [interface_of(m) for m in members]
    if mode == "mixture":
        for k, m in enumerate(members):
            if not callable(getattr(m, "sample", None)):
                raise ValueError(f"mode='mixture' combines generators: members[{k}] "
                                 f"({type(m).__name__}) has no sample(n, labels, generator)")
        classes = [int(getattr(m, "num_classes", 0) or 0) for m in members]
        if len(set(classes)) > 1:
            raise ValueError(f"a mixture's members must agree on conditioning: num_classes are {classes}")
        check_same_config(members, ("channels", "image_size"))
        return "sample"
    if mode == "soup":
        check_states(members, "members")
        return interfaces[0]
    # average
    for k, (m, i) in enumerate(zip(members, interfaces)):
        if i == "sample":
            raise ValueError(f"members[{k}] ({type(m).__name__}) is a generator: a pixel average of "
                             f"generated images is not a sample of any member and blurs their "
                             f"modes; use mode='mixture' (or 'soup' for models fine-tuned from one "
                             f"initialisation)")
    kinds = {"restore": "denoise", "denoise": "denoise", "reconstruct": "reconstruct", "forward": "forward"}
    if len({kinds[i] for i in interfaces}) > 1:
        described = ", ".join(f"members[{k}] {kinds[i]}" for k, i in enumerate(interfaces))
        raise ValueError(f"an average needs members with one interface, got: {described}")
    if interfaces[0] in ("restore", "denoise"):
        channels = [getattr(m, "channels", None) for m in members]
        known = {c for c in channels if c is not None}
        if len(known) > 1:
            raise ValueError(f"an average needs one channel count, members take {channels}")
        if interfaces.count("restore") != len(interfaces):
            return "denoise"
        return "restore"
    if interfaces[0] == "reconstruct":
        check_same_config(members, ("channels", "image_size"))
    return interfaces[0]


def check_same_config(members: list[nn.Module], keys: tuple[str, ...]) -> None:
    for key in keys:
        values = [getattr(m, "config", {}).get(key) if isinstance(getattr(m, "config", None), Mapping)
                  else None for m in members]
        known = [v for v in values if v is not None]
        if len(set(known)) > 1:
            raise ValueError(f"members must make images of one shape: their {key} are {values}")


def member_names(names: object, members: list[nn.Module]) -> list[str]:
    if names is not None:
        if isinstance(names, (str, bytes)) or not isinstance(names, Sequence):
            raise TypeError(f"names must be a list of {len(members)} strings, got {type(names).__name__}")
        names = [str(x) for x in names]
        if len(names) != len(members):
            raise ValueError(f"names must have one name per member ({len(members)}), got {len(names)}")
        if len(set(names)) != len(names):
            raise ValueError(f"names must be distinct, got {names}")
        if "ensemble" in names or "noisy" in names:
            raise ValueError(f"'ensemble' and 'noisy' name report rows; pick other member names, got {names}")
        return names
    base = [str(getattr(m, "kind", type(m).__name__.lower())) for m in members]
    return [f"{b}[{k}]" if base.count(b) > 1 else b for k, b in enumerate(base)]


def split_labels(labels, n: int) -> torch.Tensor | None:
    if labels is None:
        return None
    y = torch.as_tensor(labels)
    if y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(f"labels must be integers, got {y.dtype}")
    y = y.long().cpu()
    if y.numel() == 1:
        return y.reshape(()).expand(n).clone()
    if y.shape != (n,):
        raise ValueError(f"labels must be one int or {n} of them, got shape {tuple(y.shape)}")
    return y


def labels_like_real(real_labels: object, rows: int, n: int, num_classes: int, given: dict[str, object],
                     generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Checked ``real_labels`` (one per real row, on the CPU) and ``n`` labels drawn from them,
    for conditional members that draw their samples class by class. ``given``: arguments that
    cannot go with ``real_labels`` (name -> value; an error names those that are set)."""
    if not num_classes:
        raise ValueError("real_labels is for conditional members; these members are unconditional")
    clash = [name for name, value in given.items() if value is not None]
    if clash:
        raise ValueError(f"with real_labels the members draw labels from them: leave "
                         f"{' and '.join(given)} out")
    real_labels = torch.as_tensor(real_labels).cpu()
    if real_labels.shape != (rows,):
        raise ValueError(f"real_labels must be ({rows},): one label per real image, got shape "
                         f"{tuple(real_labels.shape)}")
    return real_labels, real_labels[torch.randint(0, rows, (n,), generator=generator)]


def check_pairs(inputs: object, targets: object) -> tuple[torch.Tensor, torch.Tensor]:
    for name, t in (("inputs", inputs), ("targets", targets)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor (N, C, H, W), got {type(t).__name__}")
        if t.dim() != 4 or not t.is_floating_point() or len(t) == 0:
            raise ValueError(f"{name} must be a non-empty float batch (N, C, H, W), got "
                             f"{tuple(t.shape)} {t.dtype}")
    if inputs.shape != targets.shape:
        raise ValueError(f"inputs and targets must have one shape, got {tuple(inputs.shape)} and "
                         f"{tuple(targets.shape)}")
    return inputs, targets

