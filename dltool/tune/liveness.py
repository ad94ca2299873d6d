"""Which trials are alive: heartbeats, the sweep that fails the trials of dead workers and re-queues stopped trials,
the budget they leave, and the lock under which the workers of one machine count and ask.

A trial ends FAIL "by itself" (its configuration diverged or was refused) or because it was stopped: interrupted
(Ctrl-C, SIGTERM), killed (its worker died), or refused a write by the machine (a full disk). A stopped trial does not
count against --trials and runs again once with the same parameters (``sweep``)."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

HEARTBEAT = 30.0  # default seconds between a running trial's signs of life
STALE_BEATS = 4  # a running trial whose worker missed this many heartbeats in a row is failed and re-queued
UNTAGGED_GRACE = 2.0  # seconds a running trial may go without its worker's record: tagging follows the ask at once
BUDGET_STATES = ("COMPLETE", "PRUNED", "RUNNING", "FAIL")  # WAITING (enqueued) trials are run, not counted
INTERRUPTED, KILLED, WRITE_REFUSED = "interrupted", "killed", "write refused"  # how a stopped trial's reason starts


def worker_record(heartbeat: float) -> dict:
    """What a worker writes on the trial it asked for: where it runs, and how often it beats."""
    import os

    return {"host": socket.gethostname(), "pid": os.getpid(), "heartbeat": heartbeat, "beat": time.time()}


@contextmanager
def heartbeat(trial, interval: float):
    """While the block runs, a thread writes the time into the trial every ``interval`` seconds: the sign of life by
    which workers on other machines tell a slow trial from one whose worker died (``sweep``). Optuna's own heartbeat
    serves only ``Study.optimize`` on RDB storages; this one works with ask-and-tell on every storage."""
    import optuna

    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            try:
                trial.set_user_attr("beat", time.time())
            except optuna.exceptions.UpdateFinishedTrialError:
                return  # another worker failed this trial as stale; its own tell will say so
            except Exception:
                continue  # a busy or briefly unreachable database: the next beat tries again

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial.number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _dead(t, host: str, now: float) -> str | None:
    """Why running trial ``t`` is dead, or None while it lives.

    Its worker is gone when its process no longer exists on this machine (SIGKILL, a crash), or, on any machine, when
    the trial has not beaten for ``STALE_BEATS`` of its heartbeat intervals (a power cut, a lost network). A trial
    with no worker record was asked by a worker that died before it could write one (tagging follows the ask by
    milliseconds, and local workers ask and sweep under one lock): it is dead after ``UNTAGGED_GRACE`` seconds, not
    after 4 heartbeats. Clocks of the machines must agree to well within these times, as NTP keeps them."""
    from dltool.runs import pid_alive

    started = t.datetime_start.timestamp() if t.datetime_start else now
    worker = t.user_attrs.get("worker")
    if not worker:
        age = now - started
        return f"{KILLED}: its worker died between asking for it and starting it" if age > UNTAGGED_GRACE else None
    silent = now - max(worker.get("beat", started), t.user_attrs.get("beat", started))
    if worker.get("host") == host and not pid_alive(worker.get("pid")):
        return f"{KILLED}: its worker (pid {worker.get('pid')}) died"
    if silent > STALE_BEATS * worker.get("heartbeat", HEARTBEAT):
        return f"{KILLED}: no heartbeat from {worker.get('host')} for {silent:.0f} s"
    return None


def sweep(study) -> list:
    """Fail the running trials whose worker is gone and re-queue stopped trials; return the study's trials."""
    import optuna

    host, now = socket.gethostname(), time.time()
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        reason = _dead(t, host, now)
        if reason is None:
            continue
        try:  # the reason goes on the trial before it fails: a finished trial takes no more attributes
            study._storage.set_trial_user_attr(t._trial_id, "fail_reason", reason)
            study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # it finished meanwhile, or another worker failed it first
    trials = study.get_trials(deepcopy=False)
    waiting = stopped(trials) - {t.user_attrs.get("requeued_from") for t in trials}
    again = [t for t in trials if t.number in waiting]
    for t in again:  # once, with the same parameters
        study.enqueue_trial(t.params, user_attrs={"requeued_from": t.number})
    return study.get_trials(deepcopy=False) if again else trials


def stopped(trials) -> set[int]:
    """Trials that failed because they were stopped (Ctrl-C, SIGTERM, a dead worker, a write the machine refused),
    not because of themselves."""
    return {t.number for t in trials if t.state.name == "FAIL"
            and (t.user_attrs.get("fail_reason") or "").startswith((INTERRUPTED, KILLED, WRITE_REFUSED))}


def budget_used(trials) -> int:
    """Trials that count towards --trials: all but the stopped ones (they are re-queued)."""
    done = stopped(trials)
    return sum(1 for t in trials if t.state.name in BUDGET_STATES and t.number not in done)


@contextmanager
def ask_lock(study_dir: Path):
    """An exclusive lock on ``study_dir/.ask.lock`` (workers on other machines share only the storage, not this)."""
    import fcntl

    with open(study_dir / ".ask.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
