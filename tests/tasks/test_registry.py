from __future__ import annotations

import pytest

from dltool.config import compose, group_options
from dltool.errors import UserError
from dltool.tasks import TASKS, task_arguments, task_class


def test_every_task_module_has_its_config_and_its_config_its_module():
    """conf/task/<name>.yaml mirrors dltool/tasks/<name>.py, and the module's TASK is named after it."""
    assert group_options("task") == sorted(TASKS)
    for name in TASKS:
        assert task_class(name).name == name == compose([f"task={name}"]).task.name


def test_unknown_tasks_and_task_arguments_are_one_line():
    with pytest.raises(UserError, match="unknown task 'segmentt'; choose from: classify"):
        compose(["task=segmentt"])
    with pytest.raises(UserError, match="unknown task 'nope'; choose from: classify"):
        task_class("nope")
    with pytest.raises(UserError, match="unknown key 'task.smoothing': nothing reads it; valid keys of task: name"):
        compose(["+task.smoothing=0.1"])
    with pytest.raises(UserError, match="task classify has no argument smoothing; valid: none"):
        task_arguments("classify", {"smoothing": 0.1})


def test_a_model_that_cannot_serve_the_task_is_one_line_naming_those_that_can(monkeypatch):
    """The registry records the tasks each model serves; build refuses a pairing that does not fit."""
    import dltool.models as models
    from dltool.train import build

    models.model_names()  # registers every family
    monkeypatch.setitem(models._TASKS, "gru", ("segment",))  # as a net that only segments would be registered
    with pytest.raises(UserError, match=r"model gru does not serve task=classify; models that do: alexnet, cnn, cnn_paper, "
                                        r"gru_paper, inception"):
        build(compose(["model=gru", "data=digits"]))


def test_a_run_says_which_task_it_learned(tmp_path):
    import json

    from dltool.train import train

    result = train(compose(["data=digits", "trainer.max_epochs=1"]), runs_dir=tmp_path, name="r", progress=False)
    assert result["task"] == "classify" == json.loads((tmp_path / "r" / "metrics.json").read_text())["task"]


def test_every_task_has_its_figures_in_trains_table():
    """dltool train's table shows each task's own figures beside error (perplexity for lm, AUC for verify, ...)."""
    from dltool.report_runs import FIGURES

    assert set(FIGURES) == set(TASKS)


def test_diagnose_knows_which_tasks_dltool_errors_serves():
    from dltool.remedies import SHEET_TASKS

    assert set(SHEET_TASKS) == {name for name in TASKS if task_class(name).mistakes is not None}
