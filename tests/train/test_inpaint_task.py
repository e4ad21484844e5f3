"""Training an inpainting model: the data (patches with random holes, fixed validation masks), the
loss, and ``train("inpaint", ...)`` -- checkpoints, validation per mask kind, exact resume,
``--init`` from another checkpoint, ``--mask-kind``."""

from __future__ import annotations

import pytest
import torch

import fusegen
from fusegen.checkpoint import load_checkpoint, save_checkpoint, save_model
from fusegen.data import MASK_KINDS, MaskedImages, MaskedPatches, kind_groups
from fusegen.models import InpaintingUNet
from fusegen.train import InpaintingTask, inpainting_loss, train
from fusegen.train.recipes import INPAINT_DEFAULTS
from fusegen.transfer import blocks
from tests.fixtures import write_images

TINY = dict(width=4, depth=2, patch_size=16, batch_size=4, device="cpu", progress=False)
TINY_MODEL = dict(width=4, depth=2)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("inpaint") / "images", 6, 40, seed=0)


def test_masked_patches_crop_masks_of_the_test_scale():
    data = MaskedPatches(torch.rand(10, 1, 16, 16), "mixed", mask_size=64, augment=True)
    clean, missing = data.batch(torch.arange(8), torch.Generator().manual_seed(0))
    assert clean.shape == (8, 1, 16, 16) and missing.shape == (8, 1, 16, 16) and missing.dtype == torch.bool
    again = data.batch(torch.arange(8), torch.Generator().manual_seed(0))
    assert torch.equal(again[0], clean) and torch.equal(again[1], missing)
    assert torch.equal(data[3][1], data[3][1]) and data[3][0].shape == (1, 16, 16)  # fixed per index
    boxes = MaskedPatches(torch.rand(4, 1, 16, 16), "boxes", mask_size=64).masks(200, torch.Generator().manual_seed(1))
    fraction = boxes.float().mean()
    assert 0.05 < fraction < 0.5  # windows of 5-40% masks: some empty, some full
    assert (boxes.flatten(1).all(1)).any() and (~boxes.flatten(1).any(1)).any()
    pixels = MaskedPatches(torch.rand(4, 1, 16, 16), "pixels", mask_size=64).masks(50)
    assert 0.1 <= pixels.flatten(1).float().mean(1).min() and pixels.flatten(1).float().mean(1).max() <= 0.6 + 1e-6
    with pytest.raises(ValueError, match="mask kind must be one of"):
        MaskedPatches(torch.rand(4, 1, 16, 16), "circles")
    with pytest.raises(ValueError, match="square patches"):
        MaskedPatches(torch.rand(4, 1, 16, 12))


def test_masked_images_hold_fixed_masks_per_kind():
    images = torch.rand(2, 1, 24, 24)
    val = MaskedImages(images, "mixed", per_image=3, seed=5)
    assert len(val) == 18 and val.kinds == [k for k in MASK_KINDS for _ in range(6)]
    assert torch.equal(val.clean[6:9], images[:1].expand(3, -1, -1, -1))
    assert torch.equal(MaskedImages(images, "mixed", per_image=3, seed=5).missing, val.missing)
    boxes = MaskedImages(images, "boxes", per_image=3, seed=5)
    assert boxes.kinds == ["boxes"] * 6 and torch.equal(boxes.missing, val.missing[12:])


def test_the_loss_weights_holes_and_counts_tv_only_near_them():
    clean = torch.zeros(1, 1, 4, 4)
    missing = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    missing[..., 0, 0] = True
    predicted = torch.full((1, 1, 4, 4), 0.5)
    terms = inpainting_loss(predicted, clean, missing, hole_weight=6, valid_weight=1, tv_weight=0)
    assert terms["hole"] == pytest.approx(0.5 / 16) and terms["valid"] == pytest.approx(0.5 * 15 / 16)
    assert terms["loss"] == pytest.approx(6 * 0.5 / 16 + 0.5 * 15 / 16)
    with_tv = inpainting_loss(predicted, clean, missing, tv_weight=1.0)
    assert with_tv["tv"] == pytest.approx(2 * 0.5 / 12)  # two pairs touch the hole, each of 12
    squared = inpainting_loss(predicted, clean, missing, distance="l2")
    assert squared["hole"] == pytest.approx(0.25 / 16)
    with pytest.raises(ValueError, match="distance must be"):
        inpainting_loss(predicted, clean, missing, distance="l3")


