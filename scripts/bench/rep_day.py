"""Times a rep's day planned through the HTTP API (issue 16 benchmark): signs in as each demo
rep through the demo sign-in form, then asks POST /api/routes/reps/{rep}/days/{day}/replan
(always planned, never the stored plan) for every rep on several workdays, sequentially.

    python3 scripts/bench/rep_day.py http://127.0.0.1:18091 EMAIL... [--days N]

Prints one JSON line per request and a summary (p50, p95, max, stops per day)."""

import http.cookiejar
import json
import re
import statistics
import sys
import time
import urllib.parse
import urllib.request
from datetime import date, timedelta


def session(base, email):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    html = opener.open(f"{base}/login").read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    body = urllib.parse.urlencode({"csrf": csrf, "email": email}).encode()
    opener.open(urllib.request.Request(f"{base}/auth/demo", data=body))
    page = opener.open(f"{base}/").read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    rep = json.loads(opener.open(f"{base}/api/accounts?limit=1").read())
    return opener, csrf, rep


def workdays(n):
    d, out = date.today(), []
    while len(out) < n:
        d += timedelta(days=1)
        if d.weekday() < 5:
            out.append(d.isoformat())
    return out


def main():
    base, rest = sys.argv[1], sys.argv[2:]
    days = 5
    if "--days" in rest:
        i = rest.index("--days")
        days = int(rest[i + 1])
        del rest[i : i + 2]
    reps = rest
    timings, stops = [], []
    for email, rep_id in (r.split("=") for r in reps):
        opener, csrf, _ = session(base, email)
        for day in workdays(days):
            req = urllib.request.Request(
                f"{base}/api/routes/reps/{rep_id}/days/{day}/replan",
                data=b"{}",
                headers={"content-type": "application/json", "x-csrf-token": csrf},
            )
            t = time.perf_counter()
            plan = json.loads(opener.open(req).read())
            ms = (time.perf_counter() - t) * 1000
            timings.append(ms)
            stops.append(plan["totals"]["stops"])
            print(json.dumps({"rep": email, "day": day, "ms": round(ms, 1),
                              "stops": plan["totals"]["stops"], "dropped": len(plan["dropped"]),
                              "travel": plan["travel_source"],
                              "saved_percent": plan["comparison"]["saved_percent"]}))
    timings.sort()
    p95 = timings[min(len(timings) - 1, int(round(0.95 * len(timings))) - 1)]
    print(json.dumps({"requests": len(timings), "p50_ms": round(statistics.median(timings), 1),
                      "p95_ms": round(p95, 1), "max_ms": round(timings[-1], 1),
                      "stops_mean": round(statistics.mean(stops), 1), "stops_max": max(stops)}))


if __name__ == "__main__":
    main()
