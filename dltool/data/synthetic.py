"""Random inputs of any shape, labelled by a fixed random linear teacher (the class with the largest score): data of
any size without a download, for throughput benchmarks and smoke tests. A linear model can reach zero error."""

from __future__ import annotations

import numpy as np

from dltool.data import Pools
from dltool.errors import UserError, check_number


def load(cfg) -> Pools:
    shape = list(cfg.shape) if cfg.shape is not None else []
    if not 1 <= len(shape) <= 3:
        raise UserError(f"data.shape must list 1 to 3 sizes, e.g. [40] or [3,32,32], got {shape}")
    for size in shape:
        check_number(size, "data.shape sizes", low=1, integer=True)
    n = check_number(cfg.n, "data.n", low=20, integer=True)
    k = check_number(cfg.classes, "data.classes", low=2, integer=True)
    rng = np.random.default_rng(check_number(cfg.seed, "data.seed", low=0, integer=True))
    x = rng.standard_normal((n, *shape), dtype=np.float32)
    teacher = rng.standard_normal((int(np.prod(shape)), k), dtype=np.float32)
    y = (x.reshape(n, -1) @ teacher).argmax(axis=1)
    return Pools(x, y, [str(c) for c in range(k)])
