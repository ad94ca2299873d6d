"""dltool.tune.storage: opening the study, the file system under SQLite, and storage credentials never shown."""

from __future__ import annotations

import pytest

from dltool.errors import UserError
from dltool.tune import run_study
from tests.tune.common import FAST, options

# (URL as given, as shown): every credential form libpq accepts in a URI, worked out by hand
URLS = [
    ("postgresql://me:secret@localhost:5432/db", "postgresql://me:***@localhost:5432/db"),
    ("postgresql://me@localhost/db?password=secret", "postgresql://me@localhost/db?password=***"),
    ("postgresql://me@localhost/db?PassWord=secret&sslmode=require",
     "postgresql://me@localhost/db?PassWord=***&sslmode=require"),
    ("postgresql://me@localhost/db?pass%77ord=secret", "postgresql://me@localhost/db?pass%77ord=***"),
    ("postgresql://me@localhost/db?sslmode=verify-full&sslpassword=k3y&password=s%65cret&application_name=x",
     "postgresql://me@localhost/db?sslmode=verify-full&sslpassword=***&password=***&application_name=x"),
    ("postgresql://me:secret@localhost/db?password=secret2", "postgresql://me:***@localhost/db?password=***"),
    ("postgresql:///db?host=/var/run/postgresql&password=secret",
     "postgresql:///db?host=/var/run/postgresql&password=***"),
    ("postgresql://me:secret@[::1]:5432,other:5433/db", "postgresql://me:***@[::1]:5432,other:5433/db"),
    ("mysql+pymysql://me@localhost/db?passwd=secret", "mysql+pymysql://me@localhost/db?passwd=***"),
    # what parsers split otherwise: unencoded '@', '/', '?', ':' and '&' in a password, a port that is no number
    ("postgresql://me:se@cr/e?t:x@localhost/db", "postgresql://me:***@localhost/db"),
    ("postgresql://me@localhost/db?password=se&cret", "postgresql://me@localhost/db?password=***&***"),
    ("postgresql://me:secret@localhost:notaport/db", "postgresql://me:***@localhost:notaport/db"),
    ("postgresql:me:secret@localhost/db", "postgresql:***"),
    # nothing to hide
    ("postgresql://me@localhost:5432/db?sslmode=require", "postgresql://me@localhost:5432/db?sslmode=require"),
    ("sqlite:////tmp/pass=1/study.db", "sqlite:////tmp/pass=1/study.db"),
    ("journal:/tmp/study.log", "journal:/tmp/study.log"),
    ("nonsense", "nonsense"),
]


@pytest.mark.parametrize("url,shown", URLS)
def test_safe_url_hides_every_credential(url, shown):
    from dltool.tune import safe_url

    assert safe_url(url) == shown


def test_a_driver_message_quoting_a_credential_is_hidden_too():
    from dltool.tune.storage import hide

    url = "postgresql://me:p%40ss@localhost/db?sslpassword=k%33y"
    message = 'invalid token "p%40ss", password "p@ss", key "k%33y" or "k3y" for user me'
    assert hide(message, url) == 'invalid token "***", password "***", key "***" or "***" for user me'


def test_the_cli_never_prints_a_storage_password(tmp_path):
    """Through `tune --json` and the error line, for a server that does not answer (nothing listens on port 1)."""
    from typer.testing import CliRunner

    from dltool.cli import app

    for storage in ("postgresql://me:secret@localhost:1/none",
                    "postgresql://me@localhost:1/none?password=secret&sslpassword=secret2",
                    "postgresql://me@localhost:1/none?sslmode=disable&PASS%57ORD=secret"):
        result = CliRunner().invoke(app, ["tune", *FAST, "search=lr", "--trials", "1", "--runs-dir", str(tmp_path),
                                          "--json", "--storage", storage])
        assert result.exit_code == 2 and result.stdout == ""
        assert result.stderr.startswith("dltool: error: cannot open --storage postgresql://me")
        assert "***" in result.stderr and "secret" not in result.stderr, result.stderr


def test_a_study_of_the_same_name_with_other_settings_is_refused(tmp_path):
    run_study(options(tmp_path, "search=lr", name="x", trials=1))
    with pytest.raises(UserError, match="already exists with other overrides"):
        run_study(options(tmp_path, "search=lr", "optimizer=sgd", name="x", trials=2))


def test_the_file_system_of_a_path_comes_from_the_longest_mount_point(tmp_path):
    from dltool.tune import file_system

    mounts = ("overlay / overlay rw 0 0\n"
              f"server:/export {tmp_path}/shared nfs4 rw 0 0\n"
              f"tmpfs {tmp_path}/shared/tmp tmpfs rw 0 0\n")
    assert file_system(tmp_path / "shared" / "study.db", mounts) == "nfs4"
    assert file_system(tmp_path / "shared" / "tmp" / "study.db", mounts) == "tmpfs"
    assert file_system(tmp_path / "sharedother" / "study.db", mounts) == "overlay"


def test_sqlite_on_a_network_file_system_is_warned_about(tmp_path, monkeypatch, capsys):
    import dltool.tune.storage as storage

    monkeypatch.setattr(storage, "file_system", lambda path, mounts=None: "nfs4")
    run_study(options(tmp_path, "search=lr", name="n", trials=1))
    err = capsys.readouterr().err
    assert "network file system (nfs4)" in err and "--storage postgresql://" in err and "journal:FILE" in err


def test_sqlite_commits_are_synced_at_checkpoints_only(tmp_path):
    """WAL with synchronous=NORMAL on every connection, those opened after the storage too: a commit costs no fsync."""
    import optuna

    from dltool.tune.storage import open_storage

    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    optuna.create_study(storage=storage, study_name="s")
    for _ in range(2):
        with storage.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        storage.engine.dispose()
