from __future__ import annotations

import json
import math

import pytest
from omegaconf import OmegaConf

from dltool.config import compose
from dltool.diagnose import diagnose, focus, gaps, parse_errors
from dltool.remedies import recommendations
from dltool.errors import UserError


def pct(**errors):
    """Ng's worked examples are in percent; dltool works in fractions."""
    return {k: v / 100 for k, v in errors.items()}


def approx_pct(**g):
    return {k: (None if v is None else pytest.approx(v / 100, abs=1e-9)) for k, v in g.items()}


# Ng's worked examples (Machine Learning Yearning ch. 20-22, 40-43)
def test_human_1_train_8_dev_10_is_a_bias_problem():
    g = gaps(pct(human=1, train=8, dev=10))
    assert g == approx_pct(avoidable_bias=7, variance=2, data_mismatch=None, dev_overfitting=None)
    assert focus(g) == "avoidable_bias"


def test_human_7_5_train_8_dev_10_is_a_variance_problem():
    g = gaps(pct(human=7.5, train=8, dev=10))
    assert g["avoidable_bias"] == pytest.approx(0.005) and g["variance"] == pytest.approx(0.02)
    assert focus(g) == "variance"


def test_human_4_train_7_train_dev_10_dev_12_test_12():
    g = gaps(pct(human=4, train=7, train_dev=10, dev=12, test=12))
    assert g == approx_pct(avoidable_bias=3, variance=3, data_mismatch=2, dev_overfitting=0)
    assert focus(g) == "avoidable_bias"  # a tie goes to the earlier rung: bias before variance


def test_large_bias_and_large_mismatch():
    d = diagnose(pct(human=0.5, train=8.8, train_dev=9.1, dev=14.3, test=14.8))
    assert d["gaps"] == approx_pct(avoidable_bias=8.3, variance=0.3, data_mismatch=5.2, dev_overfitting=0.5)
    assert d["focus"] == "avoidable_bias"
    assert any("Also large: data mismatch 0.0520" in n for n in d["notes"])
    recs = " ".join(d["recommendations"])
    assert "Bigger model" in recs and "Make training data more like dev/test" in recs  # both gaps get remedies


def test_train_below_human_makes_avoidable_bias_unknown():
    d = diagnose({"human": 0.04, "train": 0.0, "train_dev": 0.36, "dev": 0.39, "test": 0.36})
    assert d["gaps"]["avoidable_bias"] == pytest.approx(-0.04)
    assert d["focus"] == "variance"
    assert any("below the human-level proxy" in n and "unknown" in n for n in d["notes"])


def test_small_gaps_mean_doing_well():
    d = diagnose({"human": 0.02, "train": 0.025, "train_dev": 0.028, "dev": 0.03, "test": 0.031})
    assert d["focus"] == "none" and d["recommendations"] == []
    assert any("doing well" in n for n in d["notes"])


def test_missing_splits_are_said_plainly():
    d = diagnose({"human": None, "train": 0.1, "dev": 0.2})
    assert d["gaps"] == {"avoidable_bias": None, "variance": pytest.approx(0.1), "data_mismatch": None,
                         "dev_overfitting": None}
    assert d["focus"] == "variance"
    text = " ".join(d["notes"])
    assert "No human-level proxy" in text and "No train-dev split" in text and "No test error" in text


def test_parse_errors():
    assert parse_errors("human=0.01,train=0.08,train_dev=0.09,dev=0.10,test=0.11") == \
        {"human": 0.01, "train": 0.08, "train_dev": 0.09, "dev": 0.10, "test": 0.11}
    assert parse_errors("train=0.08, dev=0.1")["human"] is None


