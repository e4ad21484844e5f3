"""Fine-tuning through fusegen.train.train: init, freeze, learning rates, class subsets, resume."""

import pytest
import torch

import fusegen
from fusegen.data import digits
from fusegen.checkpoint import load_checkpoint
from fusegen.train import train
from tests.fixtures import DNCNN, GAN, pre  # noqa: F401  (pre: a fixture)


def test_a_denoiser_fine_tuned_to_sigma_50_with_frozen_layers(pre, tmp_path, capsys):
    summary = train("dncnn", "photos", tmp_path, 2, sigma=50.0, init=pre["dncnn"], freeze=2,
                    backbone_lr=1e-4, **{**DNCNN, "progress": True})
    printed = capsys.readouterr().out
    assert f"initialized from {pre['dncnn']} (dncnn): loaded 15 of 15 tensors" in printed
    assert "frozen blocks (layers): layers.0, layers.1" in printed
    source = load_checkpoint(pre["dncnn"])
    tuned = load_checkpoint(tmp_path / "last.pt")
    assert tuned["config"] == source["config"]  # depth 4 / width 4 inherited from the init checkpoint
    assert tuned["transfer"] == summary["transfer"]
    assert tuned["transfer"]["frozen"] == ["layers.0", "layers.1"]
    assert tuned["transfer"]["report"]["loaded"] == list(source["model"])
    for key, value in tuned["model"].items():
        assert torch.equal(value, source["model"][key]) == key.startswith(("layers.0.", "layers.1.")), key
    groups = tuned["train_state"]["task"]["optimizers"]["dncnn"]["param_groups"]
    assert [(g["name"], g["lr"], len(g["params"])) for g in groups] == [("pretrained", 1e-4, 4)]
    assert fusegen.load(tmp_path / "last.pt").denoise(torch.rand(1, 20, 20)).shape == (1, 20, 20)


def test_a_10_class_gan_adapted_to_classes_5_to_9_with_freezed(pre, tmp_path):
    summary = train("gan", "digits", tmp_path, 2, conditional=True, classes=[5, 6, 7, 8, 9],
                    init=pre["gan"], freeze=1, backbone_lr=5e-5, **GAN)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["config"]["num_classes"] == 5 and ckpt["class_names"] == ["5", "6", "7", "8", "9"]
    report = summary["transfer"]["report"]
    # the label-shaped layers: the generator's embedding, the projection and the auxiliary classifier
    assert [m["key"] for m in report["mismatched"]] == ["generator.embed.weight",
                                                         "discriminator.project.weight",
                                                         "discriminator.classifier.weight",
                                                         "discriminator.classifier.bias"]
    assert report["config_changes"] == {"num_classes": [10, 5]}
    opts = ckpt["train_state"]["task"]["optimizers"]
    assert [(g["name"], g["lr"]) for g in opts["generator"]["param_groups"]] == [("new", 2e-4), ("pretrained", 5e-5)]
    assert [(g["name"], len(g["params"])) for g in opts["discriminator"]["param_groups"]][0] == ("new", 3)
    source = load_checkpoint(pre["gan"])["model"]
    assert torch.equal(ckpt["model"]["discriminator.features.0.weight"], source["discriminator.features.0.weight"])
    assert not torch.equal(ckpt["model"]["discriminator.head.weight"], source["discriminator.head.weight"])
    assert fusegen.load(tmp_path / "last.pt").sample(3, labels=[0, 2, 4]).shape == (3, 1, 16, 16)


def test_a_vae_fine_tuned_with_its_decoder_input_frozen(pre, tmp_path):
    summary = train("vae", "digits", tmp_path, 2, init=pre["vae"], freeze=1, freeze_part="decoder",
                    backbone_lr=1e-4, **{**GAN, "width": 4})
    assert summary["transfer"]["frozen"] == ["from_latent"]
    tuned, source = load_checkpoint(tmp_path / "last.pt"), load_checkpoint(pre["vae"])
    for key, value in tuned["model"].items():
        assert torch.equal(value, source["model"][key]) == key.startswith("from_latent."), key


def _fine_tune(out, steps, pre, resume=None, **kwargs):
    return train("gan", "digits", out, steps, conditional=True, classes=["5", "6", "7", "8", "9"],
                 init=pre["gan"], seed=3, resume=resume, val_every=2, sample_every=3,
                 **{**GAN, **kwargs})


