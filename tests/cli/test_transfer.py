"""``fusegen train ... --init CKPT --freeze N`` from the command line, end to end."""

import json

import pytest
import torch

from fusegen.cli import main
from fusegen.checkpoint import load_checkpoint

TINY_DNCNN = ["--batch-size", "2", "--device", "cpu", "--no-progress", "--val-every", "0"]
TINY_GAN = ["--image-size", "16", "--width", "4", "--latent-dim", "8", "--batch-size", "8",
            "--device", "cpu", "--no-progress", "--val-every", "0", "--sample-every", "0"]


def _summary(text: str) -> dict:
    return json.loads(text[text.index("{"):])


def test_fine_tune_a_denoiser_from_the_command_line(tmp_path, capsys):
    pre, ft = str(tmp_path / "pre"), str(tmp_path / "ft")
    assert main(["train", "dncnn", "--steps", "1", "--out", pre, "--depth", "4", "--width", "4",
                 *TINY_DNCNN]) == 0
    capsys.readouterr()
    assert main(["train", "dncnn", "--steps", "2", "--out", ft, "--sigma", "50", "--init",
                 f"{pre}/last.pt", "--freeze", "1", "--backbone-lr", "1e-4", *TINY_DNCNN]) == 0
    brief = _summary(capsys.readouterr().out)["transfer"]
    assert brief == {"init": f"{pre}/last.pt", "loaded": 15, "not_loaded": [], "frozen": ["layers.0"],
                     "backbone_lr": 1e-4}
    tuned, source = load_checkpoint(f"{ft}/last.pt"), load_checkpoint(f"{pre}/last.pt")
    assert tuned["config"] == source["config"]  # --depth/--width came from --init
    assert torch.equal(tuned["model"]["layers.0.weight"], source["model"]["layers.0.weight"])
    assert not torch.equal(tuned["model"]["layers.1.weight"], source["model"]["layers.1.weight"])
    # resuming keeps the frozen layer without repeating --init/--freeze
    assert main(["train", "dncnn", "--steps", "3", "--out", ft, "--sigma", "50", "--resume",
                 f"{ft}/last.pt", *TINY_DNCNN]) == 0
    assert _summary(capsys.readouterr().out)["transfer"]["frozen"] == ["layers.0"]
    resumed = load_checkpoint(f"{ft}/last.pt")
    assert resumed["train_state"]["step"] == 3
    assert torch.equal(resumed["model"]["layers.0.weight"], source["model"]["layers.0.weight"])


def test_adapt_a_digits_gan_to_other_classes_from_the_command_line(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pre, ft = str(tmp_path / "pre"), str(tmp_path / "ft")
    assert main(["train", "gan", "--conditional", "--classes", "0,1,2,3,4", "--steps", "1",
                 "--out", pre, *TINY_GAN]) == 0
    capsys.readouterr()
    assert main(["train", "gan", "--conditional", "--classes", "5,6,7,8,9", "--steps", "1",
                 "--out", ft, "--init", f"{pre}/last.pt", "--freeze", "2", *TINY_GAN]) == 0
    brief = _summary(capsys.readouterr().out)["transfer"]
    assert brief["frozen"] == ["discriminator.features.0", "discriminator.features.1"]
    # 5 classes into 5 classes: all 25 tensors fit (the auxiliary classifier's weight and bias too)
    assert brief["not_loaded"] == [] and brief["loaded"] == 25
    assert load_checkpoint(f"{ft}/last.pt")["class_names"] == ["5", "6", "7", "8", "9"]


@pytest.mark.parametrize("argv,message", [
    (["train", "dncnn", "--freeze", "2"], "need --init CKPT"),
    (["train", "gan", "--init", "{tmp}/vae/last.pt"], "a vae checkpoint cannot initialize a dcgan model"),
    (["train", "vae", "--init", "{tmp}/vae/last.pt", "--freeze", "7"], "cannot freeze 7 blocks"),
    (["train", "dncnn", "--init", "{tmp}/missing.pt"], "no such checkpoint"),
    (["train", "dncnn", "--freeze-part", "generator", "--init", "{tmp}/vae/last.pt"], "applies to gan and vae"),
    (["train", "gan", "--conditional", "--classes", "5,x"], "unknown class 'x'"),
])
def test_bad_transfer_arguments_give_one_line(tmp_path, capsys, argv, message):
    pytest.importorskip("sklearn")
    assert main(["train", "vae", "--steps", "1", "--out", str(tmp_path / "vae"), "--image-size", "16",
                 "--width", "4", "--batch-size", "8", "--device", "cpu", "--no-progress"]) == 0
    capsys.readouterr()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main([*argv, "--steps", "1", "--out", str(tmp_path / "run"), "--device", "cpu",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