@pytest.mark.parametrize(
    "text,message",
    [
        ("human=0.01,train=0.08", "needs at least train and dev"),
        ("human=1,train=8,dev=10", "must be a number in [0, 1]"),
        ("train=0.1,dev=abc", "'abc' is not a number"),
        ("train=0.1,dev=0.2,val=0.3", "bad --errors part 'val=0.3': expected name=value with names human, train"),
        ("train 0.1", "bad --errors part"),
    ],
)
def test_malformed_errors(text, message):
    with pytest.raises(UserError) as e:
        parse_errors(text)
    assert message in str(e.value)


def test_recommendations_are_ready_commands_for_the_run():
    cfg = OmegaConf.to_container(compose(["data=mnist1d_shift", "optimizer=sgd", "model.keep_prob=0.9"]))
    bias = recommendations("avoidable_bias", cfg, "runs/r")
    assert "Bigger model (more hidden units): `dltool train --config runs/r/config.yaml model.hidden=[200,200]`" in bias
    assert any(r.endswith("optimizer=adam`") for r in bias) and any(r.endswith("model.keep_prob=1.0`") for r in bias)
    variance = recommendations("variance", cfg, "runs/r")
    assert any(r.endswith("model.keep_prob=0.8`") for r in variance)
    assert any(r.endswith("optimizer.weight_decay=0.0001`") for r in variance)
    assert not any("dltool curve" in r for r in variance)  # no training-set size: no sizes to ask for
    sized = recommendations("variance", cfg, "runs/r", n_train=3000)
    assert sized[0] == ("Learning curve first, to see whether more data helps: `dltool curve --config "
                        "runs/r/config.yaml --sizes 375,750,1500,3000`")
    mismatch = recommendations("data_mismatch", cfg, "runs/r")
    assert any(r.endswith("data.target_in_train=500`") for r in mismatch)
    assert mismatch[0].endswith("(`dltool errors runs/r --split dev`, then `--split train_dev`)")
    segment = OmegaConf.to_container(compose(["task=segment", "model=unet", "data=canvas"]))
    assert "`dltool evaluate runs/r --split dev`" in recommendations("data_mismatch", segment, "runs/r")[0]
    verify = OmegaConf.to_container(compose(["task=verify", "data=digits", "data.unseen=[8,9]"]))
    one_shot = recommendations("data_mismatch", verify, "runs/r")
    assert one_shot[0].startswith("Dev and test hold identities never seen in training (data.unseen=[8,9])")
    assert one_shot[1].endswith("task.mining=hard`") and one_shot[2].endswith("task.margin=0.4`")
    assert not any("dltool errors" in r for r in one_shot)  # errors serves tasks whose examples are right or wrong
    assert recommendations("dev_overfitting", cfg, "runs/r") == \
        ["Bigger dev set: `dltool train --config runs/r/config.yaml data.split.dev=0.4`"]


@pytest.mark.parametrize("overrides", [["data=mnist1d_shift", "optimizer=sgd", "model.keep_prob=0.9"],
                                       ["data=digits", "model=cnn"],
                                       ["task=segment", "model=unet", "data=canvas"],
                                       ["task=verify", "data=digits", "data.unseen=[8,9]"]])
