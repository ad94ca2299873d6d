"""``run_study(opts)``: the tune command from its options to its summary: plan, open the storage, work (in this
process or in worker processes), and finish; each way a study can stop is one line that says how to resume it."""

from __future__ import annotations

from contextlib import nullcontext

from dltool import cache
from dltool.errors import Interrupted, UserError, WriteError
from dltool.tune.liveness import ask_lock, sweep
from dltool.tune.plan import check_trial_config, grid_points, plan
from dltool.tune.results import finish, write_trials_csv
from dltool.tune.storage import hide, open_study, root_cause, safe_url, storage_failure, warn_network
from dltool.tune.trials import work
from dltool.tune.workers import run_workers, start_workers


def run_study(opts) -> dict:
    """Run (or resume) the study that ``opts`` (TuneOptions) describes; return the ``tune --json`` summary.

    Worker processes (``--workers K``: K - 1 beside this one) start first, to import and plan while this process
    does; they are stopped if it cannot start the study. Working alone, it reuses the data of its check in its
    trials and the winner's retrain (dltool.cache); with workers, it keeps its trials' data only while it works
    beside them (dltool.tune.trials.work), so that the winner's retrain starts afresh (on a GPU, a copy of the data
    would stay there)."""
    workers = start_workers(opts) if isinstance(opts.workers, int) and opts.workers > 1 else None
    try:
        with cache.reuse() if workers is None else nullcontext():
            return _run_study(opts, workers)
    except BaseException:
        if workers is not None:
            workers.cancel()
        raise


def _run_study(opts, workers) -> dict:
    from dltool.runs import check_runs_dir

    p = plan(opts)
    check_runs_dir(p.opts.runs_dir)
    check_trial_config(p)
    created = not p.study_dir.exists()
    try:
        p.study_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WriteError(f"cannot create study folder {p.study_dir}: {e.strerror}") from e
    warn_network(p.storage_url)
    try:
        study = open_study(p)
    except UserError:
        if created:  # a storage that cannot be opened leaves no study folder behind
            import shutil

            shutil.rmtree(p.study_dir)
        raise
    if p.opts.sampler == "grid" and not study.get_trials(deepcopy=False):
        for point in grid_points(p.space, p.opts.grid_points):  # the grid lives in the storage: resumable, shared
            study.enqueue_trial(point)
    try:
        if opts.workers == 1:
            work(p, study)
        else:
            run_workers(p, study, workers)
    except (Interrupted, KeyboardInterrupt) as e:  # Ctrl-C between trials too, not only inside one
        sweep(study)  # a worker stopped before it could tell its trial's end leaves no trial RUNNING
        write_trials_csv(p, study)  # what finished is on record; the same command resumes
        raise Interrupted(f"study {p.study_name} interrupted; run the same command to resume it") from e
    except WriteError:  # the machine refused a trial's write: every later trial would fail the same way
        _on_record(p, study)
        raise
    except Exception as e:
        if not storage_failure(e):
            raise
        raise UserError(f"the storage of study {p.study_name} ({safe_url(p.storage_url)}) failed: "
                        f"{hide(root_cause(e), p.storage_url)}; "
                        "finished trials are kept: run the same command to resume once it works") from e
    with ask_lock(p.study_dir):  # workers finishing together retrain the winner once and write whole files
        return finish(p, study)


def _on_record(p, study) -> None:
    """Re-queue the stopped trial and write trials.csv, where the machine still allows it; the same command does both
    on resume in any case."""
    for step in (sweep, lambda s: write_trials_csv(p, s)):
        try:
            step(study)
        except Exception:  # a full disk: the storage or the folder may refuse this too
            pass
