"""What a peer of the territory benchmark leaves for `terrane-territory-bench report`:
<folder>/<name>.csv (one territory per account, in points.csv order) and <name>.json (the
run's seconds and this process's peak memory)."""

import json
import resource


def write_peer(folder: str, name: str, labels, secs: float) -> None:
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    with open(f"{folder}/{name}.csv", "w") as f:
        f.write("territory\n")
        f.writelines(f"{int(t)}\n" for t in labels)
    with open(f"{folder}/{name}.json", "w") as f:
        json.dump({"secs": secs, "peak_mib": peak_mib}, f)
