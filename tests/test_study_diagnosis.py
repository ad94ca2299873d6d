"""dltool diagnose STUDY: every trial's gaps and what bounds it, the stages' trend, the winner's ladder."""

from __future__ import annotations

import json

import pytest

from dltool.errors import UserError
from dltool.study_diagnosis import bound, trend, trial_rows
from tests.conftest import invoke

HEADER = "number,stage,state,dev_error,train_error,train_dev_error,epochs,optimizer.lr,feasible,satisficing,run,fail_reason,seconds\n"


def _sheet(tmp_path, rows: list[str]):
    study = tmp_path / "s"
    study.mkdir()
    (study / "trials.csv").write_text(HEADER + "".join(r + "\n" for r in rows))
    return study


def test_each_trial_gets_its_gaps_and_the_larger_one_bounds_it(tmp_path):
    study = _sheet(tmp_path, [
        # trial 0: train 0.30, train-dev 0.32, dev 0.33 on human 0.05: bias 0.25 > variance 0.02
        "0,coarse,COMPLETE,0.33,0.30,0.32,5,0.001,True,,r0,,1.0",
        # trial 1: train 0.06, train-dev 0.20, dev 0.21: bias 0.01 < variance 0.14
        "1,coarse,COMPLETE,0.21,0.06,0.20,5,0.01,True,,r1,,1.0",
        "2,coarse,FAIL,,,,,0.1,True,,,boom,1.0",  # a failed trial is left out
        # trial 3: without a train-dev split variance is dev - train: 0.055 - 0.05 = 0.005; bias 0.0: fine
        "3,fine,COMPLETE,0.055,0.05,,5,0.02,True,,r3,,1.0",
    ])
    rows = trial_rows(study, human=0.05)
    assert [r["trial"] for r in rows] == [3, 1, 0]  # best dev error first
    by = {r["trial"]: r for r in rows}
    assert by[0]["avoidable_bias"] == pytest.approx(0.25) and by[0]["variance"] == pytest.approx(0.02)
    assert by[0]["bound"] == "bias" and by[1]["bound"] == "variance" and by[3]["bound"] == "fine"
    assert by[3]["variance"] == pytest.approx(0.005)


@pytest.mark.parametrize("bias,variance,expected", [
    (0.10, 0.05, "bias"), (0.05, 0.10, "variance"), (0.05, 0.05, "bias"),  # a tie: bias first, as the recipe
    (0.005, 0.009, "fine"), (None, 0.2, "variance"), (-0.02, 0.02, "variance"),
])
def test_bound(bias, variance, expected):
    assert bound(bias, variance) == expected


def test_the_trend_says_a_fine_stage_traded_bias_for_variance():
    def row(trial, stage, bias, variance):
        return {"trial": trial, "stage": stage, "avoidable_bias": bias, "variance": variance, "dev_error": 0.3}

    rows = [row(0, "coarse", 0.20, 0.05), row(1, "coarse", 0.10, 0.07), row(2, "coarse", 0.30, 0.03),
            row(3, "fine", 0.04, 0.15), row(4, "fine", 0.06, 0.11)]
    stages = trend(rows)
    assert [s["stage"] for s in stages] == ["coarse", "fine"]
    assert stages[0]["median_bias"] == pytest.approx(0.20) and stages[1]["median_bias"] == pytest.approx(0.05)
    assert stages[1]["median_variance"] == pytest.approx(0.13)
    assert stages[0]["change"] == "" and stages[1]["change"] == "traded bias for variance"


def test_a_study_without_finished_trials_is_one_line(tmp_path):
    study = _sheet(tmp_path, ["0,coarse,FAIL,,,,,0.1,True,,,boom,1.0"])
    with pytest.raises(UserError, match="study s has no finished trial to diagnose yet"):
        trial_rows(study, 0.01)
    (study / "trials.csv").unlink()
    (study / "study.db").write_bytes(b"")
    result = invoke("diagnose", study)
    assert result.exit_code == 2 and "study s has no trials.csv yet" in result.stderr


def test_a_real_study_is_diagnosed_trial_by_trial_with_the_winners_ladder(tmp_path):
    tuned = invoke("tune", "search=lr", "data=digits", "trainer.max_epochs=2", "--stages", "coarse:2,fine:1",
                   "--runs-dir", tmp_path, "--json")
    assert tuned.exit_code == 0, tuned.stderr
    result = invoke("diagnose", "lr-digits", "--runs-dir", tmp_path, "--json")
    assert result.exit_code == 0, result.stderr
    d = json.loads(result.stdout)
    assert len(d["trials"]) == 3 and d["human_error"] == 0.01
    for row in d["trials"]:  # the gaps of each trial's own run
        splits = json.loads((tmp_path / "lr-digits" / "trials" / row["run"].split("/")[-1] / "metrics.json")
                            .read_text())["splits"]
        assert row["avoidable_bias"] == pytest.approx(splits["train"]["error"] - 0.01)
        assert row["variance"] == pytest.approx(splits["train_dev"]["error"] - splits["train"]["error"])
    assert [s["stage"] for s in d["stages"]] == ["coarse", "fine"]
    assert d["winner"]["errors"]["test"] is not None and d["winner"]["focus"]
    assert (tmp_path / "lr-digits" / "diagnosis.png").stat().st_size > 0
    assert json.loads((tmp_path / "lr-digits" / "diagnosis.json").read_text())["trials"] == d["trials"]
    typo = invoke("diagnose", "lr-digit", "--runs-dir", tmp_path)  # a miss names the studies too
    assert typo.exit_code == 2 and typo.stderr.strip().endswith("there are no runs there; studies: lr-digits")
    text = invoke("diagnose", tmp_path / "lr-digits")  # a path works as well as a name
    assert text.exit_code == 0 and "bound by bias" in text.stdout and "errors of run best-trial" in text.stdout
