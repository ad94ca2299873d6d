"""dltool.tune.plan: options checked before anything is written, the study folder, the default search spaces."""

from __future__ import annotations

import pytest

from dltool.errors import UserError
from dltool.tune import TuneOptions, run_study
from tests.tune.common import options, space


@pytest.mark.parametrize(
    "kw,extra,message",
    [
        ({}, ["search=nope"], "unknown search space 'nope'"),
        ({"sampler": "cmaes"}, [], "unknown --sampler 'cmaes'; choose from: random, tpe, grid"),
        ({"pruner": "asha"}, [], "unknown --pruner 'asha'"),
        ({"storage": "nonsense"}, [], "bad --storage 'nonsense'"),
        ({"storage": "foo://x"}, [], "cannot open --storage foo://x"),
        ({"constraints": ["f1>=0.5"]}, [], "constraints are satisficing metrics: latency_ms, parameters"),
        ({"trials": 0}, [], "--trials must be at least 1"),
        ({"heartbeat": 0}, [], "--heartbeat must be a positive number of seconds"),
        ({"sampler": "grid", "stages": "a:1,b:1"}, [], "--sampler grid runs one stage"),
        ({}, ["model.hidden=[8]", "optimizer=sgd"], "the config has no key optimizer.beta1"),
    ],
)
def test_mistakes(tmp_path, kw, extra, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("(", r"\(")):
        run_study(options(tmp_path, *extra, **kw))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_empty_search_space(tmp_path):
    with pytest.raises(UserError, match="is empty"):
        run_study(options(tmp_path, space(tmp_path, "params:\n")))


def test_a_study_name_that_links_out_of_the_runs_folder_is_refused_before_anything_is_written(tmp_path):
    runs, elsewhere = tmp_path / "runs", tmp_path / "elsewhere"
    runs.mkdir()
    elsewhere.mkdir()
    (runs / "s").symlink_to(elsewhere)
    with pytest.raises(UserError, match=rf"study 's' in {runs} is a link to {elsewhere}, outside the runs folder"):
        run_study(options(tmp_path, "search=lr", name="s", trials=1))
    assert list(elsewhere.iterdir()) == [] and [p.name for p in runs.iterdir()] == ["s"]
    (runs / "inside").mkdir()
    (runs / "t").symlink_to(runs / "inside")  # a link that stays in the runs folder is a folder like any other
    assert run_study(options(tmp_path, "search=lr", name="t", trials=1))["n_trials"] == 1
    assert (runs / "inside" / "study.db").is_file()


def corners(space) -> list[dict]:
    """The space's two corners: first choices and low ends, last choices and high ends."""
    from dltool.tune.plan import first_values

    last = {q.key: q.choices[-1] if q.choices is not None else round(q.high) if q.integer else q.high for q in space}
    return [first_values(space), last]


def test_every_model_has_a_default_space_whose_trials_build(tmp_path):
    """`dltool tune model=NAME` searches conf/search/NAME.yaml: for every registered model it loads, each key is one
    of the model's composed config, and both corners of the box build on the digits (no training)."""
    from dltool.config import compose
    from dltool.models import model_names
    from dltool.search import load_space
    from dltool.train import build, keep_threads
    from dltool.tune.plan import plan, trial_config

    from dltool.models import _TASKS

    # each model on data of its task: digits for a classifier, a small canvas for a segmenter, few names for an lm
    data = {"classify": ["data=digits"], "segment": ["task=segment", "data=canvas", "data.n=40"],
            "lm": ["task=lm", "data=names", "data.n=60"],
            "seq2seq": ["task=seq2seq", "data=dates", "data.n=60"],
            "ctc": ["task=ctc", "data=digit_strings", "data.n=40"],
            "tag": ["task=tag", "data=entities", "data.n=60"],
            "detect": ["task=detect", "data=canvas", "data.target=boxes", "data.n=40"],
            "embed": ["task=embed", "data=wiki", "data.corpus=lee"]}
    # + attention_rnn, transformer_seq2seq, yolo, ctc_rnn, brnn_tagger, transformer_lm, skipgram, glove, alexnet, vgg,
    # word_average, word_lstm
    assert len(model_names()) == 27
    for name in model_names():
        task_data = ["data=polarity"] if name.startswith("word_") else data[_TASKS[name][0]]  # sentences of words
        cfg = compose([f"model={name}", *task_data])
        p = plan(TuneOptions(overrides=[f"model={name}", *task_data, "trainer.max_epochs=3"],
                             runs_dir=tmp_path / "runs", progress=False))  # no search=: the model's own space
        assert p.search == name and [q.key for q in p.space] == [q.key for q in load_space(name, cfg)]
        keys = [q.key for q in p.space]
        assert keys[0] == "optimizer.lr" and p.space[0].scale == "log"  # course 2: the learning rate first
        assert "trainer.batch_size" in keys
        if "optimizer.beta1" in keys:
            assert p.space[keys.index("optimizer.beta1")].scale == "log1m"
        if name.endswith("_paper"):  # no knobs: the learning rate and the batch size only
            assert keys == ["optimizer.lr", "trainer.batch_size"]
        else:
            assert any(k.startswith("model.") for k in keys), name
        for values in corners(p.space):
            with keep_threads():
                setup = build(trial_config(cfg, values))
            assert setup.cfg.model.name == name
            for key, value in values.items():
                section, leaf = key.split(".")
                assert setup.cfg[section][leaf] == value  # the trial's values are the config it builds


def test_trial_config_sets_the_values_on_a_copy():
    from dltool.config import compose
    from dltool.tune.plan import trial_config

    cfg = compose(["data=digits"])
    tried = trial_config(cfg, {"optimizer.lr": 0.0123, "model.hidden": [8, 4]})
    assert tried.optimizer.lr == 0.0123 and list(tried.model.hidden) == [8, 4]
    assert cfg.optimizer.lr == 0.01 and list(cfg.model.hidden) == [100, 100]