def test_a_resumed_fine_tune_matches_an_uninterrupted_one(pre, tmp_path):
    _fine_tune(tmp_path / "full", 4, pre, freeze=2, backbone_lr=1e-4)
    _fine_tune(tmp_path / "half", 2, pre, freeze=2, backbone_lr=1e-4)
    # resumed without repeating --freeze / --backbone-lr: the checkpoint's settings are kept
    summary = train("gan", "digits", tmp_path / "half", 4, conditional=True, classes=[5, 6, 7, 8, 9],
                    seed=3, resume=tmp_path / "half" / "last.pt", val_every=2, sample_every=3, **GAN)
    assert summary["steps"] == 4 and summary["steps_this_run"] == 2
    assert summary["transfer"]["frozen"] == ["discriminator.features.0", "discriminator.features.1"]
    full, resumed = load_checkpoint(tmp_path / "full" / "last.pt"), load_checkpoint(tmp_path / "half" / "last.pt")
    for key, value in full["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    full_task, resumed_task = full["train_state"]["task"], resumed["train_state"]["task"]
    for key, value in full_task["model"].items():
        assert torch.equal(value, resumed_task["model"][key]), key
    for key, value in full_task["ema"]["module"].items():
        assert torch.equal(value, resumed_task["ema"]["module"][key]), key
    for opt, state in full_task["optimizers"].items():
        assert state["param_groups"] == resumed_task["optimizers"][opt]["param_groups"]
        for pid, tensors in state["state"].items():
            for k, v in tensors.items():
                assert torch.equal(v, resumed_task["optimizers"][opt]["state"][pid][k]), (opt, pid, k)
    assert resumed["transfer"] == full["transfer"]
    source = load_checkpoint(pre["gan"])["model"]
    for key in ("discriminator.features.1.weight", "discriminator.features.1.running_mean"):
        assert torch.equal(resumed_task["model"][key], source[key]), key  # still frozen after resume


def test_transfer_arguments_are_checked(pre, tmp_path):
    with pytest.raises(ValueError, match="a vae checkpoint cannot initialize a dcgan model"):
        train("gan", "digits", tmp_path / "a", 1, init=pre["vae"], **GAN)
    with pytest.raises(ValueError, match="need --init"):
        train("dncnn", "photos", tmp_path / "b", 1, freeze=1, **DNCNN)
    with pytest.raises(ValueError, match="--freeze-part must be one of discriminator, generator"):
        train("gan", "digits", tmp_path / "c", 1, init=pre["gan"], freeze=1, freeze_part="encoder", **GAN)
    with pytest.raises(ValueError, match="cannot freeze 9 blocks: this DnCNN has 4 \\(layers.0"):
        train("dncnn", "photos", tmp_path / "d", 1, init=pre["dncnn"], freeze=9, **DNCNN)
    with pytest.raises(ValueError, match="--backbone-lr must be > 0"):
        train("dncnn", "photos", tmp_path / "e", 1, init=pre["dncnn"], backbone_lr=0.0, **DNCNN)
    with pytest.raises(ValueError, match="none of its .* fits .* width 4 there, 8 here"):
        train("dncnn", "photos", tmp_path / "f", 1, init=pre["dncnn"], width=8, **DNCNN)
    with pytest.raises(ValueError, match="unknown class 12; the classes are 0, 1"):
        train("gan", "digits", tmp_path / "g", 1, conditional=True, classes=[1, 12], **GAN)
    with pytest.raises(ValueError, match="--classes applies to gan and vae"):
        train("dncnn", "photos", tmp_path / "h", 1, classes=[1], **DNCNN)


def test_resume_keeps_or_refuses_transfer_settings(pre, tmp_path):
    train("dncnn", "photos", tmp_path / "ft", 1, init=pre["dncnn"], freeze=1, **DNCNN)
    with pytest.raises(ValueError, match="started with --freeze 1, not 2"):
        train("dncnn", "photos", tmp_path / "ft", 2, freeze=2, resume=tmp_path / "ft" / "last.pt", **DNCNN)
    with pytest.raises(ValueError, match="not started with --init"):
        train("dncnn", "photos", tmp_path / "x", 2, init=pre["dncnn"], resume=pre["dncnn"], **DNCNN)
    # a plain run resumed without its model options takes them from its checkpoint
    summary = train("dncnn", "photos", tmp_path / "plain", 2, resume=pre["dncnn"], **DNCNN)
    assert summary["steps"] == 2 and "transfer" not in summary


def test_select_classes_relabels_in_the_order_given():
    pytest.importorskip("sklearn")
    data = digits(image_size=16)
    sub = data.select_classes(["9", 3])
    assert sub.class_names == ["9", "3"] and sub.num_classes == 2
    assert len(sub) == int(((data.labels == 9) | (data.labels == 3)).sum())
    assert torch.equal(sub.images[sub.labels == 0], data.images[data.labels == 9])
    with pytest.raises(ValueError, match="selected twice"):
        data.select_classes([3, "3"])
    with pytest.raises(ValueError, match="at least one"):
        data.select_classes([])
