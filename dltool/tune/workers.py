"""``--workers K``: K worker processes of this machine on one storage, each with its share of the cores.

A worker is a spawned process: a new interpreter that imports torch, Lightning and Optuna and composes the config
itself (4-10 s on a busy 2-core machine, bench/tune_overhead.py). ``start_workers`` starts them first thing, so that
this happens while the parent plans, checks and creates the study; they wait for its go (``run_workers``) before they
open the study. A worker whose study is done leaves at once (``os._exit``): the interpreter's teardown of torch and
the rest took seconds that the study's end waited for."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from dltool.errors import Interrupted, UserError, WriteError
from dltool.tune.liveness import WRITE_REFUSED
from dltool.tune.plan import Plan, TuneOptions, plan
from dltool.tune.storage import open_study
from dltool.tune.trials import work

INTERRUPTED_CODE, USER_ERROR_CODE, WRITE_REFUSED_CODE = 130, 2, 75  # 75: EX_TEMPFAIL, try again later


@dataclass
class Workers:
    """Started worker processes, waiting for ``go``."""

    procs: list
    go: object  # a multiprocessing Event

    def cancel(self) -> None:
        """Stop them (the parent could not start the study; a no-op for workers that have ended)."""
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.join()


def start_workers(opts: TuneOptions) -> Workers:
    """Spawn ``opts.workers`` workers now; each imports and plans, then waits until ``run_workers`` says go."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    go = context.Event()
    procs = [context.Process(target=worker_main, args=(opts, i, go), daemon=False) for i in range(opts.workers)]
    for proc in procs:
        proc.start()
    return Workers(procs, go)


def run_workers(p: Plan, study, workers: Workers | None = None) -> None:
    """Let the workers (started by ``start_workers``, else now) work and wait for them; ``study`` (the parent's)
    names the write that stopped them, if one did."""
    workers = workers or start_workers(p.opts)
    procs = workers.procs
    workers.go.set()
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


def worker_main(opts: TuneOptions, index: int, go=None) -> None:
    """A worker process: rebuild the plan, wait for the parent's ``go`` (an Event; None: at once), open the shared
    study, work. The parent speaks for a worker stopped by Ctrl-C or by a refused write (once, not once per worker),
    and for options it refuses itself (it plans the same options while the workers do)."""
    try:
        try:
            p, refused = plan(opts), None
        except UserError as e:
            p, refused = None, e
        if go is not None:
            go.wait()
        if refused is not None:
            raise refused
        work(p, open_study(p), worker=index)
    except (Interrupted, KeyboardInterrupt):
        sys.exit(INTERRUPTED_CODE)
    except WriteError:
        sys.exit(WRITE_REFUSED_CODE)
    except UserError as e:
        sys.stderr.write(f"dltool: error: worker {index}: {e}\n")
        sys.exit(USER_ERROR_CODE)
    _leave()


def _leave() -> None:
    """End a worker process that has done its work without the interpreter's teardown (every trial is told and
    committed by now). Called in-process (a test, a library caller), it returns."""
    import multiprocessing

    if multiprocessing.parent_process() is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
