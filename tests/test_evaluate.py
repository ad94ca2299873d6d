from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from dltool.errors import UserError
from dltool.evaluate import check_requirements, evaluate_run, parse_class_weights, parse_requirement
from dltool.restore import restore
from dltool.scoring import compute
from dltool.runs import find_run
from tests.conftest import as_if_killed

ABC = ["cat", "dog", "eel"]
# A hand-worked case: 3 classes, 6 examples.
#   true  cat cat dog dog eel eel
#   pred  cat dog dog dog eel cat
# confusion (rows true, columns predicted): cat [1 1 0], dog [0 2 0], eel [1 0 1]
#   cat: TP 1, predicted cat 2 times -> precision 1/2, recall 1/2, F1 1/2
#   dog: TP 2, predicted dog 3 times -> precision 2/3, recall 2/2 = 1, F1 = 2 (2/3)(1) / (2/3 + 1) = 4/5
#   eel: TP 1, predicted eel 1 time  -> precision 1, recall 1/2, F1 = 2 (1)(1/2) / (3/2) = 2/3
# accuracy 4/6; macro precision (1/2 + 2/3 + 1)/3 = 13/18; macro recall (1/2 + 1 + 1/2)/3 = 2/3;
# macro F1 (1/2 + 4/5 + 2/3)/3 = 59/90; every class has support 2, so weighted = macro.
HAND_TRUE = np.array([0, 0, 1, 1, 2, 2])
HAND_PRED = np.array([0, 1, 1, 1, 2, 0])


