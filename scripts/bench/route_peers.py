#!/usr/bin/env python3
"""Peers for the route benchmark (scripts/bench/routes.sh), run on the same integer instances
as terrane-route-bench, and the markdown tables of docs/benchmarks.md.

  route_peers.py solomon DIR NAME...        one JSON line per instance and peer configuration:
                                            pyvroom at exploration levels 1 and 5, pyvrp 1 s
  route_peers.py table BKS.json FILE...     per-instance table and means from JSON lines
  route_peers.py team TEAM.json [CACHE]     pyvroom on terrane-route-bench's team day, beside
                                            Terrane's plans (VROOM's result kept in CACHE for
                                            the same instance)

Solomon convention (shared/bench/solomon/README.md): cost = round(1000 x Euclidean distance)
as distance and duration, ready times, due dates and service x 1000, the file's vehicle count
and capacity; costs are reported / 1000. Every peer runs on one thread.
"""

import hashlib
import json
import math
import sys
import time
from pathlib import Path

import vroom

PYVRP_SECONDS = 1.0


def read_solomon(path):
    """The VEHICLE row (number, capacity) and the customer rows, depot first, scaled."""
    rows = []
    for line in Path(path).read_text().splitlines():
        fields = line.split()
        try:
            rows.append([float(f) for f in fields])
        except ValueError:
            continue
    rows = [r for r in rows if r]
    vehicles, capacity = (int(v) for v in rows[0])
    customers = rows[1:]
    xy = [(c[1], c[2]) for c in customers]
    matrix = [
        [math.floor(1000 * math.hypot(a[0] - b[0], a[1] - b[1]) + 0.5) for b in xy]
        for a in xy
    ]
    return {
        "vehicles": vehicles,
        "capacity": capacity,
        "xy": xy,
        "demand": [int(c[3]) for c in customers],
        "ready": [round(c[4] * 1000) for c in customers],
        "due": [round(c[5] * 1000) for c in customers],
        "service": [round(c[6] * 1000) for c in customers],
        "matrix": matrix,
    }


def route_cost(matrix, sequence):
    return sum(matrix[a][b] for a, b in zip(sequence, sequence[1:]))


def vroom_solomon(inst, level):
    inp = vroom.Input()
    inp.set_durations_matrix("car", inst["matrix"])
    window = vroom.TimeWindow(inst["ready"][0], inst["due"][0])
    inp.add_vehicle(
        [
            vroom.Vehicle(v + 1, start=0, end=0, capacity=[inst["capacity"]], time_window=window)
            for v in range(inst["vehicles"])
        ]
    )
    inp.add_job(
        [
            vroom.Job(
                i,
                location=i,
                default_service=inst["service"][i],
                delivery=[inst["demand"][i]],
                time_windows=[vroom.TimeWindow(inst["ready"][i], inst["due"][i])],
            )
            for i in range(1, len(inst["xy"]))
        ]
    )
    started = time.perf_counter()
    solution = inp.solve(exploration_level=level, nb_threads=1).to_dict()
    wall = time.perf_counter() - started
    cost = 0
    for route in solution["routes"]:
        cost += route_cost(inst["matrix"], [s["location_index"] for s in route["steps"]])
    return {
        "cost": cost / 1000,
        "vehicles": len(solution["routes"]),
        "feasible": not solution["unassigned"],
        "wall_s": wall,
    }


def pyvrp_solomon(inst, seconds, seed):
    from pyvrp import Model
    from pyvrp.stop import MaxRuntime

    model = Model()
    locations = [model.add_location(x, y) for x, y in inst["xy"]]
    model.add_depot(locations[0], tw_early=inst["ready"][0], tw_late=inst["due"][0])
    model.add_vehicle_type(
        num_available=inst["vehicles"],
        capacity=inst["capacity"],
        tw_early=inst["ready"][0],
        tw_late=inst["due"][0],
    )
    for i in range(1, len(locations)):
        model.add_client(
            locations[i],
            delivery=inst["demand"][i],
            service_duration=inst["service"][i],
            tw_early=inst["ready"][i],
            tw_late=inst["due"][i],
        )
    for a, frm in enumerate(locations):
        for b, to in enumerate(locations):
            model.add_edge(frm, to, distance=inst["matrix"][a][b], duration=inst["matrix"][a][b])
    started = time.perf_counter()
    result = model.solve(stop=MaxRuntime(seconds), seed=seed, display=False)
    wall = time.perf_counter() - started
    return {
        "cost": result.best.distance() / 1000,
        "vehicles": result.best.num_routes(),
        "feasible": result.is_feasible(),
        "wall_s": wall,
    }


