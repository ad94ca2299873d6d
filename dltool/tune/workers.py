"""``--workers K``: K worker processes of this machine on one storage, each with its share of the cores."""

from __future__ import annotations

import sys

from dltool.errors import Interrupted, UserError, WriteError
from dltool.tune.liveness import WRITE_REFUSED
from dltool.tune.plan import Plan, TuneOptions, plan
from dltool.tune.storage import open_study
from dltool.tune.trials import work

INTERRUPTED_CODE, USER_ERROR_CODE, WRITE_REFUSED_CODE = 130, 2, 75  # 75: EX_TEMPFAIL, try again later


def run_workers(p: Plan, study) -> None:
    """Start the workers and wait for them; ``study`` (the parent's) names the write that stopped them, if one did."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=worker_main, args=(p.opts, i), daemon=False) for i in range(p.opts.workers)]
    for proc in procs:
        proc.start()
    try:
        for proc in procs:
            proc.join()
    except KeyboardInterrupt:
        for proc in procs:
            proc.terminate()  # SIGTERM: each worker marks its running trial failed, to be re-queued on resume
        for proc in procs:
            proc.join()
        raise  # run_study says that the study was interrupted
    failed = {i: proc.exitcode for i, proc in enumerate(procs) if proc.exitcode not in (0, None)}
    stopped = ", ".join(f"{i} (exit code {code})" for i, code in failed.items())
    if len(failed) == len(procs):
        if WRITE_REFUSED_CODE in failed.values():
            raise WriteError(f"study {p.study_name} stopped: {_refused(study)}; free space (or fix permissions) "
                             "and run the same command to resume")
        raise UserError(f"every worker of study {p.study_name} stopped with an error: {stopped}")
    if failed:  # the others took over its trial and waited for the study to end: it is complete
        sys.stderr.write(f"dltool: warning: worker {stopped} of study {p.study_name} stopped early; the others "
                         "re-ran its trial and finished the study\n")


def _refused(study) -> str:
    """The latest write the machine refused a trial, as its worker recorded it."""
    reasons = [t.user_attrs.get("fail_reason") or "" for t in study.get_trials(deepcopy=False)]
    refused = [r.removeprefix(f"{WRITE_REFUSED}: ") for r in reasons if r.startswith(WRITE_REFUSED)]
    return refused[-1] if refused else "a worker could not write"


def worker_main(opts: TuneOptions, index: int) -> None:
    """A worker process: rebuild the plan, open the shared study, work. The parent speaks for a worker stopped by
    Ctrl-C or by a refused write (once, not once per worker)."""
    try:
        p = plan(opts)
        work(p, open_study(p), worker=index)
    except (Interrupted, KeyboardInterrupt):
        sys.exit(INTERRUPTED_CODE)
    except WriteError:
        sys.exit(WRITE_REFUSED_CODE)
    except UserError as e:
        sys.stderr.write(f"dltool: error: worker {index}: {e}\n")
        sys.exit(USER_ERROR_CODE)
