"""``dltool tune``: course 2's hyperparameter search, driven through Optuna's ask-and-tell interface.

Each trial is a real ``dltool train`` run (in ``runs/<study>/trials/``) whose dev error Optuna minimizes; its epochs
report dev error so that a pruner can stop it early. Stages run one after another in one study, each later stage on a
box narrowed around the best trials so far (dltool.search.narrow). Test error is measured once, for the winner, in
``runs/<study>/best-trial-<n>/``. The study lives in its storage (SQLite ``runs/<study>/study.db`` by default), so
running the same command again resumes it, and workers started on the same storage share it.

The modules, each importing only those before it:

- ``liveness``: heartbeats, the sweep of dead and stopped trials, the budget, the ask lock;
- ``plan``: the options, checked, the base config, a trial's values as a config and as a command, sampler, pruner;
- ``storage``: opening the study's storage, the file system under it, URLs with their credentials hidden;
- ``trials``: one worker's ask, train, tell loop;
- ``workers``: ``--workers K`` processes (this one and K - 1 spawned);
- ``plots`` and ``results``: the winner's retrain, trials.csv, best.yaml, the plots, the summary;
- ``study``: ``run_study``, all of it from the options to the summary.
"""

from dltool.tune.plan import Plan, TuneOptions, plan, trial_seed
from dltool.tune.results import finish
from dltool.tune.storage import file_system, open_study, safe_url
from dltool.tune.study import run_study
from dltool.tune.trials import work

__all__ = ["Plan", "TuneOptions", "file_system", "finish", "open_study", "plan", "run_study", "safe_url", "trial_seed",
           "work"]