def cmd_solomon(directory, names):
    for name in names:
        inst = read_solomon(Path(directory) / f"{name}.txt")
        runs = [
            ("vroom-x1", None, lambda: vroom_solomon(inst, 1)),
            ("vroom-x5", None, lambda: vroom_solomon(inst, 5)),
            ("pyvrp", PYVRP_SECONDS, lambda: pyvrp_solomon(inst, PYVRP_SECONDS, 1)),
        ]
        for solver, budget, run in runs:
            line = {"instance": name, "solver": solver, "seconds_budget": budget}
            line.update(run())
            print(json.dumps(line), flush=True)


def column_name(line):
    if line["solver"] == "terrane":
        return f"terrane {line['seconds_budget']:g} s"
    return {"vroom-x1": "VROOM x1", "vroom-x5": "VROOM x5", "pyvrp": "PyVRP 1 s"}[line["solver"]]


def cmd_table(bks_path, files):
    bks = json.loads(Path(bks_path).read_text())
    results = {}
    columns = []
    for file in files:
        for text in Path(file).read_text().splitlines():
            if not text.strip():
                continue
            line = json.loads(text)
            column = column_name(line)
            if column not in columns:
                columns.append(column)
            results[(line["instance"], column)] = line
    instances = sorted({instance for instance, _ in results})
    print("| instance | BKS (distance) | " + " | ".join(f"{c}: gap, veh, s" for c in columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    gaps = {c: [] for c in columns}
    walls = {c: [] for c in columns}
    vehicles = {c: [] for c in columns}
    infeasible = {c: 0 for c in columns}
    for instance in instances:
        best = bks[f"{instance}_distance"]["best_known_cost"]
        cells = []
        for column in columns:
            line = results.get((instance, column))
            if line is None:
                cells.append("–")
                continue
            walls[column].append(line["wall_s"])
            if not line["feasible"] or line["cost"] is None:
                infeasible[column] += 1
                cells.append(f"infeasible, {line['vehicles']}, {line['wall_s']:.2f}")
                continue
            gap = 100 * (line["cost"] - best) / best
            gaps[column].append(gap)
            vehicles[column].append(line["vehicles"])
            cells.append(f"{gap:+.2f}%, {line['vehicles']}, {line['wall_s']:.2f}")
        print(f"| {instance} | {best:.2f} | " + " | ".join(cells) + " |")
    mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")
    print(
        "| **mean** | | "
        + " | ".join(
            f"**{mean(gaps[c]):+.2f}%**, {mean(vehicles[c]):.2f}, {mean(walls[c]):.2f}"
            + (f" ({infeasible[c]} infeasible)" if infeasible[c] else "")
            for c in columns
        )
        + " |"
    )


def retimed_day(steps, windows_of, shift_end, break_latest):
    """End minus departure of a VROOM route after leaving as late as its waits allow without
    moving any service out of the window it is in (VROOM does not minimise the day)."""
    departure = steps[0]["arrival"]
    end = steps[-1]["arrival"]
    waited = 0
    slack = math.inf
    for step in steps[1:]:
        waited += step.get("waiting_time", 0)
        start = step["arrival"] + step.get("waiting_time", 0)
        if step["type"] == "job":
            latest = min(
                (w[1] for w in windows_of(step["id"]) if w[0] <= start <= w[1]), default=math.inf
            )
        elif step["type"] == "break":
            latest = break_latest
        else:
            latest = shift_end
        slack = min(slack, latest - start + waited)
    return end - departure - min(slack, waited), end - departure


def cmd_team(path, cache=None):
    team = json.loads(Path(path).read_text())
    instance = {k: team[k] for k in ("durations", "distances", "vehicles", "jobs")}
    digest = hashlib.sha256(json.dumps(instance, sort_keys=True).encode()).hexdigest()
    cached = json.loads(Path(cache).read_text()) if cache and Path(cache).exists() else {}
    if cached.get("instance") == digest:
        vroom_row = cached["vroom"]
    else:
        vroom_row = vroom_team(team)
        if cache:
            Path(cache).write_text(json.dumps({"instance": digest, "vroom": vroom_row}))
    print_team(team, vroom_row)


def vroom_team(team):
    """VROOM (exploration level 5, one thread) on the team day, with its days re-timed."""
    durations, distances = team["durations"], team["distances"]
    inp = vroom.Input()
    inp.set_durations_matrix("car", durations)
    for i, v in enumerate(team["vehicles"]):
        rule = v["break"]
        breaks = []
        if rule:
            latest = rule["window"][1] - rule["duration"]
            breaks = [
                vroom.Break(
                    i + 1,
                    time_windows=[vroom.TimeWindow(rule["window"][0], latest)],
                    service=rule["duration"],
                )
            ]
        inp.add_vehicle(
            vroom.Vehicle(
                i + 1,
                start=v["start"],
                end=v["end"],
                time_window=vroom.TimeWindow(*v["shift"]),
                breaks=breaks,
            )
        )
    jobs = team["jobs"]
    for j, job in enumerate(jobs):
        inp.add_job(
            vroom.Job(
                j + 1,
                location=job["location"],
                default_service=job["service"],
                time_windows=[vroom.TimeWindow(a, b) for a, b in job["windows"]],
            )
        )
    started = time.perf_counter()
    solution = inp.solve(exploration_level=5, nb_threads=1).to_dict()
    wall = time.perf_counter() - started
    days, raw_days, drive, distance = [], [], 0, 0
    for route in solution["routes"]:
        v = team["vehicles"][route["vehicle"] - 1]
        steps = route["steps"]
        sequence = [s["location_index"] for s in steps if "location_index" in s]
        drive += route_cost(durations, sequence)
        distance += route_cost(distances, sequence)
        break_latest = v["break"]["window"][1] - v["break"]["duration"] if v["break"] else math.inf
        day, raw = retimed_day(
            steps, lambda job_id: jobs[job_id - 1]["windows"], v["shift"][1], break_latest
        )
        days.append(day)
        raw_days.append(raw)
    vroom_row = {
        "longest_day_s": max(days),
        "total_drive_s": drive,
        "total_distance_m": distance,
        "dropped": len(solution["unassigned"]),
        "vehicles": len(solution["routes"]),
        "wall_s": wall,
        "raw_longest_day_s": max(raw_days),
        "day_lengths_s": days,
    }
    return vroom_row


def print_team(team, vroom_row):
    print(f"Team day: {team['reps']} reps, {team['stops']} stops, seed {team['seed']}, "
          f"budget {team['seconds_budget']:g} s per Terrane plan\n")
    print("| plan | longest day | mean day | total drive | total distance | dropped | reps used | wall |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    hours = lambda s: f"{s / 3600:.2f} h"
    rows = [
        ("Terrane min-max", team["terrane_min_max"]),
        ("Terrane least driving", team["terrane_least_driving"]),
        ("VROOM x5 (1 thread)", vroom_row),
    ]
    for name, row in rows:
        if "longest_day_s" not in row:
            print(f"| {name} | infeasible ({row.get('violations')} violations) | | | | | | |")
            continue
        used = [d for d in row["day_lengths_s"] if d > 0]
        mean_day = sum(used) / len(used) if used else 0
        print(
            f"| {name} | {hours(row['longest_day_s'])} | {hours(mean_day)} | "
            f"{hours(row['total_drive_s'])} | {row['total_distance_m'] / 1000:.1f} km | "
            f"{row['dropped']} | {row['vehicles']} | {row['wall_s']:.2f} s |"
        )
    ours = team["terrane_min_max"]
    if "longest_day_s" in ours:
        shorter = 100 * (1 - ours["longest_day_s"] / vroom_row["longest_day_s"])
        more_drive = 100 * (ours["total_drive_s"] / vroom_row["total_drive_s"] - 1)
        print(
            f"\nTerrane min-max vs VROOM: longest day {shorter:.1f}% shorter, total drive "
            f"{more_drive:+.1f}% (VROOM's days re-timed to leave as late as its waits allow; "
            f"as VROOM reported them its longest day is {hours(vroom_row['raw_longest_day_s'])})."
        )


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "solomon":
        cmd_solomon(args[0], args[1:])
    elif command == "table":
        cmd_table(args[0], args[1:])
    elif command == "team":
        cmd_team(args[0], args[1] if len(args) > 1 else None)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
