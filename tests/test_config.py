from __future__ import annotations

import pytest

from dltool.config import GROUPS, compose, group_options, to_yaml
from dltool.errors import UserError


def test_default_composes_mlp_on_mnist1d_with_adam():
    cfg = compose()
    assert (cfg.model.name, cfg.data.name, cfg.optimizer.name, cfg.scheduler.name) == ("mlp", "mnist1d", "adam", "none")
    assert cfg.data.human_error == 0.04


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in group_options(g) if (g, o) != ("data", "csv")])
def test_every_option_of_every_group_composes(group, option):
    cfg = compose([f"{group}={option}"])
    if "name" in cfg[group]:
        assert cfg[group].name == option


def test_csv_composes_once_its_required_values_are_given():
    cfg = compose(["data=csv", "data.path=x.csv", "data.target=y"])
    assert (cfg.data.path, cfg.data.target) == ("x.csv", "y")


def test_overrides_reach_the_config():
    cfg = compose(["model.hidden=[256,128]", "optimizer=momentum", "optimizer.beta=0.95", "trainer.max_epochs=7"])
    assert list(cfg.model.hidden) == [256, 128]
    assert cfg.optimizer.beta == 0.95 and cfg.trainer.max_epochs == 7


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["model=nope"], "unknown model 'nope'; choose from: cnn, cnn_paper, gru"),
        (["optimizer=adamw"], "unknown optimizer 'adamw'; choose from: adam, momentum, rmsprop, sgd"),
        (["optimizer.lrr=0.1"], "unknown key 'optimizer.lrr'; valid keys of optimizer: name, lr, beta1"),
        (["optimizer=sgd", "optimizer.beta1=0.9"], "valid keys of optimizer: name, lr, weight_decay"),
        (["data.generator.noise=1"], "valid keys of data.generator: num_samples"),
        (["colour=red"], "unknown key or group 'colour'"),
        (["data=csv"], "missing required value: data.path, data.target"),
        (["model.hidden=[1,"], "cannot parse override"),
    ],
)
def test_mistakes_are_one_line_user_errors_naming_the_choices(overrides, message):
    with pytest.raises(UserError) as e:
        compose(overrides)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_struct_mode_stays_on():
    cfg = compose()
    with pytest.raises(Exception):
        cfg.model.hiden = [3]


def test_saved_config_round_trips_and_takes_overrides(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(compose(["optimizer=rmsprop", "model.hidden=[7]", "seed=3"])))
    again = compose([], config_file=path)
    assert again == compose(["optimizer=rmsprop", "model.hidden=[7]", "seed=3"])
    changed = compose(["optimizer=sgd", "model.keep_prob=0.5"], config_file=path)
    assert changed.optimizer == compose(["optimizer=sgd"]).optimizer  # a group swap brings that group's defaults
    assert changed.model.keep_prob == 0.5 and list(changed.model.hidden) == [7] and changed.seed == 3


def test_saved_config_mistakes(tmp_path):
    with pytest.raises(UserError, match="config file not found"):
        compose([], config_file=tmp_path / "missing.yaml")
    other = tmp_path / "other.yaml"
    other.write_text("a: 1\n")
    with pytest.raises(UserError, match="not a dltool run config"):
        compose([], config_file=other)
    good = tmp_path / "config.yaml"
    good.write_text(to_yaml(compose()))
    with pytest.raises(UserError, match="unknown key 'model.width'"):
        compose(["model.width=3"], config_file=good)
