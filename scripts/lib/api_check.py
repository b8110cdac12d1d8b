"""Drives schemathesis against a running Terrane (scripts/api-check.sh): signs in, finds real
ids to aim at, writes a schemathesis configuration, and runs schemathesis once per way of
calling the API (a manager's browser session with its CSRF token, an admin's session, and an
API token). Exits non-zero when any run finds a 5xx or an answer the document does not allow.

Runs in the virtualenv that holds schemathesis (it brings `requests`).
"""

import argparse
import os
import re
import subprocess
import sys
import time

import requests

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)


def fail(message):
    print(f"api check: {message}", file=sys.stderr)
    sys.exit(1)


def csrf_of(html):
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    if not m:
        fail("the page has no CSRF field")
    return m.group(1)


def signed_in(base, email):
    """A session signed in through the demo form, and the CSRF token of its pages."""
    s = requests.Session()
    login = s.get(f"{base}/login", timeout=30)
    r = s.post(
        f"{base}/auth/demo",
        data={"csrf": csrf_of(login.text), "email": email},
        allow_redirects=False,
        timeout=30,
    )
    if r.status_code != 303:
        fail(f"demo sign-in as {email} answered {r.status_code}")
    page = s.get(f"{base}/territories", timeout=30)
    m = re.search(r'data-csrf="([^"]+)"', page.text)
    token = m.group(1) if m else csrf_of(s.get(f"{base}/", timeout=30).text)
    return s, token


def api_token(base, admin):
    """A new API token with every scope, made on the admin's tokens page."""
    page = admin.get(f"{base}/admin/tokens", timeout=30).text
    scopes = re.findall(r'type="checkbox" name="([a-z]+:[a-z]+)"', page)
    if not scopes:
        fail("the tokens page offers no scopes")
    data = {"csrf": csrf_of(page), "name": "api check"}
    data.update({scope: "on" for scope in scopes})
    r = admin.post(f"{base}/admin/tokens", data=data, timeout=30)
    m = re.search(r'id="new-token">(trn_[A-Za-z0-9_]+)<', r.text)
    if r.status_code != 200 or not m:
        fail(f"creating an API token answered {r.status_code}")
    return m.group(1)


def ids(base, session, csrf):
    """Real ids for the operations' parameters: the manager's team and its plans, rules,
    territories and accounts (a draft and a rule are made if the team has none)."""
    h = {"x-csrf-token": csrf}
    teams = session.get(f"{base}/api/teams", timeout=30).json()
    if not teams:
        fail("the manager plans no team")
    team = teams[0]
    r = session.post(
        f"{base}/api/teams/{team['id']}/plans",
        json={"name": "api check draft", "method": "current"},
        headers=h,
        timeout=30,
    )
    if r.status_code != 202:
        fail(f"creating a draft answered {r.status_code}: {r.text[:200]}")
    draft = r.json()["id"]
    for _ in range(120):
        job = session.get(f"{base}/api/plans/{draft}", timeout=30).json()["job"]
        if job["state"] not in ("queued", "running"):
            break
        time.sleep(0.5)
    plans = [p["id"] for p in session.get(f"{base}/api/teams/{team['id']}/plans", timeout=30).json()]
    plan = session.get(f"{base}/api/plans/{draft}", timeout=30).json()
    territories = [t["id"] for t in plan["territories"]]
    accounts = session.get(f"{base}/api/plans/{draft}/accounts", timeout=30).json()["features"]
    account_ids = [f["id"] for f in accounts[:20]]
    rules = session.get(f"{base}/api/teams/{team['id']}/rules", timeout=30).json()
    if not rules:
        r = session.post(
            f"{base}/api/teams/{team['id']}/rules",
            json={"kind": "named", "territory_id": territories[0], "account_ids": account_ids[:2]},
            headers=h,
            timeout=30,
        )
        if r.status_code != 201:
            fail(f"creating a rule answered {r.status_code}: {r.text[:200]}")
        rules = [r.json()]
    return {
        "teams": [team["id"]],
        "plans": plans,
        "territories": territories,
        "accounts": account_ids,
        "rules": [rule["id"] for rule in rules],
    }


def toml_list(values):
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def config(found, max_examples):
    """Real ids most of the time, generated ones sometimes (they must be refused cleanly)."""
    out = [
        f"generation.max-examples = {max_examples}",
        "request-timeout = 30.0",
        "",
    ]
    for name, values in found.items():
        out += [f"[dictionaries.{name}]", f"values = {toml_list(values)}", ""]

    def bind(regex, params):
        nonlocal out
        out += ["[[operations]]", f"include-path-regex = '{regex}'"]
        body = ", ".join(f'"{k}" = {{ dictionary = "{d}", probability = 0.8 }}' for k, d in params)
        out += [f"parameters = {{ {body} }}", ""]

    bind(r"^/api/teams/\{team\}", [("path.team", "teams"), ("body.territory_id", "territories")])
    bind(
        r"^/api/plans/\{id\}",
        [("path.id", "plans"), ("query.against", "plans"), ("body.territory_id", "territories")],
    )
    bind(r"^/api/plans/compare$", [("query.a", "plans"), ("query.b", "plans")])
    bind(r"^/api/rules/\{id\}", [("path.id", "rules"), ("body.territory_id", "territories")])
    bind(r"^/api/accounts/\{id\}", [("path.id", "accounts"), ("body.territory_id", "territories")])
    return "\n".join(out)


def run(schemathesis, url, label, headers, cfg_path, report_dir):
    cmd = [
        schemathesis,
        "--config-file",
        cfg_path,
        "run",
        url,
        "--checks",
        CHECKS,
        "--workers",
        "1",
        "--phases",
        "examples,coverage,fuzzing",
        "--seed",
        "20261207",
        "--generation-deterministic",
        "--report",
        "junit",
        "--report-dir",
        report_dir,
        "--report-junit-path",
        os.path.join(report_dir, f"{label}.xml"),
        "--no-color",
    ]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    print(f"==> schemathesis as {label}", flush=True)
    started = time.monotonic()
    result = subprocess.run(cmd, check=False)
    print(f"    {label}: exit {result.returncode} in {time.monotonic() - started:.0f} s", flush=True)
    return result.returncode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--schemathesis", required=True)
    ap.add_argument("--work", required=True, help="folder for the configuration and reports")
    ap.add_argument("--max-examples", type=int, default=20)
    args = ap.parse_args()

    manager, manager_csrf = signed_in(args.base, "manager.a@example.com")
    admin, admin_csrf = signed_in(args.base, "admin@example.com")
    token = api_token(args.base, admin)
    found = ids(args.base, manager, manager_csrf)
    cfg_path = os.path.join(args.work, "schemathesis.toml")
    with open(cfg_path, "w", encoding="utf-8") as f:
        f.write(config(found, args.max_examples))
    url = f"{args.base}/api/openapi.json"
    cookie = lambda s: "; ".join(f"{c.name}={c.value}" for c in s.cookies)
    runs = [
        ("manager", {"Cookie": cookie(manager), "x-csrf-token": manager_csrf}),
        ("admin", {"Cookie": cookie(admin), "x-csrf-token": admin_csrf}),
        ("api-token", {"Authorization": f"Bearer {token}"}),
    ]
    failed = [label for label, headers in runs if run(args.schemathesis, url, label, headers, cfg_path, args.work) != 0]
    if failed:
        fail(f"schemathesis found problems as: {', '.join(failed)} (reports in {args.work})")
    print("    every operation answered within the document, no 5xx")


if __name__ == "__main__":
    main()