def test_kind_groups_share_a_batch_among_the_kinds_in_blocks():
    assert kind_groups(6).tolist() == [0, 0, 1, 1, 2, 2]
    assert kind_groups(16).bincount().tolist() == [6, 5, 5]
    assert kind_groups(1).tolist() == [0] and kind_groups(0).tolist() == []
    data = MaskedPatches(torch.rand(10, 1, 16, 16), "mixed", mask_size=16)
    # stratified: the middle block is scattered pixels (10-60% missing, no box or stroke shape)
    masks = data.masks(9, torch.Generator().manual_seed(0), stratified=True)
    fractions = masks.flatten(1).float().mean(1)
    assert ((fractions[3:6] >= 0.1) & (fractions[3:6] <= 0.6 + 1e-6)).all()
    clean, missing = data.batch(torch.arange(9), torch.Generator().manual_seed(0))
    assert torch.equal(missing, masks)


def test_the_relative_loss_weighs_each_kind_by_its_gain_over_the_baseline():
    clean = torch.zeros(6, 1, 4, 4)
    missing = torch.zeros(6, 1, 4, 4, dtype=torch.bool)
    missing[..., :2, :] = True  # 8 missing pixels per image
    baseline = torch.full((6, 1, 4, 4), 0.1)
    baseline[2:4] = 0.01  # a block the baseline fills much better
    predicted = baseline * 0.5  # halves every error: a quarter of the squared error
    terms = inpainting_loss(predicted, clean, missing, distance="relative", baseline=baseline,
                            hole_weight=6, valid_weight=0)
    assert terms["hole"] == pytest.approx(0.25) and terms["loss"] == pytest.approx(1.5)
    mixed = predicted.clone()
    mixed[:2] = baseline[:2]  # no gain on the first block
    assert inpainting_loss(mixed, clean, missing, distance="relative", baseline=baseline)["hole"] == \
        pytest.approx((1 + 0.25 + 0.25) / 3)
    exact = baseline.clone()
    exact[:2] = 0  # a block the baseline fills exactly is left out
    assert inpainting_loss(predicted, clean, missing, distance="relative", baseline=exact)["hole"] == \
        pytest.approx(0.25)
    with pytest.raises(ValueError, match="needs a baseline"):
        inpainting_loss(predicted, clean, missing, distance="relative")


def test_the_task_picks_its_loss_from_the_model_and_checks_clipping():
    assert InpaintingTask(InpaintingUNet(1, **TINY_MODEL)).weights["distance"] == "relative"
    assert InpaintingTask(InpaintingUNet(1, fill="none", **TINY_MODEL)).weights["distance"] == "psnr"
    with pytest.raises(ValueError, match="model has fill='none'"):
        InpaintingTask(InpaintingUNet(1, fill="none", **TINY_MODEL), distance="relative")
    with pytest.raises(ValueError, match="max_grad_norm must be None or > 0"):
        InpaintingTask(InpaintingUNet(1, **TINY_MODEL), max_grad_norm=0)


def test_train_on_a_folder_validates_and_writes_checkpoints(folder, tmp_path):
    summary = train("inpaint", folder, tmp_path, 4, val_every=2, sample_every=4, **TINY)
    assert summary["kind"] == "inpaint" and summary["metric"] == "psnr" and summary["steps"] == 4
    assert summary["best_metric"] > 10 and len(summary["history"]["validation"]) == 2
    assert {"loss", "hole", "valid"} <= summary["final_losses"].keys()
    ckpt = load_checkpoint(tmp_path / "best.pt")
    assert ckpt["kind"] == "inpaint" and ckpt["config"]["width"] == 4 and ckpt["config"]["depth"] == 2
    model = fusegen.load(tmp_path / "last.pt")
    assert isinstance(model, InpaintingUNet) and not model.training
    assert (tmp_path / "samples" / "step_0000004.png").is_file()  # damaged | filled | original rows
    image, missing = torch.rand(1, 1, 21, 30), torch.rand(1, 1, 21, 30) > 0.5
    assert model.inpaint(image, missing).shape == image.shape


