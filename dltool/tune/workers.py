"""``--workers K``: K workers of this machine on one storage, each with its share of the cores.

The process the user started is worker 0; the other K - 1 are spawned processes: new interpreters that import torch,
Lightning and Optuna and compose the config themselves (4-10 s on a busy 2-core machine, bench/tune_overhead.py),
which worker 0 has done already. ``start_workers`` starts them first thing, so that this happens while the parent
plans, checks and creates the study; they wait for its go (``run_workers``) before they open the study, and worker 0
starts on its trials meanwhile. A spawned worker whose study is done leaves at once (``os._exit``): the
interpreter's teardown of torch and the rest took seconds that the study's end waited for."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from dltool.errors import Interrupted, UserError, WriteError
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
        """Stop them and wait until they have (the parent could not start the study, or stopped, or the study is
        complete); a no-op for workers that have ended."""
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.join()


def start_workers(opts: TuneOptions) -> Workers:
    """Spawn workers 1 to ``opts.workers - 1`` now (this process is worker 0); each imports and plans, then waits
    until ``run_workers`` says go."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    go = context.Event()
    procs = [context.Process(target=worker_main, args=(opts, i, go), daemon=False) for i in range(1, opts.workers)]
    for proc in procs:
        proc.start()
    return Workers(procs, go)


def run_workers(p: Plan, study, workers: Workers | None = None) -> None:
    """Let the spawned workers (started by ``start_workers``, else now) work, work as worker 0 on ``study`` until the
    study is complete, and wait for them. An error of this process's own (Ctrl-C, a refused write, the storage)
    stops them and is raised; a spawned worker that stopped early is a warning: worker 0 re-ran its trial."""
    workers = workers or start_workers(p.opts)
    procs = workers.procs
    workers.go.set()
    try:
        work(p, study, worker=0)  # returns once the study is complete: no trial left to ask, none running
    except BaseException:
        workers.cancel()  # SIGTERM: each worker marks its running trial failed, to be re-queued on resume
        raise  # run_study says how the study stopped
    failed = {i: proc.exitcode for i, proc in enumerate(procs, 1) if proc.exitcode not in (0, None)}
    workers.cancel()  # any still starting up or about to leave have nothing left to do: a short study need not
    # wait for their imports
    if failed:  # worker 0 took over their trials and waited for the study to end: it is complete
        stopped = ", ".join(f"{i} (exit code {code})" for i, code in failed.items())
        sys.stderr.write(f"dltool: warning: worker {stopped} of study {p.study_name} stopped early; the others "
                         "re-ran its trial and finished the study\n")


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
