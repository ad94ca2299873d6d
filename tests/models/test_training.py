from __future__ import annotations

import pytest

from dltool.config import compose
from dltool.models import model_names


@pytest.mark.parametrize("name", model_names())
def test_every_model_learns_digits_in_three_epochs(name, tmp_path):
    """A real run through dltool.train with the model's default config: well under chance (0.9 error) on the test split.

    Every default is small enough for this to take well under a second a model on two CPU cores.
    """
    from dltool.train import train

    metrics = train(compose([f"model={name}", "data=digits", "trainer.max_epochs=3"]), runs_dir=tmp_path,
                    progress=False)
    assert metrics["status"] == "completed"
    assert metrics["splits"]["test"]["error"] < 0.5
