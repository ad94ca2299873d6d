"""Where a study lives: opening its storage (SQLite, PostgreSQL, MySQL, journal file) while other workers may be
creating it, the file system under a SQLite file, the failures of a database mid-study, and URLs with their
credentials hidden: a storage password never reaches a file, a log or the screen."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from urllib.parse import unquote, unquote_plus

from dltool import metrics
from dltool.errors import UserError, first_line
from dltool.tune.plan import Plan, pruner, sampler

OPEN_ATTEMPTS = 6  # tries to open a storage that other workers are creating at the same moment
NETWORK_FILE_SYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs", "lustre", "gpfs",
                        "beegfs", "fuse.sshfs", "fuse.s3fs", "fuse.gcsfuse")
HIDDEN = "***"


def open_study(p: Plan):
    """Create or load the study; a study of the same name with other settings is refused, not silently mixed."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(study_name=p.study_name, storage=open_storage(p.storage_url), direction="minimize",
                                    load_if_exists=True, sampler=sampler(p, p.cfg.seed), pruner=pruner(p))
    except UserError:
        raise
    except Exception as e:  # a database that cannot be reached or read
        raise UserError(f"cannot open the study in {safe_url(p.storage_url)}: {hide(first_line(e), p.storage_url)}") from e
    signature = {"overrides": p.overrides, "config": str(p.opts.config or ""), "search": p.search, "seed": p.cfg.seed,
                 "space": {q.key: [q.scale, q.describe()] for q in p.space}}
    stored = study.user_attrs.get("signature")
    if stored is None:
        study.set_user_attr("signature", signature)
    elif stored != signature:
        raise UserError(f"study '{p.study_name}' already exists with other overrides, search space or seed; "
                        f"resume it with the same command or choose another --name")
    if study.metric_names != [metrics.MONITOR]:  # the objective's name in optuna-dashboard and trials_dataframe
        import warnings

        with warnings.catch_warnings():  # "experimental (supported from v3.2.0)", in Optuna 5.0 still
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([metrics.MONITOR])
    return study


def open_storage(url: str):
    """The Optuna storage of ``url``; tables that other workers are creating at the same moment are waited for."""
    import optuna

    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(url.removeprefix("journal:")))
    if "://" not in url:
        raise UserError(f"bad --storage {safe_url(url)!r}: expected sqlite:///FILE, postgresql://USER@HOST/DB, "
                        "mysql://USER@HOST/DB or journal:FILE")
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    for attempt in range(OPEN_ATTEMPTS):
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
            if url.startswith("sqlite"):
                # write-ahead logging: readers never block the writer, and commits need no fsync (below)
                with storage.engine.connect() as connection:
                    connection.exec_driver_sql("PRAGMA journal_mode=WAL")
                _sync_at_checkpoints(storage.engine)
            return storage
        except Exception as e:
            if attempt + 1 < OPEN_ATTEMPTS and _racing(e):
                time.sleep(0.05 * 2 ** attempt)  # another worker is creating the same tables right now
                continue
            raise UserError(f"cannot open --storage {safe_url(url)}: {hide(first_line(e), url)}") from e


def _sync_at_checkpoints(engine) -> None:
    """``PRAGMA synchronous=NORMAL`` on every connection: in WAL mode a commit is then not fsynced (the WAL is, at
    each checkpoint), which SQLite documents as safe from corruption; a killed process loses nothing, a power cut at
    most the last commits (their trials are RUNNING again, and re-run on resume). A trial makes about 15 commits (its
    attributes, epochs, tell): an fsync each cost 3-8 ms a commit on a busy 2-core machine (bench/tune_overhead.py)."""
    from sqlalchemy import event

    def on_connect(connection, record) -> None:
        connection.execute("PRAGMA synchronous=NORMAL")

    event.listen(engine, "connect", on_connect)
    engine.dispose()  # the connections opened so far go: every later one is made with the setting


def _racing(e: Exception) -> bool:
    """Errors of several workers creating one database at the same moment: they pass when tried again."""
    text = str(e)
    return any(s in text for s in ("UNIQUE constraint failed", "already exists", "database is locked",
                                   "duplicate key value"))