def test_resumed_training_matches_uninterrupted_training(folder, tmp_path):
    def run(out, steps, resume=None):
        return train("inpaint", folder, out, steps, seed=3, val_every=2, resume=resume, **TINY)

    run(tmp_path / "full", 4)
    run(tmp_path / "half", 2)
    assert run(tmp_path / "half", 4, resume=tmp_path / "half" / "last.pt")["steps_this_run"] == 2
    full, resumed = load_checkpoint(tmp_path / "full" / "last.pt"), load_checkpoint(tmp_path / "half" / "last.pt")
    for key, value in full["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    assert full["train_state"]["history"]["validation"] == resumed["train_state"]["history"]["validation"]


def test_early_stopping_stops(folder, tmp_path):
    summary = train("inpaint", folder, tmp_path, 50, val_every=1, patience=1, lr=1e-9, **TINY)
    assert summary["stopped_early"] and summary["steps"] < 50


def test_init_transfers_a_grey_model_to_colour(folder, tmp_path):
    train("inpaint", folder, tmp_path / "grey", 2, **TINY)
    summary = train("inpaint", folder, tmp_path / "colour", 2, channels=3, init=tmp_path / "grey" / "last.pt",
                    **TINY)
    report = summary["transfer"]["report"]
    # the first block sees 3 image channels, the last predicts 3: re-shaped; the rest is loaded
    last = f"decoder.{len(fusegen.load(tmp_path / 'grey' / 'last.pt').decoder) - 1}"
    assert {m["key"] for m in report["mismatched"]} == {"encoder.0.weight", f"{last}.weight", f"{last}.bias"}
    assert "encoder.1.weight" in report["loaded"] and report["config_changes"] == {"channels": [1, 3]}
    colour = load_checkpoint(tmp_path / "colour" / "last.pt")
    assert colour["config"]["channels"] == 3 and colour["config"]["width"] == 4  # width inherited
    assert fusegen.load(tmp_path / "colour" / "last.pt").inpaint(torch.rand(3, 8, 8), torch.ones(1, 8, 8)).shape == (3, 8, 8)


def test_init_to_another_mask_kind_with_a_frozen_encoder(folder, tmp_path):
    train("inpaint", folder, tmp_path / "mixed", 2, **TINY)
    summary = train("inpaint", folder, tmp_path / "boxes", 2, mask_kind="boxes", init=tmp_path / "mixed" / "last.pt",
                    freeze=1, val_every=1, **TINY)
    assert summary["transfer"]["frozen"] == ["encoder.0"]
    tuned, source = load_checkpoint(tmp_path / "boxes" / "last.pt"), load_checkpoint(tmp_path / "mixed" / "last.pt")
    for key, value in tuned["model"].items():
        assert torch.equal(value, source["model"][key]) == key.startswith("encoder.0."), key
    model = fusegen.load(tmp_path / "boxes" / "last.pt")
    assert [name for name, _ in blocks(model, "decoder")] == [f"decoder.{i}" for i in range(len(model.decoder))]
    # the full-resolution level's other blocks follow its first, before the stride-2 levels
    assert model.config["full_depth"] == INPAINT_DEFAULTS["full_depth"] == len(model.stem) + 1
    assert [name for name, _ in blocks(model, "encoder")][:len(model.stem) + 2] == \
        ["encoder.0"] + [f"stem.{i}" for i in range(len(model.stem))] + ["encoder.1"]


def test_a_checkpoint_from_before_the_full_resolution_options_resumes_and_transfers(folder, tmp_path):
    # such checkpoints have no full_depth or reach in their configuration: one full-resolution
    # block, corrections everywhere
    path = save_model(InpaintingUNet(1, width=4, depth=2, full_width=4), tmp_path / "old.pt")
    payload = load_checkpoint(path)
    payload["config"] = {k: v for k, v in payload["config"].items() if k not in ("full_depth", "reach")}
    save_checkpoint(payload, path)
    summary = train("inpaint", folder, tmp_path / "tuned", 2, init=path, **TINY)
    assert summary["transfer"]["report"]["missing"] == []
    tuned = fusegen.load(tmp_path / "tuned" / "last.pt")
    assert tuned.config["full_depth"] == 1 and tuned.config["reach"] is None and not len(tuned.stem)


def test_mask_kind_sets_the_validation_kinds():
    model = InpaintingUNet(1, width=4, depth=2)
    task = InpaintingTask(model)
    task.setup(torch.device("cpu"), type("D", (), {"enabled": False})(), False)
    value = task.validate(MaskedImages(torch.rand(2, 1, 16, 16), "boxes", per_image=2))
    assert list(task.psnr_by_kind) == ["boxes"] and task.psnr_by_kind["boxes"] == pytest.approx(value)
    assert model.training  # back in training mode after validating


@pytest.mark.parametrize("kwargs,message", [
    (dict(mask_kind="circles"), "mask_kind must be one of"),
    (dict(patch_size=18), "patch_size must be a multiple of 2\\*\\*depth = 4"),
    (dict(conditional=True), "--conditional applies to gan and vae, not inpaint"),
    (dict(depth=0), "depth must be an integer >= 1"),
])
def test_bad_options_are_refused(folder, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        train("inpaint", folder, tmp_path, 1, **{**TINY, **kwargs})


def test_mask_kind_is_for_inpaint_only(tmp_path):
    with pytest.raises(ValueError, match="--mask-kind applies to inpaint, not dncnn"):
        train("dncnn", "photos", tmp_path, 1, mask_kind="boxes")


def test_the_command_help_shows_the_recipe_defaults():
    from fusegen.commands.train import INPAINT_HELP, MASK_KINDS as HELP_KINDS

    def as_numbers(options):
        return {k: v if k == "fill" else float(v) for k, v in options.items()}

    assert as_numbers(INPAINT_HELP) == as_numbers(INPAINT_DEFAULTS)
    assert HELP_KINDS == MASK_KINDS
