from __future__ import annotations

import numpy as np
import pytest

from dltool.config import compose
from dltool.data import load_data
from dltool.errors import UserError
from tests.conftest import separable_csv


def load(path, *extra):
    return load_data(compose(["data=csv", f"data.path={path}", "data.target=label", *extra]).data, seed=0)


def test_string_labels_become_sorted_classes(csv_file):
    data = load(csv_file(separable_csv()))
    assert data.classes == ["cat", "dog", "eel"]
    assert data.input_shape == (2,)
    assert sum(len(y) for _, y in data.splits.values()) == 120
    x, y = data.splits["train"]
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
    sizes = {k: len(v[1]) for k, v in data.splits.items()}
    assert sizes == {"train": 108 + 20, "train_dev": 12, "dev": 30, "test": 30}


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "has no data rows"),
        ("a,b,label\n", "has no data rows"),
        ("a,b,kind\n1,2,x\n", "target column 'label' is not in .*; columns: a, b, kind"),
        ("a,b,label\n1,2,x\n3,y\n", "line 3 has 2 fields, the header has 3"),
        ("a,b,label\n1,2,x\n3,oops,y\n", "line 3, column 'b': 'oops' is not a number"),
        ("a,b,label\n1,2,x\n3,4,\n", "line 3: the target column 'label' is empty"),
        ("a,b,label\n1,2,x\n3,4,x\n", "only one class"),
        ("a,b,label\n1,nan,x\n3,4,y\n", "non-finite"),
    ],
)
def test_malformed_tables_are_user_errors(csv_file, text, message):
    with pytest.raises(UserError, match=message):
        load(csv_file(text))


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="data file not found"):
        load(tmp_path / "nope.csv")
