from __future__ import annotations

import math

import pytest

from dltool.config import compose
from dltool.errors import UserError
from dltool.search import load_space, narrow, parse_param, parse_stages, space_names

LR = parse_param("optimizer.lr", {"low": 1e-4, "high": 1e-1, "scale": "log"})
BETA = parse_param("optimizer.beta1", {"low": 0.8, "high": 0.999, "scale": "log1m"})
KEEP = parse_param("model.keep_prob", {"low": 0.5, "high": 1.0, "limits": [0.05, 1.0]})


def sample(param, n: int, seed: int = 0) -> list:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [param.suggest(study.ask()) for _ in range(n)]


def test_a_log_scale_puts_as_many_samples_in_each_decade():
    values = sample(parse_param("optimizer.lr", {"low": 1e-4, "high": 1.0, "scale": "log"}), 4000)
    counts = [sum(10 ** (d - 1) <= v < 10 ** d for v in values) for d in (-3, -2, -1, 0)]
    assert all(abs(c - 1000) < 100 for c in counts), counts  # 3 sigma of a binomial(4000, 1/4) is 82


def test_the_one_minus_beta_scale_searches_near_one_as_densely_as_near_0_9():
    values = sample(parse_param("optimizer.beta1", {"low": 0.9, "high": 0.999, "scale": "log1m"}), 4000)
    assert all(0.9 <= v <= 0.999 for v in values)
    low = sum(v < 0.99 for v in values)  # [0.9, 0.99) and [0.99, 0.999) are one decade each of 1 - beta
    assert abs(low - 2000) < 100, low


def test_choices_and_integers():
    hidden = parse_param("model.hidden", {"choices": [[64], [100, 100]]})
    assert {tuple(v) for v in sample(hidden, 50)} == {(64,), (100, 100)}  # lists survive Optuna's categoricals
    units = parse_param("x", {"low": 8, "high": 512, "scale": "log", "type": "int"})
    assert all(isinstance(v, int) and 8 <= v <= 512 for v in sample(units, 50))


# The narrowing rule, worked by hand (dltool.search's module docstring has the rule).
def test_narrow_around_the_best_trials_in_log_space():
    # top 2 of 4 by dev error: lr 0.01 and 0.02 -> log10 -2 and -1.699; span 0.301, pad max(0.075, 5% of 3) = 0.15
    new = narrow(LR, [(0.30, 1e-2), (0.31, 2e-2), (0.50, 1e-4), (0.60, 9e-2)])
    assert new.low == pytest.approx(10 ** -2.15) and new.high == pytest.approx(10 ** (math.log10(0.02) + 0.15))


def test_a_best_value_at_an_edge_widens_the_range_beyond_it():
    # best lr 0.09 lies within 10% (0.3 decades) of the top edge 0.1: the top moves out by half the width, 1.5 decades
    new = narrow(LR, [(0.30, 9e-2), (0.31, 5e-2), (0.50, 1e-4), (0.60, 1e-3)])
    assert new.high == pytest.approx(10 ** 0.5)
    assert new.low == pytest.approx(10 ** (math.log10(0.05) - 0.15))


def test_narrow_a_beta_on_its_one_minus_beta_scale():
    # log10(1 - 0.99) = -2, log10(1 - 0.95) = -1.301; span 0.699, pad max(0.175, 5% of 2.301) = 0.175
    new = narrow(BETA, [(0.1, 0.99), (0.2, 0.95)])
    assert new.low == pytest.approx(1 - 10 ** (-1.30103 + 0.17474), abs=1e-4)
    assert new.high == pytest.approx(1 - 10 ** (-2 - 0.17474), abs=1e-4)


def test_widening_stops_at_the_limits():
    # best keep_prob 0.98 is at the top edge: widening would pass 1.0, the limit; below: 0.9 - max(0.02, 0.025)
    new = narrow(KEEP, [(0.1, 0.98), (0.2, 0.9)])
    assert (new.low, new.high) == (pytest.approx(0.875), 1.0)


