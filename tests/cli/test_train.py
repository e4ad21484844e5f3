"""``fusegen train`` / ``fusegen sample`` from the command line: the user's path end to end."""

import pytest
import torch

import fusegen
from fusegen.cli import main
from fusegen.data import read_image
from fusegen.checkpoint import load_checkpoint

TINY_GAN = ["--image-size", "16", "--width", "4", "--latent-dim", "8", "--batch-size", "8",
            "--device", "cpu", "--no-progress", "--val-every", "2", "--sample-every", "2"]


def test_train_resume_and_sample_a_conditional_gan(tmp_path, capsys):
    pytest.importorskip("sklearn")
    out = str(tmp_path / "run")
    assert main(["train", "gan", "--data", "digits", "--conditional", "--steps", "2", "--out", out,
                 *TINY_GAN]) == 0
    assert main(["train", "gan", "--data", "digits", "--conditional", "--steps", "4", "--out", out,
                 "--resume", f"{out}/last.pt", *TINY_GAN]) == 0
    assert load_checkpoint(f"{out}/last.pt")["train_state"]["step"] == 4
    assert '"steps": 4' in capsys.readouterr().out
    grid = tmp_path / "grid.png"
    assert main(["sample", f"{out}/last.pt", "-n", "20", "-o", str(grid), "--labels", "0,1,2,3,4",
                 "--nrow", "10"]) == 0
    assert read_image(grid).shape == (1, 2 + 2 * 18, 2 + 10 * 18)
    assert fusegen.load(f"{out}/best.pt").sample(2, labels=[7, 7]).shape == (2, 1, 16, 16)


def test_train_vae_on_an_image_folder(tmp_path):
    from PIL import Image

    for i in range(8):
        Image.new("L", (20, 20), color=i * 30).save(tmp_path / f"{i}.png")
    out = str(tmp_path / "vae")
    assert main(["train", "vae", "--data", str(tmp_path), "--steps", "2", "--out", out,
                 "--image-size", "16", "--width", "4", "--batch-size", "4", "--device", "cpu",
                 "--no-progress"]) == 0
    assert main(["sample", f"{out}/last.pt", "-n", "4", "-o", str(tmp_path / "s.png")]) == 0


@pytest.mark.parametrize("argv,message", [
    (["train", "gan", "--data", "no/such/folder", "--steps", "1", "--out", "{tmp}"], "no such data set"),
    (["train", "dncnn", "--steps", "1", "--out", "{tmp}", "--resume", "{tmp}/missing.pt"],
     "no such checkpoint"),
    (["train", "gan", "--data", "faces", "--conditional", "--steps", "1", "--out", "{tmp}"], "labelled"),
    (["train", "vae", "--data", "faces", "--steps", "1", "--batch-size", "500", "--out", "{tmp}"],
     "batch-size"),
    (["sample", "{tmp}/missing.pt", "-o", "{tmp}/g.png"], "no such checkpoint"),
    (["sample", "{tmp}/junk.pt", "-o", "{tmp}/g.png"], "not a readable checkpoint"),
    (["sample", "{tmp}/junk.pt", "-n", "0", "-o", "{tmp}/g.png"], "-n must be"),
])
def test_bad_arguments_and_files_give_one_line(tmp_path, capsys, argv, message):
    (tmp_path / "junk.pt").write_bytes(b"junk")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv] + (
        ["--device", "cpu"] if argv[0] == "train" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_sampling_a_denoiser_is_refused(tmp_path, capsys):
    out = str(tmp_path / "dn")
    assert main(["train", "dncnn", "--steps", "1", "--out", out, "--depth", "3", "--width", "4",
                 "--batch-size", "2", "--device", "cpu", "--no-progress"]) == 0
    assert main(["sample", f"{out}/last.pt", "-o", str(tmp_path / "g.png")]) == 2
    assert "denoise" in capsys.readouterr().err


def test_argparse_rejects_unknown_kinds(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "unet", "--out", "x"])
    assert exc.value.code == 2


