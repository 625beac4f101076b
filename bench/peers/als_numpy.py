#!/usr/bin/env python3
"""Peer for `npx fusionrank bench learn`: one or more iterations of
straightforward implicit ALS in numpy (exact per-row solves, the reference of
scripts/fixtures/learn_als.py), timed on the bench's own interactions.

Usage: als_numpy.py <interactions.bin> <n_users> <n_items> <factors> <reg> <alpha> <iterations> <threads>
The file holds count uint32 users, count uint32 items, count float32 weights.
Prints one JSON line: {"seconds": [...per iteration...], "numpy": version}.
"""
import json
import os
import sys
import time

# BLAS threads before numpy loads: the bench gives the peer the same cores as fusionrank.
for var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[var] = sys.argv[8] if len(sys.argv) > 8 else '1'

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'scripts', 'fixtures'))
from learn_als import half_step  # noqa: E402


def rows_from(rows, cols, weights, n_rows):
    order = np.argsort(rows, kind='stable')
    bounds = np.searchsorted(rows[order], np.arange(n_rows + 1))
    c = cols[order].astype(np.int64)
    w = weights[order].astype(np.float64)
    return [(c[bounds[r]:bounds[r + 1]], w[bounds[r]:bounds[r + 1]]) for r in range(n_rows)]


def main():
    path = sys.argv[1]
    n_users, n_items, factors = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    reg, alpha, iterations = float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
    raw = np.fromfile(path, dtype=np.uint8)
    count = raw.size // 12
    users = raw[:4 * count].view(np.uint32)
    items = raw[4 * count:8 * count].view(np.uint32)
    weights = raw[8 * count:].view(np.float32)
    by_user = rows_from(users, items, weights, n_users)
    by_item = rows_from(items, users, weights, n_items)
    rng = np.random.default_rng(7)
    y = rng.normal(0.0, 0.01, (n_items, factors))
    seconds = []
    for _ in range(iterations):
        t = time.perf_counter()
        x = half_step(y, by_user, reg, alpha)
        y = half_step(x, by_item, reg, alpha)
        seconds.append(time.perf_counter() - t)
    print(json.dumps({'seconds': seconds, 'numpy': np.__version__}))


if __name__ == '__main__':
    main()
