from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import dltool.data.csv as csv_module
from dltool.config import compose
from dltool.data import load_data
from dltool.errors import UserError
from tests.conftest import separable_csv

ROOT = Path(__file__).resolve().parents[2]


def load(path, *extra):
    return load_data(compose(["data=csv", f"data.path={path}", "data.target=label", *extra]).data, seed=0)


def strict_load(path, *extra):
    """load() with every warning an error: a mistake must be the UserError alone, nothing printed before it."""
    cfg = compose(["data=csv", f"data.path={path}", "data.target=label", *extra]).data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            return load_data(cfg, seed=0)


def test_string_labels_become_sorted_classes(csv_file):
    data = load(csv_file(separable_csv()))
    assert data.classes == ["cat", "dog", "eel"]
    assert data.input_shape == (2,)
    assert sum(len(v["y"]) for v in data.splits.values()) == 120
    x, y = data.splits["train"]["x"], data.splits["train"]["y"]
    assert x.dtype == np.float32 and y.dtype == np.int64
    # dog blobs sit at a = 6: the label index and the feature agree after the split
    assert np.all(x[y == 1, 0] > 3) and np.all(x[y != 1, 0] < 3)


def test_integer_labels_sort_numerically(csv_file):
    rows = "\n".join(f"{i},{(i % 3) * 5}" for i in range(30))  # labels 0, 5, 10
    data = load(csv_file("f,label\n" + rows + "\n"))
    assert data.classes == ["0", "5", "10"]


def test_a_second_file_is_the_dev_test_distribution(csv_file):
    source = csv_file(separable_csv(40, seed=0), "source.csv")
    target = csv_file(separable_csv(40, seed=1), "target.csv")
    data = load(source, f"data.target_path={target}", "data.split.dev=0.25", "data.split.test=0.25",
                "data.target_in_train=20")
    sizes = {k: len(v["y"]) for k, v in data.splits.items()}
    assert sizes == {"train": 108 + 20, "train_dev": 12, "dev": 30, "test": 30}


def test_values_read_as_python_reads_them(csv_file):
    """Blanks around a value, signs, bare points, exponents: the float32 of Python's float(); labels are stripped
    strings ("NA" is a label like any other, not a missing value)."""
    values = [" 1.5", "2.25 ", "+.5e-3", "-0", "1.", "7E2", "1e-50", "3.4e38", '" 4 "', "0012"]
    labels = ["NA", " x", "x ", "y", "NA", "y", "x", "y", "NA", "x"]
    text = "a,label\n" + "".join(f"{v},{lab}\n" for v, lab in zip(values, labels))
    table = csv_module.read_table(csv_file(text), "label")
    assert table.x.dtype == np.float32
    assert table.x[:, 0].tolist() == [float(np.float32(float(v.strip('"')))) for v in values]
    assert [table.labels[0][c] for c in table.codes[:, 0]] == [lab.strip() for lab in labels]
    assert load(csv_file(text)).classes == ["NA", "x", "y"]


def test_labels_stay_the_strings_written(csv_file):
    """Labels that read as the same number are still different labels (pandas' categories would merge them)."""
    labels = ["1e-3", "0.001", "007", "7", "7.0", "1e308", "nan", "True"]
    text = "a,label\n" + "".join(f"{i},{label}\n" for i, label in enumerate(labels * 2))
    table = csv_module.read_table(csv_file(text), "label")
    assert [table.labels[0][c] for c in table.codes[:, 0]] == labels * 2
    assert load(csv_file(text)).classes == sorted(labels)


