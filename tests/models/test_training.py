from __future__ import annotations

import pytest

from dltool.config import compose
from dltool.models import FAMILIES, model_names

# one model a family learns in the default suite; its variants learn under -m slow
FIRST_OF_FAMILY = {"mlp", "cnn", "vgg", "resnet", "mobilenet_v1", "inception", "gru", "transformer"}
# The classic nets' large dense layers learn at Adam's own default rate (Kingma & Ba 2015), not at dltool's 1e-2, and
# need more steps than the digits' 3 epochs give (at 1e-2 and 10 epochs AlexNet stays at 0.71 test error; at 1e-3
# VGG reaches 0.10 after 10 epochs and 0.43 after 5, AlexNet 0.24 after 10)
SETTINGS = {"alexnet": ["optimizer.lr=0.001", "trainer.max_epochs=10"],
            "vgg": ["optimizer.lr=0.001", "trainer.max_epochs=5"]}


def family(name: str) -> str:
    from dltool.models import _REGISTRY

    return _REGISTRY[name].__module__.rsplit(".", 1)[1]


def test_every_family_of_classifiers_has_a_model_in_the_default_suite():
    """(The segmenters' family learns in tests/tasks/test_segment.py.)"""
    classifiers = {family(n) for n in _classifiers()}
    assert {family(n) for n in FIRST_OF_FAMILY} == classifiers and classifiers < set(FAMILIES)


def _classifiers() -> list[str]:
    """The classifiers of digits: all but those of sentences (word ids), which learn in tests/test_sentiment.py."""
    from dltool.models import _TASKS

    return [n for n in model_names() if "classify" in _TASKS[n] and family(n) != "sentence"]


# (the nets of other tasks learn in their tasks' tests: tests/tasks/test_segment.py, test_detect.py, tests/test_lm.py,
# tests/test_seq2seq.py)
@pytest.mark.parametrize("name", [n if n in FIRST_OF_FAMILY else pytest.param(n, marks=pytest.mark.slow)
                                  for n in _classifiers()])
def test_every_model_learns_digits_in_three_epochs(name, tmp_path):
    """A real run through dltool.train with the model's default config: well under chance (0.9 error) on the test split.

    Every default is small enough for this to take well under a second a model on two CPU cores.
    """
    from dltool.train import train

    settings = SETTINGS.get(name, ["trainer.max_epochs=3"])
    metrics = train(compose([f"model={name}", "data=digits", *settings]), runs_dir=tmp_path, progress=False)
    assert metrics["status"] == "completed"
    assert metrics["splits"]["test"]["error"] < 0.5
