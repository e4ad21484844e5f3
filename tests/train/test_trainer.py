"""The trainer's outputs: sample grids, best/last checkpoints, early stopping, argument checks."""

import math

import pytest
import torch

import fusegen
from fusegen.data import ImageDataset
from fusegen.models import ConvVAE
from fusegen.checkpoint import load_checkpoint
from fusegen.train import Trainer, TrainSettings, VAETask, train


class _WorseningVAETask(VAETask):
    """A validation metric that only gets worse after the first evaluation."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0

    def validate(self, data):
        self.calls += 1
        return float(self.calls)


def _tiny_data():
    g = torch.Generator().manual_seed(0)
    return ImageDataset(torch.rand(32, 1, 16, 16, generator=g))


def test_early_stopping_after_patience_runs_out(tmp_path):
    torch.manual_seed(0)
    task = _WorseningVAETask(ConvVAE(image_size=16, latent_dim=2, width=4))
    settings = TrainSettings(steps=50, batch_size=8, device="cpu", val_every=2, patience=3,
                             progress=False)
    summary = Trainer(task, _tiny_data(), tmp_path, settings, val_data=_tiny_data()).fit()
    assert summary["stopped_early"] and summary["steps"] == 8  # validations at 2, 4, 6, 8
    assert summary["best_metric"] == 1.0
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["train_state"]["step"] == 2 and best["metric"] == {"name": "neg_elbo", "best": 1.0}
    assert load_checkpoint(tmp_path / "last.pt")["train_state"]["step"] == 8


def test_gan_writes_grids_and_loads_with_ema_weights(tmp_path):
    pytest.importorskip("sklearn")
    summary = train("gan", "digits", tmp_path, 4, conditional=True, image_size=16, width=4,
                    latent_dim=8, batch_size=8, device="cpu", progress=False, sample_every=2)
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["step_0000002.png",
                                                                        "step_0000004.png"]
    assert summary["final_losses"].keys() == {"loss_d", "loss_g"}
    model = fusegen.load(tmp_path / "last.pt")
    assert not model.training
    ckpt = load_checkpoint(tmp_path / "last.pt")
    ema = ckpt["train_state"]["task"]["ema"]["module"]
    live = ckpt["train_state"]["task"]["model"]
    for key, value in model.generator.state_dict().items():
        torch.testing.assert_close(value, ema[key])
    assert any(not torch.equal(ema[k], live["generator." + k]) for k in ema)  # EMA != live weights
    images = model.sample(4, labels=[0, 1, 2, 3])
    assert images.shape == (4, 1, 16, 16) and 0 <= images.min() and images.max() <= 1


def test_dncnn_trains_and_denoises(tmp_path):
    summary = train("dncnn", "photos", tmp_path, 3, depth=3, width=4, batch_size=4, device="cpu",
                    progress=False, val_every=3)
    assert summary["metric"] == "psnr" and summary["best_metric"] > 0
    model = fusegen.load(tmp_path / "best.pt")
    assert model.denoise(torch.rand(1, 24, 24)).shape == (1, 24, 24)


@pytest.mark.parametrize("bad,match", [
    (dict(kind="unet"), "kind"),
    (dict(kind="dncnn", conditional=True), "conditional"),
    (dict(kind="gan", data="faces", conditional=True), "labelled"),
    (dict(kind="gan", data="photos"), "denoising"),
])
def test_bad_arguments(tmp_path, bad, match):
    args = dict(kind="gan", data="digits", out=tmp_path, steps=1, device="cpu", progress=False)
    with pytest.raises(ValueError, match=match):
        train(**{**args, **bad})


def test_settings_are_checked():
    with pytest.raises(ValueError, match="steps"):
        TrainSettings(steps=0).check()
    with pytest.raises(ValueError, match="device"):
        TrainSettings(device="tpu").check()


@pytest.mark.parametrize("kind,options", [
    ("dncnn", dict(data="photos", depth=3, width=8, batch_size=4)),
    ("gan", dict(data="digits", image_size=16, width=8, batch_size=8, conditional=True)),
])
def test_channels_last_trains_the_same_model(tmp_path, kind, options):
    checkpoints = {}
    for channels_last in (False, True):
        out = tmp_path / str(channels_last)
        train(kind, out=out, steps=4, **options, device="cpu", progress=False,
              channels_last=channels_last, checkpoint_every=4)
        checkpoints[channels_last] = load_checkpoint(out / "last.pt")
    plain, cl = checkpoints[False], checkpoints[True]
    assert cl["train_state"]["settings"]["channels_last"] is True
    for key, value in plain["model"].items():  # the same weights, up to float rounding
        torch.testing.assert_close(cl["model"][key], value, atol=1e-4, rtol=1e-3)
    assert any(t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last)
               for t in cl["model"].values())
    fusegen.load(tmp_path / "True" / "last.pt")  # a channels-last checkpoint loads like any other


def test_lr_schedules():
    from fusegen.train.trainer import lr_factor

    assert [lr_factor("constant", s, 8) for s in (0, 7)] == [1.0, 1.0]
    assert [lr_factor("step", s, 8) for s in (0, 5, 6, 7)] == [1.0, 1.0, 0.1, 0.1]
    assert lr_factor("cosine", 0, 8) == 1.0
    assert lr_factor("cosine", 4, 8) == pytest.approx(0.5)
    assert lr_factor("cosine", 6, 8) == pytest.approx(COSINE_AT_3_OF_4)
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        TrainSettings(lr_schedule="linear").check()


COSINE_AT_3_OF_4 = 0.5 * (1 + math.cos(3 / 4 * math.pi))


@pytest.mark.parametrize("schedule,last_factor",
                         [("cosine", COSINE_AT_3_OF_4), ("step", 0.1), ("constant", 1.0)])
def test_lr_schedule_sets_the_optimizer_rates(tmp_path, schedule, last_factor):
    train("dncnn", "photos", tmp_path, 4, depth=3, width=4, batch_size=4, lr=2e-3, device="cpu",
          progress=False, lr_schedule=schedule)
    groups = load_checkpoint(tmp_path / "last.pt")["train_state"]["task"]["optimizers"]["dncnn"]["param_groups"]
    assert groups[0]["initial_lr"] == 2e-3
    assert groups[0]["lr"] == pytest.approx(2e-3 * last_factor)  # the rate of the last step taken


class _DivergingVAETask(VAETask):
    """Steps normally, then blows its weights up (as a far too high learning rate does)."""

    def __init__(self, *args, diverge_at: int, nan_loss: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.steps, self.diverge_at, self.nan_loss = 0, diverge_at, nan_loss

    def step(self, batch):
        losses = super().step(batch)
        self.steps += 1
        if self.steps >= self.diverge_at:
            if self.nan_loss:
                return {name: math.nan for name in losses}
            with torch.no_grad():
                next(self.model.parameters()).fill_(math.inf)
        return losses


@pytest.mark.parametrize("nan_loss", [False, True])
def test_divergence_stops_training_and_keeps_the_good_checkpoints(tmp_path, nan_loss):
    from fusegen.train import TrainingDiverged

    torch.manual_seed(0)
    task = _DivergingVAETask(ConvVAE(image_size=16, latent_dim=2, width=4), diverge_at=5, nan_loss=nan_loss)
    settings = TrainSettings(steps=20, batch_size=8, device="cpu", val_every=2, checkpoint_every=2,
                             progress=False)
    with pytest.raises(TrainingDiverged, match="training diverged"):
        Trainer(task, _tiny_data(), tmp_path, settings, val_data=_tiny_data()).fit()
    last, best = load_checkpoint(tmp_path / "last.pt"), load_checkpoint(tmp_path / "best.pt")
    assert last["train_state"]["step"] == 4 and best["train_state"]["step"] <= 4
    assert all(torch.isfinite(t).all() for t in last["model"].values() if t.is_floating_point())


def test_a_nan_validation_never_becomes_the_best(tmp_path):
    class NaNThenFine(VAETask):
        calls = 0

        def validate(self, data):
            NaNThenFine.calls += 1
            return math.nan if NaNThenFine.calls == 1 else 5.0

    torch.manual_seed(0)
    task = NaNThenFine(ConvVAE(image_size=16, latent_dim=2, width=4))
    settings = TrainSettings(steps=4, batch_size=8, device="cpu", val_every=2, progress=False)
    summary = Trainer(task, _tiny_data(), tmp_path, settings, val_data=_tiny_data()).fit()
    assert summary["best_metric"] == 5.0
    assert load_checkpoint(tmp_path / "best.pt")["train_state"]["step"] == 4