def test_every_recommended_command_composes(tmp_path, overrides):
    """A recommendation is only useful if its command runs: each override must compose on the run's config, for
    each task and model (a U-Net has channels and no dropout; generated data grows with data.n)."""
    from dltool.config import to_yaml
    from dltool.tune import TuneOptions, plan

    cfg = compose(overrides)
    (tmp_path / "config.yaml").write_text(to_yaml(cfg))
    plain = OmegaConf.to_container(cfg)
    tuned = trained = curves = 0
    for gap in ("avoidable_bias", "variance", "data_mismatch", "dev_overfitting"):
        for rec in recommendations(gap, plain, str(tmp_path), n_train=1000):
            if "`dltool curve --config" in rec:  # the curve's sizes parse and fit the training split it names
                from dltool.curve import parse_sizes

                sizes = parse_sizes(rec.rstrip("`").split("--sizes ")[1])
                assert sizes[-1] == 1000
                compose([f"data.split.train_size={sizes[0]}"], config_file=tmp_path / "config.yaml")
                curves += 1
            elif "`dltool train --config" in rec:
                compose(rec.rstrip("`").split("config.yaml ")[1].split(), config_file=tmp_path / "config.yaml")
                trained += 1
            elif "`dltool train --resume" in rec:  # training longer: the overrides --resume takes, on this config
                from dltool.resume import LONGER

                words = rec.rstrip("`").split()
                assert words[words.index("--resume") + 1] == str(tmp_path) and "--name" in words
                given = [w for w in words if "=" in w]
                assert given and all(w.split("=")[0] in {f"trainer.{k}" for k in LONGER} for w in given)
                compose(given, config_file=tmp_path / "config.yaml")
                trained += 1
            elif "`dltool tune --config" in rec:
                words = rec.rstrip("`").split("config.yaml")[1].split()
                plan(TuneOptions(overrides=[w for w in words if "=" in w and not w.startswith("-")],
                                 config=tmp_path / "config.yaml", runs_dir=tmp_path))
                tuned += 1
    assert tuned == 1 and trained >= 6 and curves == 1


def test_diagnosing_a_real_run_writes_json_markdown_and_chart(tmp_path):
    from dltool.report import diagnose_run
    from dltool.train import train

    train(compose(["data=digits", "trainer.max_epochs=3"]), runs_dir=tmp_path, name="r", progress=False)
    d = diagnose_run(tmp_path / "r")
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert d["errors"]["dev"] == metrics["splits"]["dev"]["error"] and d["errors"]["human"] == 0.01
    assert json.loads((tmp_path / "r" / "diagnosis.json").read_text()) == d
    assert "Focus" in (tmp_path / "r" / "diagnosis.md").read_text()
    assert (tmp_path / "r" / "diagnosis.png").read_bytes()[:4] == b"\x89PNG"
    assert diagnose_run(tmp_path / "r", human_error=0.2)["errors"]["human"] == 0.2


def test_a_diverged_run_is_told_to_train_stably_not_to_grow(tmp_path):
    """A run whose loss became NaN: its diagnosis says so first and recommends a lower learning rate and clipping,
    never a bigger model; ``dltool runs`` shows it with no focus."""
    from dltool.report import diagnose_run
    from dltool.run_list import list_runs
    from dltool.train import train

    result = train(compose(["data=digits", "optimizer=sgd", "scheduler=exponential", "scheduler.gamma=1000",
                            "trainer.max_epochs=30"]), runs_dir=tmp_path, name="boom", progress=False)
    assert result["status"] == "diverged"
    d = diagnose_run(tmp_path / "boom")
    assert d["notes"][0].startswith("Training diverged")
    assert d["recommendations"][0].startswith("Lower the learning rate (a tenth): `dltool train --config")
    assert d["recommendations"][0].endswith("optimizer.lr=0.01`")  # sgd's 0.1, a tenth
    assert not any("Bigger model" in r for r in d["recommendations"])
    [row] = list_runs(tmp_path)
    assert row["status"] == "diverged" and row["focus"] is None and row["dev_error"] is not None


# --- uncertainty: each error and gap with its 95 % interval ------------------------------------------------------

def test_wilson_intervals_agree_with_scipy():
    from scipy.stats import binomtest

    from dltool.intervals import wilson

    for k, n in ((0, 20), (3, 20), (8, 85), (500, 1000), (85, 85)):
        ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert wilson(k / n, n) == pytest.approx((ref.low, ref.high), abs=1e-12)


def test_the_difference_interval_reproduces_newcombes_worked_examples():
    """Newcombe (1998), Statistics in Medicine 17: 873-890, table II, method 10 (score intervals combined)."""
    from dltool.intervals import difference_interval

    assert difference_interval(56 / 70, 70, 48 / 80, 80) == pytest.approx((0.0524, 0.3339), abs=5e-5)
    assert difference_interval(9 / 10, 10, 3 / 10, 10) == pytest.approx((0.1705, 0.8090), abs=5e-5)


