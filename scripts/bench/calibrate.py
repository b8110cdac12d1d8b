#!/usr/bin/env python3
"""Which synthetic region reproduces the Territories issue's reference figures?

The issue describes its data only as "dense clusters and sparse countryside (for example 70%
of accounts in clusters over a 60 x 60 km area), lognormal workloads" and gives three figures
measured on it, 10,000 accounts -> 20 territories: plain k-means workload deviation 55%,
k-means-constrained workload deviation 11.8% with MSD +19% over plain k-means. This script
sweeps the generator's free parameters (number of towns, their spread, the workloads'
log-sd; 70% clustered over 60 x 60 km, seed 42 as everywhere) and ranks each region by how
far those three figures land from the issue's, with Terrane's figures beside them.

Usage (what scripts/bench/territories.sh --calibrate runs):
  calibrate.py <terrane-territory-bench> <peer python> <work dir>
Prints a Markdown table, closest region first.
"""
import itertools
import os
import subprocess
import sys

TARGET = {"kmeans_dev": 55.0, "peer_dev": 11.8, "peer_msd": 19.0}
CLUSTERS = [4, 8, 12, 20, 30]
SPREADS = [(1.0, 4.0), (2.0, 6.0), (3.0, 8.0), (4.0, 12.0)]
SIGMAS = [0.8, 1.0, 1.2]


def pct(cell: str) -> float:
    return float(cell.strip().rstrip("%").replace("+", ""))


def rows_by_method(report: str) -> dict:
    """The report's Markdown rows, keyed by method: (max workload dev., MSD vs k-means)."""
    out = {}
    for line in report.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 10 or not cells[4].endswith("%"):
            continue
        out[cells[1]] = (pct(cells[4]), pct(cells[7]), cells[8])
    return out


def main() -> None:
    bench, python, work = sys.argv[1], sys.argv[2], sys.argv[3]
    here = os.path.dirname(os.path.abspath(__file__))
    results = []
    for clusters, spread, sigma in itertools.product(CLUSTERS, SPREADS, SIGMAS):
        name = f"c{clusters}-s{spread[0]:g}-{spread[1]:g}-w{sigma:g}"
        folder = os.path.join(work, name)
        subprocess.run(
            [bench, "gen", "--dir", folder, "--accounts", "10000", "--territories", "20",
             "--clusters", str(clusters), "--spread-min-km", str(spread[0]),
             "--spread-max-km", str(spread[1]), "--workload-sigma", str(sigma)],
            check=True, stdout=subprocess.DEVNULL)
        subprocess.run([python, os.path.join(here, "kmeans_constrained.py"), folder, "20"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        report = subprocess.run([bench, "report", "--dir", folder], check=True,
                                capture_output=True, text=True).stdout
        rows = rows_by_method(report)
        kmeans = rows["plain k-means (linfa)"]
        peer = rows["k-means-constrained"]
        ours = rows["terrane balance (fresh)"]
        figures = {"kmeans_dev": kmeans[0], "peer_dev": peer[0], "peer_msd": peer[1]}
        distance = sum(((figures[k] - v) / v) ** 2 for k, v in TARGET.items()) ** 0.5
        results.append((distance, name, figures, ours))
        print(f"{name}: {figures} terrane {ours}", file=sys.stderr, flush=True)
    results.sort(key=lambda r: r[0])
    print("| region (towns, spread km, log-sd) | distance | k-means dev. | peer dev. | peer MSD "
          "| Terrane dev. | Terrane MSD | Terrane contiguous |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| the issue's figures | 0 | {TARGET['kmeans_dev']:.1f}% | {TARGET['peer_dev']:.1f}% "
          f"| +{TARGET['peer_msd']:.1f}% | | | |")
    for distance, name, f, ours in results:
        print(f"| {name} | {distance:.2f} | {f['kmeans_dev']:.1f}% | {f['peer_dev']:.1f}% "
              f"| {f['peer_msd']:+.1f}% | {ours[0]:.1f}% | {ours[1]:+.1f}% | {ours[2]} |")


if __name__ == "__main__":
    main()
