"""Learning curves: nested seeded training subsets, the curve as a resumable study, and what it means."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dltool.curve import parse_sizes, verdict
from dltool.data.splits import subset
from dltool.errors import UserError
from tests.conftest import invoke


def test_sizes_parse_ascending_and_mistakes_are_one_line():
    assert parse_sizes("1000,250,500") == [250, 500, 1000]
    for text in ("250", "250,250", "0,10", "a,b", "250,,500"):
        with pytest.raises(UserError, match="bad --sizes"):
            parse_sizes(text)


def test_subsets_are_seeded_nested_and_refuse_more_than_the_split():
    train = {"x": np.arange(100.0).reshape(50, 2), "y": np.arange(50)}
    small, large = subset(train, 10, seed=3), subset(train, 30, seed=3)
    assert len(small["y"]) == 10 and len(large["y"]) == 30
    assert set(small["y"]) < set(large["y"])  # a smaller subset lies inside a larger one
    assert np.array_equal(small["x"][:, 0], 2.0 * small["y"])  # rows stay whole
    assert np.array_equal(subset(train, 10, seed=3)["y"], small["y"]) and \
        not np.array_equal(subset(train, 10, seed=4)["y"], small["y"])
    with pytest.raises(UserError, match="data.split.train_size=51 is more than the 50 examples of the training split"):
        subset(train, 51, seed=0)


def test_the_train_size_key_shrinks_train_only():
    from dltool.config import compose
    from dltool.data import load_data

    full = load_data(compose(["data=digits"]).data, 0)
    part = load_data(compose(["data=digits", "data.split.train_size=100"]).data, 0)
    assert len(part.splits["train"]["y"]) == 100 < len(full.splits["train"]["y"])
    for name in ("train_dev", "dev", "test"):  # the same examples for every point of a curve
        assert np.array_equal(part.splits[name]["x"], full.splits[name]["x"])


def _point(size, train, dev, n=1000):
    return {"size": size, "train_error": train, "train_dev_error": None, "dev_error": dev, "train_n": size,
            "train_dev_n": None, "dev_n": n}


@pytest.mark.parametrize("points,human,kind", [
    # dev falls 0.30 -> 0.20 on 1000 dev examples each: Newcombe's interval of the drop is about [0.06, 0.14]
    ([_point(100, 0.05, 0.30), _point(200, 0.06, 0.20)], 0.01, "more data"),
    # flat dev (0.21 -> 0.20 is noise on 1000), train 0.18 close to dev, far above human 0.01: bias
    ([_point(100, 0.17, 0.21), _point(200, 0.18, 0.20)], 0.01, "bias"),
    # flat dev far above train: variance
    ([_point(100, 0.01, 0.21), _point(200, 0.02, 0.20)], 0.01, "variance"),
    # flat at the human level
    ([_point(100, 0.02, 0.055), _point(200, 0.03, 0.05)], 0.045, "done"),
    ([_point(100, 0.02, None)], 0.01, "unfinished"),
])
def test_the_verdict_reads_the_two_largest_sizes(points, human, kind):
    assert verdict(points, human)["kind"] == kind


def test_a_noisy_drop_is_not_more_data():
    # 0.30 -> 0.20 on 50 dev examples each: the drop's interval contains 0
    points = [_point(100, 0.01, 0.30, n=50), _point(200, 0.02, 0.20, n=50)]
    result = verdict(points, 0.01)
    assert result["kind"] == "variance" and result["dev_drop"][0] < 0 < result["dev_drop"][1]


def test_an_error_that_is_not_a_share_of_examples_needs_a_drop_beyond_the_tolerance():
    flat = [{**_point(100, 0.05, 0.150), "task": "segment"}, {**_point(200, 0.06, 0.145), "task": "segment"}]
    falling = [{**_point(100, 0.05, 0.150), "task": "segment"}, {**_point(200, 0.06, 0.130), "task": "segment"}]
    assert verdict(flat, 0.02)["kind"] == "variance" and verdict(falling, 0.02)["kind"] == "more data"
    # the same 0.005 drop as a share of 100,000 examples each is beyond noise
    many = [{**p, "task": "classify", "dev_n": 100_000} for p in flat]
    assert verdict(many, 0.02)["kind"] == "more data"


def test_a_curve_trains_each_size_once_resumes_and_refuses_other_sizes(tmp_path):
    args = ["curve", "data=digits", "trainer.max_epochs=2", "--sizes", "60,240", "--runs-dir", tmp_path]
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.stderr
    curve = json.loads(result.stdout)
    assert [p["size"] for p in curve["points"]] == [60, 240] and curve["human_error"] == 0.01
    for p in curve["points"]:  # each point is a real run on that many examples, with the same dev split
        metrics = json.loads((tmp_path / "curve-mlp-digits" / "trials" / p["run"].split("/")[-1] / "metrics.json")
                             .read_text())
        assert metrics["splits"]["train"]["n"] == p["size"] and metrics["splits"]["dev"]["error"] == p["dev_error"]
    assert len({p["dev_n"] for p in curve["points"]}) == 1
    assert (tmp_path / "curve-mlp-digits" / "curve.png").stat().st_size > 0
    assert json.loads((tmp_path / "curve-mlp-digits" / "curve.json").read_text())["points"] == curve["points"]
    again = invoke(*args, "--json")  # resumed: nothing left to train, the same curve
    assert again.exit_code == 0 and json.loads(again.stdout)["points"] == curve["points"]
    other = invoke("curve", "data=digits", "--sizes", "60,120", "--runs-dir", tmp_path)
    assert other.exit_code == 2 and "was started with --sizes 60,240" in other.stderr


@pytest.mark.parametrize("args,message", [
    (["--sizes", "60,5000"], "--sizes 60,5000: the training split has 1077 examples; every size must be at most that"),
    (["data.split.train_size=10"], "dltool curve chooses data.split.train_size itself (--sizes)"),
    (["search=lr"], "dltool curve chooses data.split.train_size itself (--sizes) and searches nothing else"),
    (["--sizes", "100"], "bad --sizes '100'"),
])
def test_curve_mistakes_are_one_line(tmp_path, args, message):
    result = invoke("curve", "data=digits", *args, "--runs-dir", tmp_path)
    assert result.exit_code == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # nothing written


def test_without_sizes_a_curve_takes_eighths_of_the_training_split(tmp_path):
    result = invoke("curve", "data=digits", "trainer.max_epochs=1", "--runs-dir", tmp_path, "--json")
    assert result.exit_code == 0, result.stderr
    curve = json.loads(result.stdout)
    assert curve["n_train"] == 1077 and curve["sizes"] == [134, 269, 538, 1077]  # 1077 // 8, // 4, // 2, all
    assert [p["size"] for p in curve["points"]] == curve["sizes"]