def test_a_dev_test_gap_of_0_07_on_85_examples_each_is_noise_not_the_focus():
    d = diagnose({"human": 0.02, "train": 0.06, "train_dev": 0.07, "dev": 0.10, "test": 0.17},
                 sizes={"train": 300, "train_dev": 60, "dev": 85, "test": 85})
    assert d["gaps"]["dev_overfitting"] == pytest.approx(0.07) and d["focus"] != "dev_overfitting"
    assert any(n.startswith("Dev overfitting 0.0700 is not distinguishable from noise with n = 85 and 85")
               for n in d["notes"])
    assert d["recommendations"][0].startswith("Bigger dev and test sets first: the dev overfitting of 0.0700 is "
                                              "within noise; about 182 examples each")
    lo, hi = d["intervals"]["gaps"]["dev_overfitting"]
    assert lo < 0 < hi


def test_the_size_that_resolves_a_gap_by_hand():
    from dltool.intervals import Z, resolving_size

    # z^2 (0.1 * 0.9 + 0.17 * 0.83) / 0.07^2 = 3.8415 * 0.2311 / 0.0049 = 181.2
    assert resolving_size(0.10, 0.17, 0.07) == math.ceil(Z * Z * (0.09 + 0.1411) / 0.0049) == 182


@pytest.mark.parametrize("errors,answer", [
    (pct(human=1, train=8, dev=10), "avoidable_bias"),
    (pct(human=7.5, train=8, dev=10), "variance"),
    (pct(human=4, train=7, train_dev=10, dev=12, test=12), "avoidable_bias"),
    (pct(human=0.5, train=8.8, train_dev=9.1, dev=14.3, test=14.8), "avoidable_bias"),
])
def test_the_worked_examples_keep_their_answers_when_n_is_large(errors, answer):
    sizes = {k: 100_000 for k in ("train", "train_dev", "dev", "test")}
    d = diagnose(errors, sizes=sizes)
    assert d["focus"] == answer and diagnose(errors)["focus"] == answer
    assert not any("not distinguishable" in n for n in d["notes"] if "avoidable bias" not in n.lower())


def test_a_run_is_diagnosed_with_intervals_from_its_split_sizes(digits_run, tmp_path):
    import shutil

    from dltool.intervals import wilson
    from dltool.report import diagnose_run

    shutil.copytree(digits_run, tmp_path / "r")
    d = diagnose_run(tmp_path / "r")
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    dev = metrics["splits"]["dev"]
    assert d["intervals"]["errors"]["dev"] == pytest.approx(list(wilson(dev["error"], dev["n"])))
    assert "95 % interval" in (tmp_path / "r" / "diagnosis.md").read_text()


def test_word_vectors_get_remedies_of_text_not_of_labels():
    """task=embed: more text and smaller vectors for variance, bigger vectors for bias; no labels to collect, no
    dropout or augmentation to add."""
    config = {"task": {"name": "embed"}, "model": {"name": "skipgram", "dim": 100}, "data": {"name": "wiki"},
              "optimizer": {"name": "adam", "lr": 0.03}, "trainer": {}}
    variance = recommendations("variance", config, "runs/sg")
    assert variance[0] == "More text: a larger corpus (data.path=FILE, plain text, one document a line)"
    assert "Smaller vectors (fewer numbers a word to fit): `dltool train --config runs/sg/config.yaml model.dim=50`" \
        in variance
    assert not any("labelled" in r or "Dropout" in r or "augmentation" in r for r in variance)
    bias = recommendations("avoidable_bias", config, "runs/sg")
    assert bias[0] == "Bigger vectors (more numbers a word): `dltool train --config runs/sg/config.yaml model.dim=200`"
