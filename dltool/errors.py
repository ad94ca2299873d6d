"""The one exception type for a user's mistake: the CLI prints its message on one line and exits with code 2."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in what the user asked for (bad config value, missing file, unknown name)."""


class WriteError(UserError):
    """dltool could not write a file (a full disk, a folder it may not write): a fault of the machine, not of the
    configuration. A tuning trial that fails with it is re-queued, not counted against the budget."""


class RunFailed(Exception):
    """A run stopped by a fault of the machine, not of its config (a rank of a multi-process run died): one line,
    exit code 1; its folder says ``failed`` and its last checkpoint resumes it."""


class Interrupted(Exception):
    """Training was stopped by Ctrl-C or SIGTERM; its run folder says ``interrupted`` (exit code 130)."""


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none): what a one-line error quotes."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def choices(values) -> str:
    """Format valid choices for an error message: ``a, b, c``."""
    return ", ".join(str(v) for v in values)


def check_number(
    value,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
):
    """Return ``value`` if it is a number in the given range, else raise UserError naming ``name`` and the range.

    >>> check_number(0.5, "model.keep_prob", low=0, high=1, low_open=True)
    0.5
    """
    kind = "an integer" if integer else "a number"
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    ok = ok and not isinstance(value, bool)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low}"
        hi = "" if high is None else f"{high}" + (")" if high_open else "]")
        where = f" in {lo or '(-inf'}, {hi or 'inf)'}" if (low is not None or high is not None) else ""
        raise UserError(f"{name} must be {kind}{where}, got {value!r}")
    return value


def check_bool(value, name: str) -> bool:
    """Return ``value`` if it is true or false, else raise UserError (YAML and overrides give real booleans)."""
    if not isinstance(value, bool):
        raise UserError(f"{name} must be true or false, got {value!r}")
    return value
