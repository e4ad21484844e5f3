"""Exact resume: N steps in one run == N/2 steps, resume, N/2 more (bit for bit)."""

import pytest
import torch

from fusegen.checkpoint import load_checkpoint
from fusegen.train import train

SMALL = {
    "gan": dict(conditional=True, image_size=16, width=4, latent_dim=8, batch_size=8),
    "vae": dict(conditional=True, image_size=16, width=4, latent_dim=4, batch_size=8),
    "dncnn": dict(depth=3, width=4, batch_size=4, patch_size=40),
}


def _run(kind, out, steps, resume=None):
    data = "photos" if kind == "dncnn" else "digits"
    return train(kind, data, out, steps, seed=3, device="cpu", progress=False, resume=resume,
                 val_every=2, sample_every=3, **SMALL[kind])


@pytest.mark.parametrize("kind", ["gan", "vae", "dncnn"])
def test_resumed_training_matches_uninterrupted_training(kind, tmp_path):
    if kind != "dncnn":
        pytest.importorskip("sklearn")
    _run(kind, tmp_path / "full", 6)
    _run(kind, tmp_path / "half", 3)
    summary = _run(kind, tmp_path / "half", 6, resume=tmp_path / "half" / "last.pt")
    assert summary["steps"] == 6 and summary["steps_this_run"] == 3
    full = load_checkpoint(tmp_path / "full" / "last.pt")
    resumed = load_checkpoint(tmp_path / "half" / "last.pt")
    for name in ("model",):
        for key, value in full[name].items():
            assert torch.equal(value, resumed[name][key]), key
    full_task, resumed_task = full["train_state"]["task"], resumed["train_state"]["task"]
    for key, value in full_task["model"].items():
        assert torch.equal(value, resumed_task["model"][key]), key
    for opt in full_task["optimizers"]:
        for pid, state in full_task["optimizers"][opt]["state"].items():
            for k, v in state.items():
                assert torch.equal(v, resumed_task["optimizers"][opt]["state"][pid][k]), (opt, pid, k)
    assert torch.equal(full["train_state"]["rng"][0]["torch"], resumed["train_state"]["rng"][0]["torch"])
    assert full["train_state"]["data"] == resumed["train_state"]["data"]


def test_resume_refuses_a_different_model(tmp_path):
    pytest.importorskip("sklearn")
    _run("gan", tmp_path / "a", 1)
    with pytest.raises(ValueError, match="configuration"):
        train("gan", "digits", tmp_path / "b", 2, device="cpu", progress=False,
              resume=tmp_path / "a" / "last.pt", **{**SMALL["gan"], "width": 8})
    with pytest.raises(ValueError, match="cannot resume"):
        train("vae", "digits", tmp_path / "c", 2, device="cpu", progress=False,
              resume=tmp_path / "a" / "last.pt", **SMALL["vae"])