def random_labels(k=4, n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    p = np.where(rng.random(n) < 0.6, y, rng.integers(0, k, n))  # 60 % copied, the rest noise
    return y, p, [f"c{i}" for i in range(k)]


# --- compute: a pure function on label arrays ---------------------------------------------------------------------

def test_hand_worked_three_classes():
    r = compute(HAND_TRUE, HAND_PRED, ABC, "f1")
    assert r["value"] == pytest.approx(59 / 90) and r["average"] == "macro"
    assert r["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    expected = {"cat": (1 / 2, 1 / 2, 1 / 2), "dog": (2 / 3, 1, 4 / 5), "eel": (1, 1 / 2, 2 / 3)}
    for label, (p, rec, f1) in expected.items():
        assert r["per_class"][label] == {"precision": pytest.approx(p), "recall": pytest.approx(rec),
                                         "f1": pytest.approx(f1), "support": 2}
    assert compute(HAND_TRUE, HAND_PRED, ABC, "accuracy")["value"] == pytest.approx(4 / 6)
    assert compute(HAND_TRUE, HAND_PRED, ABC, "error")["value"] == pytest.approx(2 / 6)
    assert compute(HAND_TRUE, HAND_PRED, ABC, "precision")["value"] == pytest.approx(13 / 18)
    assert compute(HAND_TRUE, HAND_PRED, ABC, "recall")["value"] == pytest.approx(2 / 3)
    assert compute(HAND_TRUE, HAND_PRED, ABC, "f1", average="weighted")["value"] == pytest.approx(59 / 90)
    assert compute(HAND_TRUE, HAND_PRED, ABC, "f1", average="micro")["value"] == pytest.approx(4 / 6)  # = accuracy
    # dog against the rest: precision 2/3, recall 1; F2 = 5 P R / (4 P + R) = (10/3) / (11/3) = 10/11
    dog = {"average": "binary", "positive_label": "dog"}
    assert compute(HAND_TRUE, HAND_PRED, ABC, "precision", **dog)["value"] == pytest.approx(2 / 3)
    assert compute(HAND_TRUE, HAND_PRED, ABC, "f1", **dog)["value"] == pytest.approx(4 / 5)
    assert compute(HAND_TRUE, HAND_PRED, ABC, "fbeta", beta=2.0, **dog)["value"] == pytest.approx(10 / 11)


@pytest.mark.parametrize("average", ["macro", "micro", "weighted"])
def test_averaged_metrics_equal_sklearn(average):
    y, p, classes = random_labels()
    kw = {"average": average, "zero_division": 0}
    assert compute(y, p, classes, "precision", average)["value"] == pytest.approx(skm.precision_score(y, p, **kw))
    assert compute(y, p, classes, "recall", average)["value"] == pytest.approx(skm.recall_score(y, p, **kw))
    assert compute(y, p, classes, "f1", average)["value"] == pytest.approx(skm.f1_score(y, p, **kw))
    assert compute(y, p, classes, "fbeta", average, beta=0.5)["value"] == pytest.approx(
        skm.fbeta_score(y, p, beta=0.5, **kw))


def test_pooled_metrics_per_class_and_confusion_equal_sklearn():
    y, p, classes = random_labels(k=5, seed=1)
    r = compute(y, p, classes, "error")
    assert r["value"] == pytest.approx(1 - skm.accuracy_score(y, p)) and r["average"] == "none"
    assert compute(y, p, classes, "accuracy")["value"] == pytest.approx(skm.accuracy_score(y, p))
    assert r["confusion_matrix"] == skm.confusion_matrix(y, p).tolist()
    f1 = skm.f1_score(y, p, average=None)
    assert [r["per_class"][c]["f1"] for c in classes] == pytest.approx(list(f1))
    assert [r["per_class"][c]["support"] for c in classes] == list(np.bincount(y, minlength=5))


def test_a_class_never_seen_still_gets_a_row_and_zero_scores():
    r = compute([0, 0, 1], [0, 0, 1], ["a", "b", "c"], "precision")
    assert r["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert r["confusion_matrix"] == [[2, 0, 0], [0, 1, 0], [0, 0, 0]]


def test_binary_for_one_label_of_many_is_its_one_vs_rest_score():
    y, p, classes = random_labels(k=4, seed=2)
    f1 = skm.f1_score(y, p, average=None)
    recall = skm.recall_score(y, p, average=None)
    for i, label in enumerate(classes):
        assert compute(y, p, classes, "f1", "binary", positive_label=label)["value"] == pytest.approx(f1[i])
        assert compute(y, p, classes, "recall", "binary", positive_label=label)["value"] == pytest.approx(recall[i])
        one_vs_rest = skm.f1_score(y == i, p == i)  # the same, spelled as a two-class problem
        assert compute(y, p, classes, "f1", "binary", positive_label=label)["value"] == pytest.approx(one_vs_rest)


def test_binary_with_two_classes_scores_the_second_by_default():
    y, p, _ = random_labels(k=2, seed=3)
    r = compute(y, p, ["no", "yes"], "precision", "binary")
    assert r["value"] == pytest.approx(skm.precision_score(y, p)) and r["average"] == "binary"
    assert compute(y, p, ["no", "yes"], "precision", "binary", positive_label="no")["value"] == pytest.approx(
        skm.precision_score(y, p, pos_label=0))


def test_weighted_error_by_hand():
    y, p = [0, 0, 1, 2], [0, 0, 1, 0]  # one mistake: an eel called a cat
    assert compute(y, p, ABC, "weighted_error", class_weights={"eel": 10})["value"] == pytest.approx(10 / 13)
    # weighed by the predicted class instead: the mistake was predicted cat (weight 1) -> 1 / 4
    assert compute(y, p, ABC, "weighted_error", class_weights={"eel": 10}, weight_by="predicted")["value"] == \
        pytest.approx(1 / 4)
    # cats cost 10: weights by prediction 10, 10, 1, 10 -> 10 / 31
    assert compute(y, p, ABC, "weighted_error", class_weights={"cat": 10}, weight_by="predicted")["value"] == \
        pytest.approx(10 / 31)
    assert compute(y, p, ABC, "weighted_error")["value"] == pytest.approx(1 / 4)  # no weights: the plain error


# --- mistakes -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"metric": "auc"}, "unknown --metric 'auc'; choose from: accuracy, error, precision"),
    ({"metric": "f1", "average": "samples"}, "unknown --average 'samples'; choose from: macro, micro, weighted"),
    ({"metric": "weighted_error", "weight_by": "both"}, "unknown --weight-by 'both'"),
    ({"metric": "fbeta", "beta": 0}, "--beta must be a number in (0, inf), got 0"),
    ({"metric": "f1", "positive_label": "dog"}, "--positive-label needs --average binary"),
    ({"metric": "error", "average": "binary"}, "apply to precision, recall, f1 and fbeta"),
    ({"metric": "f1", "average": "binary", "positive_label": "cow"}, "unknown --positive-label 'cow'; classes: cat"),
    ({"metric": "weighted_error", "class_weights": {"cow": 2}}, "unknown class 'cow' in --class-weights; classes:"),
    ({"metric": "weighted_error", "class_weights": {"cat": 0}}, "the weight of class cat must be a finite number > 0"),
    ({"metric": "weighted_error", "class_weights": {"cat": -1.0}}, "must be a finite number > 0"),
])
def test_bad_options_are_user_errors(kwargs, message):
    with pytest.raises(UserError) as e:
        compute(HAND_TRUE, HAND_PRED, ABC, **kwargs)
    assert message in str(e.value)


def test_binary_on_ten_classes_needs_a_positive_label():
    y = np.arange(20) % 10
    with pytest.raises(UserError, match=r"--average binary needs a positive class with 10 classes: add "
                                        r"--positive-label L \(L one of: 0, 1,.*\) or use --average macro"):
        compute(y, y, [str(i) for i in range(10)], "f1", "binary")


def test_class_weights_parse():
    assert parse_class_weights("3=10,5=2") == {"3": 10.0, "5": 2.0}
    assert parse_class_weights(" cat = 2.5 ") == {"cat": 2.5}
    for bad in ("3", "3=ten", "=2", "3=1,3=2", "3=1,", ""):
        with pytest.raises(UserError, match="expected CLASS=WEIGHT pairs separated by commas, e.g. 3=10,5=2"):
            parse_class_weights(bad)


def test_requirements_parse_and_check():
    assert parse_requirement("latency_ms<=5") == ("latency_ms", "<=", 5.0)
    assert parse_requirement("parameters<20000") == ("parameters", "<", 20000.0)
    assert parse_requirement(" f1 >= 0.9 ") == ("f1", ">=", 0.9)
    assert parse_requirement("error>1e-3") == ("error", ">", 0.001)
    for bad in ("latency<=5", "f1=0.9", "f1>=x", "f1=>0.9", "", "f1>=0.9>=1"):
        with pytest.raises(UserError, match="expected NAME<=VALUE .*names: latency_ms, parameters, accuracy"):
            parse_requirement(bad)
    checks = check_requirements({"latency_ms": 0.5, "parameters": 20000, "f1": 0.9},
                                ["latency_ms<=5", "parameters<20000", "f1>=0.9"])
    assert checks == [{"require": "latency_ms<=5", "value": 0.5, "met": True},
                      {"require": "parameters<20000", "value": 20000.0, "met": False},
                      {"require": "f1>=0.9", "value": 0.9, "met": True}]


def test_names_are_checked_before_anything_is_loaded(tmp_path):
    missing = tmp_path / "nothing"  # no run here: the name check has to come first
    for kwargs, message in [({"metric": "auc"}, "unknown --metric 'auc'"),
                            ({"split": "val"}, "unknown --split 'val'; choose from: train, train_dev, dev, test"),
                            ({"average": "samples"}, "unknown --average 'samples'"),
                            ({"requires": ["speed<1"]}, "bad requirement 'speed<1'"),
                            ({"metric": "f1", "class_weights": {"1": 2}}, "--class-weights applies to --metric "
                                                                          "weighted_error")]:
        with pytest.raises(UserError, match=message.replace("(", r"\(")):
            evaluate_run(missing, **kwargs)


def test_importing_evaluate_leaves_torch_sklearn_and_matplotlib_unloaded():
    code = ("import sys, dltool.evaluate, dltool.report; "
            "print(sorted(m for m in ('torch', 'sklearn', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- finding a run --------------------------------------------------------------------------------------------------

def test_find_run_by_name_or_path_and_the_miss_names_the_runs(tmp_path, monkeypatch):
    for name in ("b", "a"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.yaml").write_text("seed: 0\n")
    (tmp_path / "junk").mkdir()  # not a run: no config.yaml, no metrics.json
    assert find_run("a", tmp_path) == tmp_path / "a"
    assert find_run(str(tmp_path / "b"), "elsewhere") == tmp_path / "b"
    with pytest.raises(UserError, match=f"run 'c' not found in {tmp_path}; runs: a, b$"):
        find_run("c", tmp_path)
    with pytest.raises(UserError, match="is not a run folder"):
        find_run("junk", tmp_path)
    with pytest.raises(UserError, match="there are no runs there"):
        find_run("a", tmp_path / "empty")
    with pytest.raises(UserError, match="bad run name"):
        find_run("a b", tmp_path)
    with pytest.raises(UserError, match="no run folder at"):
        find_run(str(tmp_path / "c"), tmp_path)
    monkeypatch.chdir(tmp_path)  # a plain name that is not in runs_dir may be a run folder right here
    assert find_run("b", "runs") == Path("b")


def test_find_run_lists_at_most_ten(tmp_path):
    for i in range(12):
        (tmp_path / f"r{i:02d}").mkdir()
        (tmp_path / f"r{i:02d}" / "metrics.json").write_text("{}")
    with pytest.raises(UserError, match=r"runs: r00, r01, .*, r09 \(2 more\)$"):
        find_run("x", tmp_path)


# --- end to end on a real run ---------------------------------------------------------------------------------------

def trained_run(digits_run):
    """The suite's one short digits run (evaluate only adds files to it) and its metrics."""
    return digits_run, json.loads((digits_run / "metrics.json").read_text())


def copy_run(run_dir, tmp_path, name="copy"):
    target = tmp_path / name
    shutil.copytree(run_dir, target)
    return target


def test_evaluate_a_trained_run(digits_run):
    run_dir, metrics = trained_run(digits_run)
    result = evaluate_run(run_dir, metric="f1")
    n = metrics["splits"]["test"]["n"]
    assert {"run", "split", "metric", "value", "average", "per_class", "confusion_matrix", "latency_ms_per_example",
            "parameters"} <= set(result)  # the README's evaluate --json
    assert result["run"] == "r" and result["split"] == "test" and result["metric"] == "f1" and result["n"] == n
    assert result["average"] == "macro" and 0.5 < result["value"] <= 1 and result["requirements"] == []
    assert sum(map(sum, result["confusion_matrix"])) == n
    assert sum(m["support"] for m in result["per_class"].values()) == n
    assert list(result["per_class"]) == [str(i) for i in range(10)]
    # timings are finite and positive; which is faster is bench/'s to measure, not a test's (shared machines)
    assert 0 < result["latency_ms_per_example_batched"] < 100 and 0 < result["latency_ms_per_example"] < 100
    assert result["parameters"] == 64 * 100 + 100 + 100 * 100 + 100 + 100 * 10 + 10  # the default MLP [100, 100]
    assert json.loads((run_dir / "eval-test.json").read_text()) == result
    assert (run_dir / "confusion-test.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader((run_dir / "predictions-test.csv").read_text().splitlines()))
    assert len(rows) == n and list(rows[0]) == ["index", "correct", "true", "predicted", "confidence"]
    assert all(0.1 <= float(r["confidence"]) <= 1 for r in rows)  # max of 10 softmax probabilities
    # the same best checkpoint that training reported on: the same test accuracy
    csv_accuracy = sum(r["true"] == r["predicted"] for r in rows) / n
    accuracy = evaluate_run(run_dir, metric="accuracy")["value"]
    assert accuracy == pytest.approx(csv_accuracy, abs=1e-12)
    assert accuracy == pytest.approx(1 - metrics["splits"]["test"]["error"], abs=1e-12)


def test_evaluate_other_splits_and_requirements(digits_run):
    run_dir, metrics = trained_run(digits_run)
    result = evaluate_run(run_dir, metric="error", split="dev",
                          requires=["parameters<=1", "latency_ms<=1000", "f1>=0", "error<=1"])
    assert result["value"] == pytest.approx(metrics["splits"]["dev"]["error"], abs=1e-12)
    assert result["average"] == "none" and (run_dir / "eval-dev.json").is_file()
    assert [c["met"] for c in result["requirements"]] == [False, True, True, True]
    assert result["requirements"][0]["value"] == result["parameters"]
    assert result["requirements"][3]["value"] == result["value"]
    weighted = evaluate_run(run_dir, metric="weighted_error", split="dev", class_weights={"8": 10})
    assert weighted["average"] == "none"
    # by hand from the predictions it wrote: each example weighs 10 when its true class is 8, else 1
    rows = list(csv.DictReader((run_dir / "predictions-dev.csv").read_text().splitlines()))
    w = [10 if r["true"] == "8" else 1 for r in rows]
    wrong = sum(wi for wi, r in zip(w, rows) if r["true"] != r["predicted"])
    assert weighted["value"] == pytest.approx(wrong / sum(w), abs=1e-12)
    assert any(r["true"] == "8" and r["predicted"] != "8" for r in rows)  # else the weight changes nothing here
    assert weighted["value"] != pytest.approx(result["value"])


def test_evaluate_scores_the_runs_own_splits_only(digits_run):
    """Overrides that would re-split or regenerate the data (or change the model) are refused; how it runs is not."""
    run_dir, metrics = trained_run(digits_run)
    for override in ("data.split.test=0.5", "seed=1", "model.hidden=[8]", "data.normalize=false",
                     "optimizer.lr=0.1", "trainer.max_epochs=9"):
        with pytest.raises(UserError, match="would change what run is scored: evaluate uses the run's own data"):
            evaluate_run(run_dir, overrides=[override])
    cpu = evaluate_run(run_dir, metric="error", overrides=["trainer.accelerator=cpu", "trainer.threads=1"])
    assert cpu["value"] == pytest.approx(metrics["splits"]["test"]["error"], abs=1e-12)


def test_restore_rebuilds_the_same_module(digits_run):
    import torch

    run_dir, _ = trained_run(digits_run)
    setup, module = restore(run_dir)
    saved = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(module.state_dict()[k], v) for k, v in saved.items())
    assert not module.training


def test_an_empty_split_is_a_user_error(digits_run, tmp_path):
    from omegaconf import OmegaConf

    run_dir = copy_run(digits_run, tmp_path)
    cfg = OmegaConf.load(run_dir / "config.yaml")
    cfg.data.split.train_dev = 0.0
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    with pytest.raises(UserError, match="the train_dev split of run copy has no examples"):
        evaluate_run(run_dir, split="train_dev")
    assert not (run_dir / "eval-train_dev.json").exists()


def test_a_run_without_a_checkpoint_is_a_user_error(digits_run, tmp_path):
    run_dir = copy_run(digits_run, tmp_path)
    (run_dir / "checkpoints" / "best.ckpt").unlink()
    with pytest.raises(UserError, match=r"run copy has no checkpoints/best.ckpt \(status: completed\)"):
        evaluate_run(run_dir)
    as_if_killed(run_dir)
    with pytest.raises(UserError, match=r"\(status: crashed\)"):
        evaluate_run(run_dir)


class Payload:
    """Any class of ours in a pickle is something weights_only=True refuses to rebuild."""


def test_unsafe_or_damaged_checkpoints_are_refused(digits_run, tmp_path):
    import torch

    run_dir = copy_run(digits_run, tmp_path)
    best = run_dir / "checkpoints" / "best.ckpt"
    good = best.read_bytes()
    message = "cannot load checkpoint .*: it is not a safe weights-only checkpoint or is damaged"
    torch.save({"state_dict": Payload()}, best)
    with pytest.raises(UserError, match=message):
        evaluate_run(run_dir)
    best.write_bytes(good[: len(good) // 2])
    with pytest.raises(UserError, match=message):
        evaluate_run(run_dir)
    torch.save({"weights": {}}, best)
    with pytest.raises(UserError, match="it has no state_dict"):
        evaluate_run(run_dir)


def test_a_checkpoint_of_another_model_is_a_user_error(digits_run, tmp_path):
    run_dir = copy_run(digits_run, tmp_path)
    text = (run_dir / "config.yaml").read_text()
    (run_dir / "config.yaml").write_text(text.replace("- 100\n  - 100\n", "- 50\n"))
    with pytest.raises(UserError, match="does not fit the model of"):
        evaluate_run(run_dir)


def test_print_evaluation_shows_the_tables(digits_run, capsys):
    from dltool.report import print_evaluation

    result = evaluate_run(digits_run, metric="f1", requires=["parameters<=1"])
    print_evaluation(result)
    out = capsys.readouterr().out
    assert "f1 (macro average) = " in out and "per class" in out and "confusion matrix" in out
    assert "parameters<=1" in out and "NOT met" in out