def storage_failure(e: Exception) -> bool:
    """A database that stopped working mid-study (a full disk, a lost server), as Optuna or SQLAlchemy report it."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    return isinstance(e, (optuna.exceptions.StorageInternalError, SQLAlchemyError))


def root_cause(e: BaseException) -> str:
    """The first line of the innermost cause: 'database or disk is full', not a wrapper's advice."""
    while e.__cause__ is not None:
        e = e.__cause__
    return first_line(e)


def warn_network(url: str) -> None:
    """SQLite's locks cannot be trusted on a network file system: say so, and name the storages whose locks hold."""
    if not url.startswith("sqlite:///"):
        return
    path = url.removeprefix("sqlite:///")
    kind = file_system(Path(path))
    if kind in NETWORK_FILE_SYSTEMS:
        sys.stderr.write(f"dltool: warning: {path} is on a network file system ({kind}), where SQLite's locks cannot "
                         "be trusted; for workers on several machines use --storage postgresql://USER@HOST/DB or "
                         "--storage journal:FILE\n")


def file_system(path: Path, mounts: str | None = None) -> str:
    """The type of the file system that holds ``path``, from /proc/mounts (the longest mount point above it)."""
    try:
        mounts = Path("/proc/mounts").read_text() if mounts is None else mounts
    except OSError:
        return ""
    target, best, kind = str(Path(path).resolve()), "", ""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def safe_url(url: str) -> str:
    """The storage URL with every credential hidden (see ``_mask``)."""
    return _mask(url)[0]


def hide(text: str, url: str) -> str:
    """``text`` (a driver's error message) with the credentials of ``url`` hidden, in every spelling the URL gives."""
    for secret in sorted(_mask(url)[1], key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return text


def _mask(url: str) -> tuple[str, set[str]]:
    """(the URL with its credentials replaced by ***, the credentials as written and percent-decoded).

    Credentials are the userinfo password (``user:PASSWORD@host``: from the first ':' to the last '@', so that a
    password with an unencoded '@', '/', '?' or ':' is hidden whole, however a parser would split it) and the value
    of every query parameter whose name, percent-decoded and in any case, contains "pass" (libpq's ``password`` and
    ``sslpassword``, MySQL's ``passwd``), with any '='-less parts after it (an unencoded '&' in the value). Text that
    is not a URL with '://' is kept only when it holds no '@' and no "pass" (a journal:FILE path is kept)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        if url.startswith("journal:") or ("@" not in url and "pass" not in url.lower()):
            return url, set()
        head, _, tail = url.partition(":")
        return f"{head}:{HIDDEN}", {tail} if tail else set()
    secrets = []
    colon, at = rest.find(":"), rest.rfind("@")
    if 0 <= colon < at:
        secrets.append(rest[colon + 1:at])
        rest = rest[:colon + 1] + HIDDEN + rest[at:]
    parts = _split_query(rest)
    out, hiding = parts[:1], False  # the part before the query is kept: a path may hold '=' or "pass"
    for part in parts[1:]:
        if part in ("?", "&"):
            out.append(part)
            continue
        key, eq, value = part.partition("=")
        if eq:
            hiding = "pass" in _decoded(key).lower()
        if hiding and (value or not eq):
            secrets.append(value if eq else part)
            part = f"{key}={HIDDEN}" if eq else HIDDEN
        out.append(part)
    found = {s for s in secrets if s and s != HIDDEN}
    found |= {unquote(s) for s in found} | {unquote_plus(s) for s in found}
    return f"{scheme}://{''.join(out)}", {s for s in found if s}


def _split_query(rest: str) -> list[str]:
    """``host/db?a=1&b=2`` -> ['host/db', '?', 'a=1', '&', 'b=2']: the part before the first '?' and each parameter."""
    head, q, query = rest.partition("?")
    parts = [head]
    if q:
        parts.append("?")
        for i, piece in enumerate(query.split("&")):
            parts += (["&"] if i else []) + [piece]
    return parts


def _decoded(key: str) -> str:
    """A parameter name percent-decoded until it no longer changes (at most a few times), and stripped."""
    for _ in range(4):
        decoded = unquote_plus(key)
        if decoded == key:
            break
        key = decoded
    return key.strip()