def test_denoise_with_a_trained_dncnn(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    out = str(tmp_path / "dn")
    assert main(["train", "dncnn", "--steps", "2", "--out", out, "--depth", "3", "--width", "4",
                 "--batch-size", "2", "--device", "cpu", "--no-progress", "--val-every", "1",
                 "--channels-last"]) == 0
    clean = (np.linspace(0, 255, 48 * 40).reshape(40, 48)).astype(np.uint8)
    Image.fromarray(clean).save(tmp_path / "in.png")
    result = tmp_path / "out.png"
    assert main(["denoise", str(tmp_path / "in.png"), "-o", str(result), "--method", "dncnn",
                 "--model", f"{out}/best.pt", "--add-noise", "25"]) == 0
    assert "with dncnn" in capsys.readouterr().out
    assert np.asarray(Image.open(result)).shape == (40, 48)
    assert main(["denoise", str(tmp_path / "in.png"), "-o", str(result), "--method", "dncnn",
                 "--model", f"{out}/best.pt", "--self-ensemble"]) == 0
    assert np.asarray(Image.open(result)).shape == (40, 48)
    assert main(["denoise", str(tmp_path / "in.png"), "-o", str(result), "--method", "dncnn"]) == 2
    assert "--model" in capsys.readouterr().err
    gan = str(tmp_path / "gan")
    assert main(["train", "vae", "--data", "faces", "--steps", "1", "--out", gan, "--image-size",
                 "16", "--width", "4", "--batch-size", "4", "--device", "cpu", "--no-progress"]) == 0
    assert main(["denoise", str(tmp_path / "in.png"), "-o", str(result), "--method", "dncnn",
                 "--model", f"{gan}/last.pt"]) == 2
    assert "not a denoiser" in capsys.readouterr().err


@pytest.mark.parametrize("argv, fragment", [
    (["dncnn", "--batch-size", "0"], "batch_size must be an integer >= 1, got 0"),
    (["dncnn", "--lr", "0"], "lr must be a finite number > 0, got 0.0"),
    (["dncnn", "--width", "0"], "width must be an integer >= 1, got 0"),
    (["dncnn", "--depth", "0"], "depth must be an integer >= 3, got 0"),
    (["dncnn", "--patch-size", "0"], "patch_size must be an integer >= 1, got 0"),
    (["dcgan", "--latent-dim", "0"], "latent_dim must be an integer >= 1, got 0"),
    (["dcgan", "--latent-dim", "-5"], "latent_dim must be an integer >= 1, got -5"),
    (["vae", "--beta", "-1"], "beta must be a finite number >= 0, got -1.0"),
])
def test_zero_and_negative_options_are_refused_not_replaced_by_defaults(tmp_path, capsys, argv, fragment):
    assert main(["train", *argv, "--out", str(tmp_path / "run"), "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()  # refused before any work


def test_a_fresh_run_into_an_earlier_one_is_refused_unless_overwrite(tmp_path, capsys):
    pytest.importorskip("sklearn")
    out = str(tmp_path / "run")
    tiny = ["--data", "digits", "--steps", "2", "--out", out, "--image-size", "16", "--width", "4",
            "--batch-size", "8", "--sample-every", "1", "--val-every", "0", "--device", "cpu"]
    assert main(["train", "dcgan", *tiny]) == 0
    grids = sorted((tmp_path / "run" / "samples").glob("step_*.png"))
    assert grids and (tmp_path / "run" / "last.pt").is_file()
    before = (tmp_path / "run" / "last.pt").read_bytes()
    capsys.readouterr()
    assert main(["train", "dcgan", *tiny]) == 2
    err = capsys.readouterr().err
    assert "already holds a training run" in err and "--overwrite" in err and err.count("\n") == 1
    assert (tmp_path / "run" / "last.pt").read_bytes() == before  # nothing was touched
    assert main(["train", "dcgan", *tiny[:3], "1", *tiny[4:], "--overwrite"]) == 0
    assert sorted((tmp_path / "run" / "samples").glob("step_*.png")) == grids[:1]  # old grids gone


def test_sample_refuses_bad_counts_in_one_line(tmp_path, capsys):
    for argv, fragment in ((["-n", "100000000"], "-n must be between 1 and 10000"),
                           (["-n", "0"], "-n must be between 1 and 10000"),
                           (["--nrow", "-3"], "--nrow must be >= 1, got -3")):
        assert main(["sample", str(tmp_path / "any.pt"), "-o", str(tmp_path / "g.png"), *argv]) == 2
        assert fragment in capsys.readouterr().err


def test_a_diverging_run_ends_in_one_line_and_keeps_its_last_good_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "dncnn", "--steps", "6", "--out", str(out), "--depth", "3", "--width", "4",
                 "--batch-size", "4", "--lr", "1e30", "--checkpoint-every", "1", "--device", "cpu",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "training diverged" in err
    state = load_checkpoint(out / "last.pt")
    assert all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())


def test_a_killed_checkpoint_write_leaves_nothing_behind_on_the_next_start(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / ".last.pt.x1y2.tmp").write_bytes(b"half a checkpoint")
    assert main(["train", "dncnn", "--steps", "1", "--out", str(out), "--depth", "3", "--width", "4",
                 "--batch-size", "2", "--device", "cpu", "--no-progress"]) == 0
    assert not list(out.glob(".*.tmp")) and (out / "last.pt").is_file()


def test_resuming_a_damaged_training_state_is_one_line(tmp_path, capsys):
    out = tmp_path / "a"
    tiny = ["--depth", "3", "--width", "4", "--batch-size", "2", "--device", "cpu", "--no-progress"]
    assert main(["train", "dncnn", "--steps", "1", "--out", str(out), *tiny]) == 0
    payload = load_checkpoint(out / "last.pt")
    del payload["train_state"]["task"]
    torch.save(payload, tmp_path / "damaged.pt")
    assert main(["train", "dncnn", "--steps", "2", "--out", str(tmp_path / "b"), *tiny,
                 "--resume", str(tmp_path / "damaged.pt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "training state cannot be resumed" in err


def test_partition_and_boost_are_one_or_the_other(tmp_path, capsys):
    from fusegen.cli import main

    assert main(["train", "gan", "--members", "2", "--partition", "--boost", "2", "--out", str(tmp_path)]) != 0
    assert "--partition and --boost" in capsys.readouterr().err


def test_members_alone_train_a_partitioned_mixture(tmp_path, capsys):
    pytest.importorskip("sklearn")
    from fusegen.checkpoint import load_checkpoint
    from fusegen.cli import main

    argv = ["train", "gan", "--members", "2", "--steps", "1", "--conditional", "--classes", "0,1",
            "--image-size", "16", "--width", "4", "--latent-dim", "4", "--device", "cpu", "--no-progress"]
    assert main([*argv, "--out", str(tmp_path / "parts")]) == 0
    payload = load_checkpoint(tmp_path / "parts" / "ensemble.pt")
    assert payload["partition"] is True and payload["boost"] is None
    assert main([*argv, "--boost", "1", "--out", str(tmp_path / "seeds")]) == 0
    payload = load_checkpoint(tmp_path / "seeds" / "ensemble.pt")
    assert payload["partition"] is False and payload["boost"] == 1.0
