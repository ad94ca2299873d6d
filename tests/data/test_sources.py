from __future__ import annotations

import hashlib

import pytest

from dltool.config import compose
from dltool.data import check_sources, load_data
from dltool.data.sources import describe
from dltool.errors import UserError

NEED = "evaluate needs the data the run was trained on"


def test_describe_is_the_absolute_path_digest_and_size(tmp_path, monkeypatch):
    path = tmp_path / "flowers.csv"
    path.write_bytes(b"a,label\n1,x\n2,y\n")
    monkeypatch.chdir(tmp_path)
    blocks = []
    assert describe("flowers.csv", blocks.append) == {
        "path": str(path), "sha256": hashlib.sha256(b"a,label\n1,x\n2,y\n").hexdigest(), "bytes": 16}
    assert b"".join(blocks) == path.read_bytes()


def test_the_same_files_pass(tmp_path):
    path = tmp_path / "flowers.csv"
    path.write_text("a,label\n1,x\n2,y\n")
    check_sources({"path": describe(path)}, {"path": describe(path)})


@pytest.mark.parametrize("current", [{}, {"path": {"path": "/anything.csv", "sha256": "00", "bytes": 1}}])
def test_a_run_from_before_sources_or_with_generated_data_passes(current):
    check_sources({}, current)


def test_a_changed_file_names_both_digests_and_sizes(tmp_path):
    path = tmp_path / "flowers.csv"
    before = b"a,label\n" + b"".join(b"%d,x\n" % i for i in range(500))
    path.write_bytes(before)
    saved = {"path": describe(path)}
    after = before[:1870]
    path.write_bytes(after)
    then, now = hashlib.sha256(before).hexdigest(), hashlib.sha256(after).hexdigest()
    with pytest.raises(UserError) as e:
        check_sources(saved, {"path": describe(path)})
    assert str(e.value) == (f"data file {path} changed since training (sha256 {then[:4]}... then, {now[:4]}... now; "
                            f"{len(before):,} bytes then, 1,870 now): {NEED}")
    assert len(before) > 1000 and "\n" not in str(e.value)


def test_an_edit_that_keeps_the_size_is_a_change(tmp_path):
    path = tmp_path / "flowers.csv"
    path.write_text("a,label\n1,x\n2,y\n")
    saved = {"path": describe(path)}
    path.write_text("a,label\n1,y\n2,x\n")
    with pytest.raises(UserError, match=r"changed since training .* 16 bytes then, 16 now\)"):
        check_sources(saved, {"path": describe(path)})


def test_another_path_is_named(tmp_path):
    (tmp_path / "a.csv").write_text("a,label\n1,x\n")
    (tmp_path / "b.csv").write_text("a,label\n1,x\n")  # the same bytes: still not the file the run was trained on
    with pytest.raises(UserError) as e:
        check_sources({"path": describe(tmp_path / "a.csv")}, {"path": describe(tmp_path / "b.csv")})
    assert str(e.value) == f"data.path is {tmp_path / 'b.csv'} now but was {tmp_path / 'a.csv'} in training: {NEED}"


def test_a_file_given_or_dropped_since_training_is_named(tmp_path):
    (tmp_path / "a.csv").write_text("a,label\n1,x\n")
    (tmp_path / "t.csv").write_text("a,label\n2,y\n")
    source, target = describe(tmp_path / "a.csv"), describe(tmp_path / "t.csv")
    with pytest.raises(UserError, match=rf"trained with data.target_path={tmp_path / 't.csv'}, which is not given now"):
        check_sources({"path": source, "target_path": target}, {"path": source})
    with pytest.raises(UserError, match=rf"data.target_path={tmp_path / 't.csv'} was not part of the run's data"):
        check_sources({"path": source}, {"path": source, "target_path": target})


@pytest.mark.parametrize("overrides", [["data=digits"], ["data=synthetic", "data.shape=[4]", "data.n=100"]])
def test_generated_data_has_no_sources(overrides):
    assert load_data(compose(overrides).data, seed=0).sources == {}
