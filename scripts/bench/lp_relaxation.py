#!/usr/bin/env python3
"""Reference for the territory benchmark's compactness figures (docs/benchmarks.md): how
compact a workload-balanced plan can be made by capacity-constrained Lloyd iterations whose
assignment step is solved exactly as a linear program (accounts may be split between
territories, no contiguity), each territory's workload within +-tolerance of the mean.

Usage: lp_relaxation.py <dir> <territories> [tolerance=0.05] [iterations=25]
Reads <dir>/points.csv (x_m, y_m, workload) written by `terrane-territory-bench gen`.
Starts from the best of three plain k-means runs (k-means++, Lloyd) and prints, per
iteration, the MSD relative to the benchmark's own plain k-means (<dir>/assign-kmeans.csv,
written by `terrane-territory-bench report`; without it, relative to the start). Needs numpy and scipy (the benchmark's k-means-constrained venv
has both). Not a lower bound of the best plan: it is a local optimum of the relaxation from
one start, without the contiguity Terrane requires.

It also writes the relaxation's plan rounded to whole accounts (each to the territory holding
its largest share) as <dir>/peer-lp-relaxation.csv (+ .json), so that a later
`terrane-territory-bench report --dir <dir>` evaluates it like the peers: workload deviation,
MSD and, above all, how many pieces its territories fall into.
"""
import csv
import time
import sys

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from peer_output import write_peer


def kmeans(x: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(len(x))]]
    for _ in range(k - 1):
        d2 = np.min(((x[:, None] - np.array(centres)[None]) ** 2).sum(-1), 1)
        centres.append(x[rng.choice(len(x), p=d2 / d2.sum())])
    c = np.array(centres)
    for _ in range(200):
        labels = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)
        moved = np.array([x[labels == j].mean(0) if (labels == j).any() else c[j] for j in range(k)])
        if np.allclose(moved, c):
            break
        c = moved
    return c, labels


def msd(x: np.ndarray, labels: np.ndarray, k: int) -> float:
    return sum(((x[labels == j] - x[labels == j].mean(0)) ** 2).sum() for j in range(k) if (labels == j).any()) / len(x)


def main() -> None:
    folder, k = sys.argv[1], int(sys.argv[2])
    tol = float(sys.argv[3]) if len(sys.argv) > 3 else 0.05
    iterations = int(sys.argv[4]) if len(sys.argv) > 4 else 25
    with open(f"{folder}/points.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    x = np.array([[float(r["x_m"]) / 1000.0, float(r["y_m"]) / 1000.0] for r in rows])
    w = np.array([float(r["workload"]) for r in rows])
    n, target = len(x), w.sum() / k
    started = time.perf_counter()
    c, labels = min((kmeans(x, k, s) for s in range(3)), key=lambda r: msd(x, r[1], k))
    base = msd(x, labels, k)
    try:
        with open(f"{folder}/assign-kmeans.csv") as f:
            bench = np.array([int(v) for v in f.read().split()[1:]])
        base = msd(x, bench, k)
    except FileNotFoundError:
        pass
    one_each = sp.kron(sp.eye(n), np.ones((1, k))).tocsr()
    workload = sp.kron(w[None, :], sp.eye(k)).tocsr()
    bounds = np.r_[np.full(k, (1 + tol) * target), np.full(k, -(1 - tol) * target)]
    for it in range(iterations):
        cost = ((x[:, None] - c[None]) ** 2).sum(-1).ravel()
        res = linprog(cost, A_ub=sp.vstack([workload, -workload]), b_ub=bounds,
                      A_eq=one_each, b_eq=np.ones(n), bounds=(0, 1), method="highs")
        share = res.x.reshape(n, k)
        moved = (share.T @ x) / share.sum(0)[:, None]
        relaxed = sum((share[:, j] * ((x - moved[j]) ** 2).sum(1)).sum() for j in range(k)) / n
        split = int((share.max(1) < 0.999).sum())
        print(f"iteration {it}: MSD {100 * (relaxed / base - 1):+.1f}% over k-means, {split} accounts split", flush=True)
        if np.allclose(moved, c, atol=1e-4):
            break
        c = moved
    secs = time.perf_counter() - started
    write_peer(folder, "peer-lp-relaxation", share.argmax(1), secs)


if __name__ == "__main__":
    main()