def test_lines_may_end_in_a_lone_carriage_return(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(b"a,b,label\r1,2,x\r3,4,y\r5,6,x\r")
    table = csv_module.read_table(path, "label")
    assert table.x.tolist() == [[1, 2], [3, 4], [5, 6]] and [table.labels[0][c] for c in table.codes[:, 0]] == ["x", "y", "x"]


def test_a_table_read_in_many_chunks_is_the_table(csv_file, monkeypatch):
    """Chunks of two rows: each has its own labels (some with blanks around), yet one class list serves them all."""
    monkeypatch.setattr(csv_module, "CHUNK_VALUES", 6)  # 3 columns: 2 rows a chunk
    rng = np.random.default_rng(0)
    rows = [(round(float(a), 3), i, ["cat", " dog", "eel ", "dog"][i % 4]) for i, a in enumerate(rng.normal(size=41))]
    text = "a,b,label\n" + "".join(f"{a},{b},{lab}\n" for a, b, lab in rows)
    table = csv_module.read_table(csv_file(text), "label")
    assert table.x.shape == (41, 2) and table.x.dtype == np.float32
    assert np.array_equal(table.x, np.array([(a, b) for a, b, _ in rows], dtype=np.float32))
    assert [table.labels[0][c] for c in table.codes[:, 0]] == [lab.strip() for _, _, lab in rows]


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "has no data rows"),
        ("a,b,label\n", "has no data rows"),
        ("\n\na,b,label\n\n", "has no data rows"),
        ("a,b,kind\n1,2,x\n3,4,y\n", "target column 'label' is not in .*; columns: a, b, kind"),
        ("label\nx\ny\n", "has no feature columns besides 'label'"),
        ("a,b,label\n1,2,x\n3,y\n", "line 3 has 2 fields, the header has 3"),
        ("a,b,label\n1,2,x\n3,4,y,5\n", "line 3 has 4 fields, the header has 3"),
        ("a,b,label\n1,2,3,9\n4,5,6\n", "line 2 has 4 fields, the header has 3"),  # not an index column
        ("a,b,label\n1,2,x\n3,oops,y\n", "line 3, column 'b': 'oops' is not a number"),
        ("a,b,label\n1,2,x\n3,,y\n", "line 3, column 'b': '' is not a number"),
        ("a,b,label\n1,2,x\nNA,4,y\n", "line 3, column 'a': 'NA' is not a number"),
        ("a,b,label\n1,2,x\n1_000,4,y\n", "line 3, column 'a': '1_000' is not a number"),
        ("a,b,label\n1,2,x\n\n3,oops,y\n", "line 4, column 'b': 'oops' is not a number"),  # lines as in an editor
        ("a,b,label\n1,2,x\n3,4,\n", "line 3: the target column 'label' is empty"),
        ("a,b,label\n1,2,x\n3,4,  \n", "line 3: the target column 'label' is empty"),
        ("a,b,label\n1,2,x\n3,4,x\n", "only one class"),
    ],
)
def test_malformed_tables_are_user_errors(csv_file, text, message):
    with pytest.raises(UserError, match=message):
        strict_load(csv_file(text))


def test_a_mistake_in_a_later_chunk_names_its_line(csv_file, monkeypatch):
    monkeypatch.setattr(csv_module, "CHUNK_VALUES", 6)
    good = "".join(f"{i},{i},{'xy'[i % 2]}\n" for i in range(20))
    for bad, message in [("3,oops,y\n", "line 22, column 'b': 'oops' is not a number"),
                         ("3,y\n", "line 22 has 2 fields, the header has 3"),
                         ("3,4\n", "line 22 has 2 fields, the header has 3"),
                         ("3,4,\n", "line 22: the target column 'label' is empty"),
                         ("3,1e39,y\n", "line 22, column 'b': 1e39 is too large for float32")]:
        with pytest.raises(UserError, match=message):
            strict_load(csv_file("a,b,label\n" + good + bad + good))


@pytest.mark.parametrize("header,names", [("f0,f1,label,f3,label", "label"), ("a, b,b ,label,a", "a, b")])
def test_duplicate_column_names_are_an_error(csv_file, header, names):
    """pandas would rename the second 'label' to 'label.1' and train on it as a feature: the labels leak."""
    rows = "".join(",".join(str((i * 7 + j) % 5) for j in range(header.count(",") + 1)) + "\n" for i in range(30))
    path = csv_file(header + "\n" + rows)
    with pytest.raises(UserError) as e:
        strict_load(path)
    assert str(e.value) == f"{path} has duplicate column names: {names} (each column needs its own name)"


@pytest.mark.parametrize(
    "value,message",
    [
        ("1e308", "1e308 is too large for float32 (at most 3.4e38)"),
        ("-1e39", "-1e39 is too large for float32 (at most 3.4e38)"),
        ("1e400", "1e400 is too large for float32 (at most 3.4e38)"),
        ("nan", "nan is not a finite number (a feature cannot be nan or inf)"),
        ("-inf", "-inf is not a finite number (a feature cannot be nan or inf)"),
        ("Infinity", "Infinity is not a finite number (a feature cannot be nan or inf)"),
    ],
)
def test_values_a_float32_cannot_hold_are_named_without_warnings(csv_file, capfd, value, message):
    path = csv_file(f"a,b,label\n1,2,x\n3,{value},y\n5,6,x\n")
    with pytest.raises(UserError) as e:
        strict_load(path)
    assert str(e.value) == f"{path} line 3, column 'b': {message}"
    assert capfd.readouterr().err == ""


