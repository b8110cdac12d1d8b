#!/usr/bin/env python3
"""Peer for the territory benchmark: PyPI k-means-constrained (min-cost-flow assignment)
with cluster sizes within +-5% of n/k, on the benchmark's projected points.

Usage: kmeans_constrained.py <dir> <territories>
Reads <dir>/points.csv (x_m, y_m columns); writes <dir>/peer-k-means-constrained.csv (one
territory per line, same order) and <dir>/peer-k-means-constrained.json (secs, peak_mib).
It balances account counts, not workload; the Rust side evaluates it on workload anyway.
"""
import csv
import math
import sys
import time

import numpy as np
from k_means_constrained import KMeansConstrained

from peer_output import write_peer


def main() -> None:
    folder, k = sys.argv[1], int(sys.argv[2])
    with open(f"{folder}/points.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    x = np.array([[float(r["x_m"]) / 1000.0, float(r["y_m"]) / 1000.0] for r in rows])
    n = len(x)
    size_min = math.floor(n / k * 0.95)
    size_max = math.ceil(n / k * 1.05)
    started = time.perf_counter()
    model = KMeansConstrained(
        n_clusters=k, size_min=size_min, size_max=size_max, random_state=42, n_init=1
    )
    labels = model.fit_predict(x)
    secs = time.perf_counter() - started
    write_peer(folder, "peer-k-means-constrained", labels, secs)


if __name__ == "__main__":
    main()
