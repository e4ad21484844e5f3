"""``TransferReport``: what :func:`~fusegen.transfer.load_partial` loaded, and what it did not."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TransferReport:
    """The outcome of loading pre-trained weights into a model.

    Attributes:
        source: where the weights came from (a checkpoint path, or a description).
        source_kind: the source's model kind (``"dncnn"``, ...) when it says, else None.
        config_changes: ``{option: (source value, model value)}`` for model options that differ.
        loaded: keys (of ``model.state_dict()``) copied from the source.
        mismatched: ``(key, model shape, source shape)`` for keys in both whose shapes differ:
            not loaded, kept as initialized.
        missing: model keys the source lacks (kept as initialized).
        unused: source keys the model lacks (ignored), under their source names.
        loaded_values, total_values: number of tensor elements loaded / in the model's state.
    """

    source: str
    source_kind: str | None = None
    config_changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    loaded: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    loaded_values: int = 0
    total_values: int = 0

    @property
    def complete(self) -> bool:
        """True when every tensor of the model was loaded."""
        return not self.mismatched and not self.missing

    @property
    def not_loaded(self) -> list[str]:
        """Model keys left as initialized: the shape-mismatched ones, then the missing ones."""
        return [key for key, _, _ in self.mismatched] + list(self.missing)

    def __str__(self) -> str:
        kind = f" ({self.source_kind})" if self.source_kind else ""
        total = len(self.loaded) + len(self.mismatched) + len(self.missing)
        share = self.loaded_values / self.total_values if self.total_values else 0.0
        lines = [f"initialized from {self.source}{kind}: loaded {len(self.loaded)} of {total} "
                 f"tensors ({share:.1%} of the model's values)"]
        for key, (was, now) in self.config_changes.items():
            lines.append(f"  option {key}: {was!r} in the source, {now!r} here")
        for key, expected, got in self.mismatched:
            lines.append(f"  not loaded, shape differs: {key}: source {_shape(got)}, "
                         f"model {_shape(expected)}")
        for key in self.missing:
            lines.append(f"  not loaded, not in the source: {key}")
        for key in self.unused:
            lines.append(f"  unused from the source: {key}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict (stored in fine-tuned checkpoints); see :meth:`from_dict`."""
        return {
            "source": self.source, "source_kind": self.source_kind,
            "config_changes": {k: list(v) for k, v in self.config_changes.items()},
            "loaded": list(self.loaded),
            "mismatched": [{"key": k, "model_shape": list(e), "source_shape": list(g)}
                           for k, e, g in self.mismatched],
            "missing": list(self.missing), "unused": list(self.unused),
            "loaded_values": self.loaded_values, "total_values": self.total_values,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TransferReport:
        return cls(
            source=d["source"], source_kind=d.get("source_kind"),
            config_changes={k: tuple(v) for k, v in d.get("config_changes", {}).items()},
            loaded=list(d["loaded"]),
            mismatched=[(m["key"], tuple(m["model_shape"]), tuple(m["source_shape"]))
                        for m in d.get("mismatched", [])],
            missing=list(d.get("missing", [])), unused=list(d.get("unused", [])),
            loaded_values=int(d.get("loaded_values", 0)), total_values=int(d.get("total_values", 0)),
        )


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"
