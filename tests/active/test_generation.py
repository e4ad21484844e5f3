import pytest
import torch

from fusegen.active import LabelOracle, LearnerConfig, run_active_learning
from fusegen.active.generation import (generated_label_accuracy, pseudo_label,
                                       train_conditional_generator)


def test_pseudo_labels_keep_the_oracle_answers(small_split):
    pool, test = small_split
    wrong = (pool.labels + 1) % 10  # an oracle that is always wrong, to see its answers kept
    res = run_active_learning(pool.images, LabelOracle(wrong), test.images, test.labels, strategy="random",
                              initial=10, per_round=5, rounds=1, learner=LearnerConfig(steps=5))
    labels = pseudo_label(res, pool.images)
    assert labels.shape == (300,)
    assert torch.equal(labels[res.labelled_indices], wrong[res.labelled_indices])
    rest = torch.ones(300, dtype=torch.bool)
    rest[res.labelled_indices] = False
    assert torch.equal(labels[rest], res.learner.predict(pool.images[rest]).cpu())


def test_conditional_generator_and_judged_label_accuracy(small_split):
    pool, _ = small_split
    for kind in ("vae", "gan"):
        model, summary = train_conditional_generator(pool.images, pool.labels, 10, kind=kind, steps=2,
                                                     batch_size=16, width=8)
        assert summary["steps"] == 2 and model.num_classes == 10
    always_three = lambda images: torch.nn.functional.one_hot(torch.full((len(images),), 3), 10).float()
    assert generated_label_accuracy(model, always_three, 10, per_class=4) == pytest.approx(0.1)
    by_label = generated_label_accuracy(model, lambda images: torch.rand(len(images), 10), 10, per_class=4)
    assert 0 <= by_label <= 1
