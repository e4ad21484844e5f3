"""`fusegen evaluate`: distance-to-real metrics of image files and folders from the command line."""

from __future__ import annotations

import json

import pytest
import torch

import fusegen.metrics as M
from fusegen.cli import main

METRICS = ("frechet_distance", "kid_mean", "kid_std", "precision", "recall", "density", "coverage")


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # the test tensors are tiny


def image_files(tmp_path, n_fake=50):
    g = torch.Generator().manual_seed(1)
    real = torch.rand(60, 1, 8, 8, generator=g)
    labels = torch.arange(60) % 3
    fake = torch.rand(n_fake, 1, 8, 8, generator=g) ** 2
    torch.save({"images": real, "labels": labels}, tmp_path / "real.pt")
    torch.save(fake, tmp_path / "fake.pt")
    return str(tmp_path / "real.pt"), str(tmp_path / "fake.pt"), real, fake


def test_cli_json_equals_the_python_helper(tmp_path, capsys):
    real_path, fake_path, real, fake = image_files(tmp_path)
    args = ["evaluate", real_path, fake_path, "--feature-dim", "8", "--kid-subsets", "4", "--json"]
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = M.evaluate(real, fake, M.FeatureExtractor.random(1, feature_dim=8), kid_subsets=4)
    for key in METRICS:
        assert printed[key] == pytest.approx(expected[key], rel=1e-6, abs=1e-9)


def test_cli_table_with_risks(tmp_path, capsys):
    real_path, fake_path, _, _ = image_files(tmp_path)
    assert main(["evaluate", real_path, fake_path, "--feature-dim", "8", "--kid-subsets", "2",
                 "--risk", "3"]) == 0
    out = capsys.readouterr().out
    assert "Fréchet distance" in out and "(lower is better)" in out and "coverage" in out
    assert "classifier two-sample test" in out and out.count("\n  ") >= 6 + 3


def test_cli_classifier_features_are_cached(tmp_path, capsys):
    real_path, fake_path, _, _ = image_files(tmp_path)
    cache = tmp_path / "extractor.pt"
    args = ["evaluate", real_path, fake_path, "--features", "classifier", "--epochs", "1",
            "--feature-dim", "8", "--kid-subsets", "2", "--extractor", str(cache), "--json"]
    assert main(args) == 0 and cache.exists()
    first = json.loads(capsys.readouterr().out)
    assert first["extractor"].startswith("classifier on 3 classes")
    assert main(args) == 0  # now loaded from the cache, not retrained
    assert json.loads(capsys.readouterr().out) == first


def test_cli_image_folders_with_class_subfolders(tmp_path, capsys):
    Image = pytest.importorskip("PIL.Image")
    g = torch.Generator().manual_seed(2)
    for name, n in (("real/a", 10), ("real/b", 10), ("fake", 20)):
        (tmp_path / name).mkdir(parents=True)
        for i in range(n):
            pixels = (torch.rand(12, 12, generator=g) * 255).byte().numpy()
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
    assert main(["evaluate", str(tmp_path / "real"), str(tmp_path / "fake"), "--features", "classifier",
                 "--epochs", "1", "--feature-dim", "4", "--kid-subsets", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_real"] == 20 and out["n_fake"] == 20
    assert out["extractor"].startswith("classifier on 2 classes")


def test_cli_errors_are_one_line(tmp_path, capsys):
    real_path, fake_path, _, _ = image_files(tmp_path, n_fake=5)
    assert main(["evaluate", real_path, fake_path, "--feature-dim", "8"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fusegen evaluate: error: fake_feats has 5 samples of 8 features")
    assert err.count("\n") == 1
    torch.save(torch.rand(5, 1, 8, 8), tmp_path / "unlabelled.pt")
    assert main(["evaluate", str(tmp_path / "unlabelled.pt"), fake_path, "--features", "classifier"]) == 2
    assert "--features classifier needs labels" in capsys.readouterr().err
    torch.save(torch.rand(5, 1, 8, 8) * 3, tmp_path / "bright.pt")
    assert main(["evaluate", str(tmp_path / "bright.pt"), fake_path]) == 2
    assert "must lie in [0, 1]" in capsys.readouterr().err


def test_negative_epochs_are_refused(tmp_path, capsys):
    real_path, fake_path, _, _ = image_files(tmp_path)
    assert main(["evaluate", real_path, fake_path, "--features", "classifier", "--epochs", "-1"]) == 2
    assert "--epochs must be >= 1, got -1" in capsys.readouterr().err


def test_empty_or_corrupt_tensor_files_are_one_line(tmp_path, capsys):
    real_path, fake_path, _, _ = image_files(tmp_path)
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "corrupt.pt").write_bytes(b"PK\x03\x04garbage")
    assert main(["evaluate", str(tmp_path / "empty.pt"), fake_path]) == 2
    assert main(["evaluate", real_path, str(tmp_path / "corrupt.pt")]) == 2
    assert main(["evaluate", real_path, fake_path, "--features", "classifier",
                 "--extractor", str(tmp_path / "empty.pt")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all("not a readable" in line for line in err)
