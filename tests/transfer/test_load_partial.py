"""load_partial copies exactly the tensors whose key and shape match, and reports the rest."""

import json

import pytest
import torch

from fusegen.models import DCGAN, ConvVAE, DnCNN
from fusegen.checkpoint import save_checkpoint
from fusegen.transfer import TransferReport, load_partial


def _models(source_kwargs, target_kwargs, cls=DnCNN):
    torch.manual_seed(0)
    source = cls(**source_kwargs)
    torch.manual_seed(1)
    target = cls(**target_kwargs)
    return source, target


def test_a_deeper_denoiser_gets_the_matching_layers_and_a_report_of_the_rest():
    source, target = _models(dict(depth=4, width=4), dict(depth=5, width=4))
    before = {k: v.clone() for k, v in target.state_dict().items()}
    report = load_partial(target, source.state_dict())
    src, now = source.state_dict(), target.state_dict()
    # layers 0-2 are the same blocks in both; source layer 3 is the last conv (1 output channel)
    assert report.loaded == [k for k in now if k.startswith(("layers.0.", "layers.1.", "layers.2."))]
    assert report.mismatched == [("layers.3.weight", (4, 4, 3, 3), (1, 4, 3, 3))]
    assert report.missing == [k for k in now if k.startswith(("layers.3.", "layers.4.")) and k != "layers.3.weight"]
    assert report.unused == []
    for key in now:
        expected = src[key] if key in report.loaded else before[key]
        assert torch.equal(now[key], expected), key
    assert not report.complete and report.not_loaded[0] == "layers.3.weight"
    assert 0 < report.loaded_values < report.total_values == sum(v.numel() for v in now.values())


def test_one_channel_weights_into_a_colour_model_are_reported_not_loaded():
    source, target = _models(dict(depth=3, width=4, channels=1), dict(depth=3, width=4, channels=3))
    first = target.layers[0].weight.detach().clone()
    report = load_partial(target, source)
    assert {k for k, _, _ in report.mismatched} == {"layers.0.weight", "layers.2.weight"}
    assert ("layers.0.weight", (4, 3, 3, 3), (4, 1, 3, 3)) in report.mismatched
    assert torch.equal(target.layers[0].weight, first)
    assert torch.equal(target.layers[1].weight, source.layers[1].weight)
    assert report.config_changes == {"channels": (1, 3)}


def test_a_conditional_gan_of_10_classes_into_one_of_5():
    source, target = _models(dict(image_size=16, width=4, latent_dim=8, num_classes=10),
                             dict(image_size=16, width=4, latent_dim=8, num_classes=5), DCGAN)
    report = load_partial(target, source)
    assert report.mismatched == [("generator.embed.weight", (5, 16), (10, 16)),
                                 ("discriminator.project.weight", (5, 8), (10, 8))]
    assert report.missing == [] and report.unused == []
    assert report.config_changes == {"num_classes": (10, 5)}
    src = source.state_dict()
    for key, value in target.state_dict().items():
        assert torch.equal(value, src[key]) == (key in report.loaded), key
    text = str(report)
    assert "loaded 21 of 23 tensors" in text and "generator.embed.weight" in text
    assert "source (10, 16), model (5, 16)" in text and "num_classes: 10 in the source, 5 here" in text


def test_checkpoint_files_and_payloads(tmp_path):
    source, target = _models(dict(depth=3, width=4), dict(depth=3, width=4))
    payload = {"kind": "dncnn", "config": source.config, "model": source.state_dict()}
    path = save_checkpoint(payload, tmp_path / "pre.pt")
    report = load_partial(target, path)
    assert report.complete and report.source == str(path) and report.source_kind == "dncnn"
    assert all(torch.equal(a, b) for a, b in zip(target.state_dict().values(), source.state_dict().values()))
    assert load_partial(DnCNN(depth=3, width=4), payload).source == "a checkpoint payload"
    # a VAE checkpoint cannot initialize a denoiser
    vae = ConvVAE(image_size=16, width=4)
    with pytest.raises(ValueError, match="a vae checkpoint cannot initialize a dncnn model"):
        load_partial(target, {"kind": "vae", "config": vae.config, "model": vae.state_dict()})
    with pytest.raises(OSError, match="no such checkpoint"):
        load_partial(target, tmp_path / "missing.pt")


def test_nothing_matching_is_refused_with_the_differing_options():
    source, target = _models(dict(depth=3, width=4), dict(depth=3, width=8))
    before = [v.clone() for v in target.state_dict().values()]
    with pytest.raises(ValueError, match=r"none of its .* tensors fits .* width 4 there, 8 here"):
        load_partial(target, source)
    assert all(torch.equal(a, b) for a, b in zip(before, target.state_dict().values()))


def test_prefix_map_renames_and_restricts():
    torch.manual_seed(0)
    gan = DCGAN(image_size=16, width=4, latent_dim=8)
    torch.manual_seed(1)
    target = DCGAN(image_size=16, width=4, latent_dim=8)
    report = load_partial(target, gan.generator.state_dict(), prefix_map={"": "generator."})
    assert report.loaded == [k for k in target.state_dict() if k.startswith("generator.")]
    assert report.missing == [k for k in target.state_dict() if k.startswith("discriminator.")]
    report = load_partial(target, gan, prefix_map={"discriminator.": "discriminator."})
    assert all(k.startswith("discriminator.") for k in report.loaded) and report.loaded
    assert report.unused == [k for k in gan.state_dict() if k.startswith("generator.")]
    assert torch.equal(target.discriminator.head.weight, gan.discriminator.head.weight)


def test_bad_sources():
    target = DnCNN(depth=3, width=4)
    with pytest.raises(TypeError, match="source must be"):
        load_partial(target, 3)
    with pytest.raises(TypeError, match="source must be"):
        load_partial(target, {"layers.0.weight": "not a tensor"})


def test_report_round_trips_through_json():
    source, target = _models(dict(depth=4, width=4), dict(depth=5, width=4))
    report = load_partial(target, source)
    again = TransferReport.from_dict(json.loads(json.dumps(report.as_dict())))
    assert again == report
