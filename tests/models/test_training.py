from __future__ import annotations

import pytest

from dltool.config import compose
from dltool.models import FAMILIES, model_names

# one model a family learns in the default suite; its variants learn under -m slow
FIRST_OF_FAMILY = {"mlp", "cnn", "resnet", "mobilenet", "inception", "gru", "transformer"}


def test_every_family_has_a_model_in_the_default_suite():
    from dltool.models import _REGISTRY

    families = {_REGISTRY[name].__module__.rsplit(".", 1)[1] for name in FIRST_OF_FAMILY}
    assert families == set(FAMILIES) and FIRST_OF_FAMILY <= set(model_names())


@pytest.mark.parametrize("name", [n if n in FIRST_OF_FAMILY else pytest.param(n, marks=pytest.mark.slow)
                                  for n in model_names()])
def test_every_model_learns_digits_in_three_epochs(name, tmp_path):
    """A real run through dltool.train with the model's default config: well under chance (0.9 error) on the test split.

    Every default is small enough for this to take well under a second a model on two CPU cores.
    """
    from dltool.train import train

    metrics = train(compose([f"model={name}", "data=digits", "trainer.max_epochs=3"]), runs_dir=tmp_path,
                    progress=False)
    assert metrics["status"] == "completed"
    assert metrics["splits"]["test"]["error"] < 0.5
