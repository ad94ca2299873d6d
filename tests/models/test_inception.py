from __future__ import annotations

import pytest
import torch

from dltool.errors import UserError
from dltool.models import create_model
from dltool.models.inception import Inception
from tests.models.conftest import of_type


def test_inception_concatenates_its_branches():
    block = Inception(2, 16, c1=4, c3_reduce=6, c3=8, c5_reduce=2, c5=3, pool_proj=5)
    assert block.out_channels == 4 + 8 + 3 + 5
    assert block(torch.randn(2, 16, 7, 7)).shape == (2, 20, 7, 7)  # every branch keeps the size
    assert block.branch3[0].conv.kernel_size == (1, 1) and block.branch5[1].conv.kernel_size == (5, 5)


def test_the_width_multiplier_scales_the_inception_blocks():
    assert of_type(create_model("inception", (40,), 10, width=0.5), Inception)[1].out_channels == 30


def test_bad_arguments():
    with pytest.raises(UserError, match="unknown init 'orthogonal'; choose from: auto, he, xavier, torch"):
        create_model("inception", (40,), 10, init="orthogonal")
