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
        (["model=nope"], "unknown model 'nope'; choose from: alexnet, attention_rnn, brnn_tagger, cnn, cnn_paper, ctc_rnn, glove, gru"),
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


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["+trainer.gpus=2", "+trainer.auto_select_gpus=true"], "unknown key 'trainer.gpus': nothing reads it; valid keys "
                                                          "of trainer: max_epochs"),
        (["+optimizer.foo=1"], "unknown key 'optimizer.foo': nothing reads it; valid keys of optimizer: name, lr"),
        (["+logger=tensorboard"], "unknown key 'logger': nothing reads it; groups: task, model, data"),
        (["++model.depth=3"], "unknown key 'model.depth': nothing reads it; valid keys of model: name, hidden"),
        (["~scheduler"], "scheduler cannot be removed: every run reads it; set a value instead; choose one with "
                         "scheduler=NAME: cosine, exponential, inverse_time, none, step"),
        (["~optimizer"], "optimizer cannot be removed: every run reads it"),
        (["~trainer.max_epochs"], "trainer.max_epochs cannot be removed"),
        (["data.name=${oc.env:DLTOOL_NO_SUCH_VARIABLE}"],
         "cannot resolve data.name=${oc.env:DLTOOL_NO_SUCH_VARIABLE}: KeyError raised while resolving interpolation: "
         "\"Environment variable 'DLTOOL_NO_SUCH_VARIABLE' not found\""),
        (["data.name=${nope.key}"], "cannot resolve data.name=${nope.key}: Interpolation key 'nope.key' not found"),
    ],
)
def test_keys_nothing_reads_removed_keys_and_broken_interpolations_are_one_line(overrides, message):
    with pytest.raises(UserError) as e:
        compose(overrides)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_interpolations_are_resolved_in_every_group():
    cfg = compose(["optimizer.weight_decay=${optimizer.lr}", "data.augment.noise=${optimizer.lr}"])
    assert cfg.optimizer.weight_decay == 0.01 and cfg.data.augment.noise == 0.01
    from omegaconf import OmegaConf

    assert OmegaConf.to_container(cfg.optimizer)["weight_decay"] == 0.01  # a number, not the text ${optimizer.lr}


def test_a_saved_config_with_a_key_nothing_reads_or_a_yaml_alias_is_refused(tmp_path):
    import time

    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(compose()).replace("trainer:\n", "trainer:\n  gpus: 2\n", 1))
    with pytest.raises(UserError, match=f"unknown key 'trainer.gpus' in {path}: nothing reads it"):
        compose([], config_file=path)
    # an alias bomb: nine levels of nine references expand 1 KB into 9^9 (387 million) strings
    bomb = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    bomb += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    path.write_text("\n".join(bomb) + "\n")
    start = time.perf_counter()
    with pytest.raises(UserError, match=r"config file .* uses a YAML alias \(\*a0\): write the values out"):
        compose([], config_file=path)
    assert time.perf_counter() - start < 5  # refused before anything is expanded (a guard against a hang, not a benchmark)
    path.write_text(to_yaml(compose()))
    with pytest.raises(UserError, match=f"model.batch_norm cannot be removed in {path}: every run reads it"):
        compose(["~model.batch_norm"], config_file=path)


def test_a_relabelled_data_set_still_composes_from_its_saved_config(tmp_path):
    """data.name is the user's label for runs (data=csv data.name=flowers): the saved config's keys are checked
    against the option its loader names."""
    cfg = compose(["data=csv", "data.path=x.csv", "data.target=y", "data.name=flowers"])
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(cfg))
    assert compose([], config_file=path) == cfg


def test_a_run_config_from_before_the_task_group_composes_as_classification(tmp_path):
    from omegaconf import OmegaConf

    old = OmegaConf.to_container(compose(["model.hidden=[7]"]))
    del old["task"]
    path = tmp_path / "config.yaml"
    path.write_text(OmegaConf.to_yaml(old))
    assert compose([], config_file=path) == compose(["model.hidden=[7]"])


def test_a_run_config_from_before_keys_were_added_takes_their_defaults(tmp_path):
    """A run of an older dltool lacks the keys added since (model.init_from, model.freeze, ...): they take their
    defaults, so the run still evaluates and resumes; the keys it has keep their values."""
    from omegaconf import OmegaConf

    old = OmegaConf.to_container(compose(["model=unet", "data=canvas", "task=segment", "model.channels=[8,16]"]))
    del old["model"]["init_from"], old["model"]["freeze"], old["trainer"]["checkpoint_interval"]
    path = tmp_path / "config.yaml"
    path.write_text(OmegaConf.to_yaml(old))
    again = compose([], config_file=path)
    assert again == compose(["model=unet", "data=canvas", "task=segment", "model.channels=[8,16]"])
    assert again.model.init_from is None and again.model.freeze == "none"