def test_an_overflow_is_one_line_on_the_real_stderr(tmp_path):
    """Through the real command line: numpy's RuntimeWarning and its source line would show here, before the error."""
    path = tmp_path / "big.csv"
    path.write_text("a,b,label\n1,2,x\n3,1e308,y\n5,6,x\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("DLTOOL_DEBUG", None)
    done = subprocess.run([sys.executable, "-m", "dltool", "train", "data=csv", f"data.path={path}", "data.target=label",
                           "--runs-dir", str(tmp_path / "runs")], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"dltool: error: {path} line 3, column 'b': 1e308 is too large for float32 (at most 3.4e38)\n"
    assert done.stdout == ""


def test_a_file_that_is_not_utf8_names_the_line(csv_file, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"a,b,label\n1,2,x\n3,4,caf\xe9\n")
    with pytest.raises(UserError, match=r"cannot read .*latin1.csv as CSV: line 3 is not UTF-8 text \(byte 0xe9"):
        strict_load(path)


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_name(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfa,label\n1,x\n2,y\n3,x\n4,y\n")
    assert csv_module.read_table(path, "label").features == ["a"]


def test_sources_name_each_file_by_its_config_key(tmp_path, monkeypatch):
    """A relative data.path is read from the current folder and recorded as an absolute path with its digest."""
    (tmp_path / "d").mkdir()
    source, target = tmp_path / "d" / "source.csv", tmp_path / "d" / "target.csv"
    source.write_text(separable_csv(20, seed=0))
    target.write_text(separable_csv(20, seed=1))
    monkeypatch.chdir(tmp_path / "d")
    data = load("source.csv", "data.target_path=target.csv")
    assert data.sources == {
        "path": {"path": str(source), "sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
                 "bytes": len(source.read_bytes())},
        "target_path": {"path": str(target), "sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
                        "bytes": len(target.read_bytes())},
    }
    monkeypatch.chdir(tmp_path)
    assert list(load("d/source.csv").sources) == ["path"]
    assert load("d/../d/source.csv").sources["path"]["path"] == str(source)
    with pytest.raises(UserError, match="data file not found: source.csv"):  # the message names it as typed
        load("source.csv")


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="data file not found"):
        load(tmp_path / "nope.csv")


def several_labels(rows: int = 40, seed: int = 0) -> str:
    """Two features and two 0/1 label columns, some cells empty (unknown)."""
    rng = np.random.default_rng(seed)
    lines = ["f0,car,f1,sign"]
    for _ in range(rows):
        car, sign = rng.integers(0, 2, 2)
        cells = [str(car) if rng.random() > 0.25 else "", str(sign) if rng.random() > 0.25 else ""]
        lines.append(f"{rng.normal():.4f},{cells[0]},{rng.normal():.4f},{cells[1]}")
    return "\n".join(lines) + "\n"


def test_several_label_columns_give_a_row_of_yes_no_unknown_labels(csv_file):
    text = several_labels()
    path = csv_file(text)
    data = load_data(compose(["data=csv", f"data.path={path}", "data.target=[car,sign]"]).data, seed=0)
    assert data.info == {"classes": ["car", "sign"]} and data.input_shape == (2,)
    y = np.concatenate([s["y"] for s in data.splits.values()])
    x = np.concatenate([s["x"] for s in data.splits.values()])
    rows = [line.split(",") for line in text.splitlines()[1:]]
    by_feature = {float(r[0]): [{"1": 1, "0": 0, "": -1}[r[1]], {"1": 1, "0": 0, "": -1}[r[3]]] for r in rows}
    assert sorted(map(tuple, y.tolist())) == sorted(map(tuple, by_feature.values()))
    for features, labels in zip(x, y):  # each row keeps its own labels
        assert by_feature[round(float(features[0]), 4)] == labels.tolist()
    assert (y == -1).any() and set(np.unique(y)) == {-1, 0, 1}


@pytest.mark.parametrize("text,target,message", [
    ("f,a,b\n1,0,1\n2,2,0\n", "[a,b]", r"line 3, label column 'a': '2' is not 0, 1 or empty \(unknown\)"),
    ("f,a,b\n1,,1\n2,,0\n3,,1\n", "[a,b]", r"label column 'a' of .* is empty in every row: nothing to learn for it"),
    ("f,a,b\n1,0,1\n2,1,0\n", "[a,a]", r"data.target must name one label column, or several distinct ones"),
    ("f,a,b\n1,0,1\n2,1,0\n", "[a,c]", r"target column 'c' is not in .*; columns: f, a, b"),
    ("a,b\n0,1\n1,0\n", "[a,b]", r"has no feature columns besides 'a', 'b'"),
])
def test_several_label_columns_mistakes_are_one_line(csv_file, text, target, message):
    path = csv_file(text)
    with pytest.raises(UserError, match=message):
        load_data(compose(["data=csv", f"data.path={path}", f"data.target={target}"]).data, seed=0)


def test_a_multilabel_run_on_a_table_with_unknown_labels(csv_file, tmp_path):
    from dltool.train import train

    path = csv_file(several_labels(rows=200))
    result = train(compose(["task=multilabel", "data=csv", f"data.path={path}", "data.target=[car,sign]",
                            "trainer.max_epochs=2"]), runs_dir=tmp_path, progress=False)
    known = result["splits"]["train"]["per_label"]["car"]["known"]
    assert result["status"] == "completed" and 0 < known < result["splits"]["train"]["n"]
