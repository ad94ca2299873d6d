from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from dltool.config import compose
from dltool.data import load_data
from dltool.data.mnist1d import cache_dir, generate


def test_mnist1d_is_the_papers_dataset_generated_locally():
    from mnist1d.data import get_dataset_args, make_dataset

    reference = make_dataset(get_dataset_args())
    settings = OmegaConf.to_container(compose().data.generator)
    x, y = generate(settings)
    assert x.shape == (5000, 40) and y.shape == (5000,)
    assert np.allclose(x, np.concatenate([reference["x"], reference["x_test"]]), atol=1e-6)
    assert np.array_equal(y, np.concatenate([reference["y"], reference["y_test"]]))
    assert list(cache_dir().glob("mnist1d-*.npz"))  # cached: the second call reads the file
    x2, y2 = generate(settings)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)


def test_default_mnist1d_splits():
    data = load_data(compose().data, seed=0)
    assert {k: len(v["y"]) for k, v in data.splits.items()} == {"train": 3000, "train_dev": 500, "dev": 750, "test": 750}
    assert data.input_shape == (40,) and len(data.classes) == 10 and data.human_error == 0.04


def test_shifted_mnist1d_draws_dev_and_test_from_another_generator():
    data = load_data(compose(["data=mnist1d_shift"]).data, seed=0)
    source, _ = generate(OmegaConf.to_container(compose().data.generator))
    rows = {tuple(r) for r in source.round(5)}
    assert all(tuple(r) in rows for r in data.splits["train"]["x"][:50].round(5))
    assert not any(tuple(r) in rows for r in data.splits["dev"]["x"].round(5))


def test_digits_are_8x8_images():
    data = load_data(compose(["data=digits"]).data, seed=0)
    assert data.input_shape == (1, 8, 8) and data.classes == [str(i) for i in range(10)]
    assert sum(len(v["y"]) for v in data.splits.values()) == 1797


def test_synthetic_data_has_the_asked_shape_and_a_linear_teacher():
    from sklearn.linear_model import LogisticRegression

    cfg = compose(["data=synthetic", "data.shape=[2,5]", "data.n=3000", "data.classes=3"]).data
    data = load_data(cfg, seed=0)
    assert data.input_shape == (2, 5) and data.classes == ["0", "1", "2"]
    assert sum(len(v["y"]) for v in data.splits.values()) == 3000
    (x, y), (x_dev, y_dev) = ((data.splits[k]["x"], data.splits[k]["y"]) for k in ("train", "dev"))
    assert np.bincount(y).min() > 0.15 * len(y)  # every class is common
    linear = LogisticRegression(max_iter=2000).fit(x.reshape(len(x), -1), y)
    assert linear.score(x_dev.reshape(len(x_dev), -1), y_dev) > 0.9  # a linear model nearly reaches the teacher
    again = load_data(cfg, seed=0)
    assert np.array_equal(again.splits["train"]["x"], x)  # the same data.seed, the same data


def test_shuffled_features_use_one_permutation_for_every_example():
    plain = load_data(compose().data, seed=0)
    shuffled = load_data(compose(["data.shuffle_features=true"]).data, seed=0)
    x, xs = plain.splits["train"]["x"], shuffled.splits["train"]["x"]
    assert np.array_equal(plain.splits["train"]["y"], shuffled.splits["train"]["y"])  # same examples, same split
    # find the permutation from the first example, then check it holds for all of them
    perm = [int(np.flatnonzero(x[0] == v)[0]) for v in xs[0]]
    assert sorted(perm) == list(range(40)) and perm != list(range(40))
    assert np.array_equal(xs, x[:, perm])


@pytest.mark.parametrize("experiment,model", [("paper_logistic", "mlp"), ("paper_mlp", "mlp"), ("paper_cnn", "cnn_paper"),
                                              ("paper_gru", "gru_paper")])
def test_experiment_configs_set_the_papers_training(experiment, model):
    cfg = compose([f"experiment={experiment}"])
    assert cfg.model.name == model and cfg.optimizer.name == "adam" and cfg.optimizer.lr == 0.01
    assert cfg.optimizer.weight_decay == 0 and cfg.trainer.max_epochs == 150 and cfg.trainer.batch_size == 100
    assert "experiment" not in cfg  # it sets other groups' keys; a saved config repeats the run without it
    assert cfg.data.normalize is False  # the paper feeds MNIST-1D's values as generated
    if experiment == "paper_logistic":
        assert list(cfg.model.hidden) == [] and cfg.model.init == "torch"
    if experiment == "paper_mlp":  # 40-100-100-10 with a shortcut around the second layer, PyTorch's init
        assert list(cfg.model.hidden) == [100, 100] and cfg.model.residual and cfg.model.init == "torch"
