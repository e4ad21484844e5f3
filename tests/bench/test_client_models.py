"""fuse(model) on the client models: the outputs, gradients and running statistics of the model.

Each model is built small, its parameters and running statistics moved off their initial values
(so that eval-mode norms do real work and every tensor is told apart by its values), then fused.
"""

from __future__ import annotations

import pytest
import torch

from fusegen.bench.client_models import CLIENT_MODELS, build
from fusegen.nn import FusedConvNormAct, fuse

# name -> (options for a small model, image side)
SMALL = {
    "resnet_generator": ({"width": 8, "blocks": 2}, 16),
    "unet_generator": ({"width": 8, "num_downs": 5}, 32),
    "patchgan_discriminator": ({"width": 8}, 32),
    "preact_resnet": ({"width": 8, "blocks": (1, 1, 1, 1)}, 16),
    "dncnn": ({"width": 8, "depth": 5}, 16),
    "vgg_discriminator": ({"width": 8}, 32),
}
WITH_NORM_CHOICE = ("resnet_generator", "unet_generator", "patchgan_discriminator")
CASES = [(name, None) for name in SMALL if name not in WITH_NORM_CHOICE] + [
    (name, norm) for name in WITH_NORM_CHOICE for norm in ("instance", "instance-untracked", "batch")]


def client_model(name: str, norm: str | None, dtype: torch.dtype) -> torch.nn.Module:
    options, _ = SMALL[name]
    model = build(name, **options, **({} if norm is None else {"norm": norm})).to(dtype)
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=generator, dtype=dtype))
        for key, b in model.named_buffers():
            if key.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=generator, dtype=dtype))
            elif key.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=generator, dtype=dtype))
    return model


def model_input(name: str, dtype: torch.dtype) -> torch.Tensor:
    side = SMALL[name][1]
    generator = torch.Generator().manual_seed(4)
    return torch.randn(2, CLIENT_MODELS[name].in_channels, side, side, generator=generator, dtype=dtype)


def pairs(eager: list[tuple[str, torch.Tensor]], fused: list[torch.Tensor]):
    """(name, eager tensor, fused tensor) matched by value: fuse renames and moves tensors, but a
    fused model starts as a copy of the eager one, and no two perturbed tensors are equal."""
    assert len(eager) == len(fused)
    matched = []
    for f in fused:
        same = [(n, e) for n, e in eager if e.shape == f.shape and torch.equal(e, f)]
        assert len(same) == 1, f"{len(same)} eager tensors equal one fused tensor of shape {tuple(f.shape)}"
        matched.append((*same[0], f))
    return matched


def running_stats(model: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    return [(n, b) for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var"))]


def test_every_client_model_is_tested():
    assert set(SMALL) == set(CLIENT_MODELS)


@pytest.mark.parametrize("name,norm", CASES)
def test_fused_training_step_matches_the_model(name, norm):
    eager = client_model(name, norm, torch.float64)
    fused = fuse(eager)
    assert any(isinstance(m, FusedConvNormAct) for m in fused.modules())
    params = pairs(list(eager.named_parameters()), list(fused.parameters()))
    stats = pairs(running_stats(eager), [b for _, b in running_stats(fused)])

    x = model_input(name, torch.float64)
    out_eager, out_fused = eager(x.clone()), fused(x.clone())  # clones: a model may work in place
    torch.testing.assert_close(out_fused, out_eager, rtol=1e-9, atol=1e-9)
    grad = torch.randn(out_eager.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    out_eager.backward(grad)
    out_fused.backward(grad)
    for key, e, f in params:
        torch.testing.assert_close(f.grad, e.grad, rtol=1e-9, atol=1e-9, msg=f"gradient of {key}")
    for key, e, f in stats:
        torch.testing.assert_close(f, e, rtol=1e-9, atol=1e-9, msg=f"{key} after the step")


@pytest.mark.parametrize("name,norm", CASES)
def test_fused_eval_forward_matches_the_model(name, norm):
    eager = client_model(name, norm, torch.float32).eval()
    fused = fuse(eager)
    assert not fused.training
    x = model_input(name, torch.float32)
    with torch.inference_mode():
        expected, actual = eager(x.clone()), fused(x.clone())
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)


def test_build_is_seeded_and_checks_its_arguments():
    a, b = build("dncnn", width=8, depth=3), build("dncnn", width=8, depth=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    with pytest.raises(ValueError, match="name must be one of"):
        build("vgg19")
    with pytest.raises(ValueError, match="norm must be one of"):
        build("patchgan_discriminator", norm="group")
    with pytest.raises(ValueError, match="num_downs must be >= 5"):
        build("unet_generator", num_downs=4)


@pytest.mark.parametrize("name", list(CLIENT_MODELS))
def test_smallest_size_runs_in_training(name):
    """The documented minimum image size goes through a training forward (default widths are
    irrelevant to sizes, so the small models stand in)."""
    options = {**SMALL[name][0], **({"num_downs": 6} if name == "unet_generator" else {})}
    model = build(name, **options)
    side = CLIENT_MODELS[name].min_size
    out = model(torch.randn(2, CLIENT_MODELS[name].in_channels, side, side))
    assert torch.isfinite(out).all()
