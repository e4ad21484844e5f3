"""The GAN and VAE defaults: the command's help shows them, and a default run uses them."""

import pytest
import torch

from fusegen.train.boosting import BOOST_DEFAULT
from fusegen.train.recipes import GAN_DEFAULTS, VAE_DEFAULTS, train


def _same(help_values, defaults):
    def normal(v):
        if isinstance(v, bool) or v is None:
            return v
        try:
            return float(v)
        except (TypeError, ValueError):
            return v

    return {k: normal(v) for k, v in help_values.items()} == {k: normal(defaults[k]) for k in help_values}


def test_the_command_help_shows_the_recipe_defaults():
    from fusegen.commands.train import BOOST_HELP, GAN_HELP, VAE_HELP

    assert _same(GAN_HELP, GAN_DEFAULTS)
    assert set(GAN_HELP) == set(GAN_DEFAULTS) - {"d_lr"}  # d_lr's default is "--lr"
    assert _same(VAE_HELP, VAE_DEFAULTS) and set(VAE_HELP) == set(VAE_DEFAULTS)
    assert BOOST_HELP == BOOST_DEFAULT


def test_a_default_conditional_gan_run_uses_the_defaults(tmp_path):
    pytest.importorskip("sklearn")
    summary = train("dcgan", "digits", tmp_path, 1, conditional=True, image_size=16, device="cpu",
                    progress=False, classes=[0, 1])
    payload = torch.load(summary["checkpoint"], weights_only=True)
    config, task = payload["config"], payload["train_state"]["task"]
    d = GAN_DEFAULTS
    assert config["width"] == d["width"] and config["latent_dim"] == d["latent_dim"]
    assert config["spectral_norm"] == d["spectral_norm"] and config["minibatch_std"] == d["minibatch_std"]
    assert config["aux_classifier"] == (d["class_loss"] > 0)
    assert task["mode_seeking"] == d["mode_seeking"] and task["loss"] == d["loss"]
    assert task["class_loss"] == d["class_loss"]
    assert task["augment"] == ("" if d["augment"] == "none" else d["augment"])


def test_an_unconditional_gan_has_no_class_loss(tmp_path):
    pytest.importorskip("sklearn")
    summary = train("dcgan", "digits", tmp_path, 1, image_size=16, device="cpu", progress=False,
                    classes=[0, 1], class_loss=1.0)
    payload = torch.load(summary["checkpoint"], weights_only=True)
    assert payload["config"]["aux_classifier"] is False
    assert payload["train_state"]["task"]["class_loss"] == 0.0


def test_a_default_vae_run_uses_the_defaults(tmp_path):
    pytest.importorskip("sklearn")
    summary = train("vae", "digits", tmp_path, 1, image_size=16, device="cpu", progress=False,
                    classes=[0, 1])
    config = torch.load(summary["checkpoint"], weights_only=True)["config"]
    assert {k: config[k] for k in ("latent_dim", "width", "beta", "likelihood")} == \
        {k: VAE_DEFAULTS[k] for k in ("latent_dim", "width", "beta", "likelihood")}