def test_narrow_choices_keeps_those_of_the_best_trials():
    hidden = parse_param("model.hidden", {"choices": [[64], [100, 100], [256, 256]]})
    trials = [(0.1, [256, 256]), (0.2, [64]), (0.3, [100, 100]), (0.4, [100, 100])]
    assert narrow(hidden, trials).choices == ([64], [256, 256])
    assert narrow(hidden, []) == hidden  # nothing finished yet: nothing to narrow


def test_integers_narrow_to_integers():
    units = parse_param("x", {"low": 8, "high": 512, "scale": "log", "type": "int"})
    new = narrow(units, [(0.1, 64), (0.2, 128), (0.3, 9), (0.4, 500)])
    assert isinstance(new.low, int) and isinstance(new.high, int) and new.low < 64 and new.high > 128


def test_stages():
    assert parse_stages("coarse:30,fine:20", 99) == [("coarse", 30), ("fine", 20)]
    assert parse_stages(None, 12) == [("search", 12)]
    for bad in ("coarse", "coarse:0", "coarse:x", ":3"):
        with pytest.raises(UserError, match="expected name:trials"):
            parse_stages(bad, 1)


def test_every_shipped_space_loads_against_the_config_of_its_model():
    from dltool.models import _TASKS, model_names

    assert "mlp" in space_names() and "lr" in space_names() and set(model_names()) <= set(space_names())
    for name in space_names():  # a model's space against its model and the first task it serves (task.* keys)
        model = [f"model={name}", f"task={_TASKS[name][0]}"] if name in model_names() else []
        model = ["model=mobilenet"] if name == "compound" else model  # EfficientNet's scaling of a MobileNet
        assert load_space(name, compose(model))


@pytest.mark.parametrize(
    "spec,message",
    [
        ({"low": 0.1, "high": 0.01}, "needs numbers low < high"),
        ({"low": 0, "high": 1, "scale": "log"}, "a log scale needs low > 0"),
        ({"low": 0.9, "high": 1.0, "scale": "log1m"}, "needs 0 <= low < high < 1"),
        ({"low": 1, "high": 2, "scale": "cubic"}, "unknown scale 'cubic'; choose from: linear, log, log1m"),
        ({"choices": []}, "choices must be a non-empty list"),
        ({"low": 1, "high": 2, "step": 1}, "unknown field step"),
        ({"low": 0.5, "high": 1.0, "limits": [0.6, 1.0]}, "limits must be"),
        (3, "expected a mapping"),
    ],
)
def test_bad_parameters(spec, message):
    with pytest.raises(UserError, match=message):
        parse_param("optimizer.lr", spec)


def test_a_parameter_must_name_a_config_key():
    with pytest.raises(UserError, match="the config has no key optimizer.momentum"):
        parse_param("optimizer.momentum", {"low": 0.8, "high": 0.99}, compose())


def test_bad_spaces(tmp_path):
    with pytest.raises(UserError, match="unknown search space 'nope'; choose from: alexnet, attention_rnn, brnn_tagger, cnn, cnn_paper, compound, ctc_rnn, glove, gru, .*, lr, "):
        load_space("nope", compose())
    empty = tmp_path / "empty.yaml"
    empty.write_text("params: {}\n")
    with pytest.raises(UserError, match="is empty"):
        load_space(str(empty), compose())


def test_a_search_space_file_with_a_yaml_alias_is_refused(tmp_path):
    """A space given as a file is the user's YAML: an alias (which can expand 1 KB into gigabytes) is one line."""
    path = tmp_path / "space.yaml"
    path.write_text("lr: &lr {low: 1.0e-4, high: 1.0, scale: log}\nparams:\n  optimizer.lr: *lr\n")
    with pytest.raises(UserError, match=r"search space file .*space.yaml uses a YAML alias \(\*lr\)"):
        load_space(str(path), compose())
