"""Turns docker-compose.yml's app service (and the Dockerfile's final stage) into what it
would run, for scripts/compose-check.sh: the command line, the environment, and the files the
image holds, with the other services' addresses pointed at this machine's.

Reads the output of `docker-compose config` (the file as Compose resolves it) on stdin. Writes
into --root: the image's files as symbolic links to the repository and the built binary
(`fs/`), the command line (`command`) and the environment (`env`), both NUL-separated, and the
working directory inside `fs/` (`workdir`). Nothing is started here.
"""

import argparse
import os
import re
import shlex
import sys
from urllib.parse import urlsplit, urlunsplit

import yaml


def fail(message):
    print(f"compose check: {message}", file=sys.stderr)
    sys.exit(1)


def final_stage(dockerfile):
    """The Dockerfile's last stage: its WORKDIR, ENV and COPY instructions, in order."""
    lines = []
    pending = ""
    for raw in open(dockerfile, encoding="utf-8"):
        line = raw.rstrip("\n")
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line and not line.startswith("#"):
            lines.append(line)
    start = max(i for i, l in enumerate(lines) if l.upper().startswith("FROM "))
    workdir, env, copies = "/", {}, []
    for line in lines[start + 1 :]:
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "WORKDIR":
            workdir = rest.strip()
        elif word == "ENV":
            for part in shlex.split(rest):
                if "=" not in part:
                    fail(f"Dockerfile ENV without '=': {line}")
                key, _, value = part.partition("=")
                env[key] = value
        elif word == "COPY":
            args = shlex.split(rest)
            stage = None
            while args and args[0].startswith("--"):
                flag = args.pop(0)
                if flag.startswith("--from="):
                    stage = flag.split("=", 1)[1]
            if len(args) != 2:
                fail(f"Dockerfile COPY with other than one source: {line}")
            copies.append({"from": stage, "src": args[0], "dest": args[1]})
    return workdir, env, copies


def rewrite_url(value, services, local):
    """A URL whose host is another Compose service, pointed at this machine's equivalent."""
    parts = urlsplit(value)
    if parts.hostname in services and parts.hostname in local:
        return local[parts.hostname](parts)
    return value


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dockerfile", required=True)
    ap.add_argument("--database-url", required=True, help="local database for the db service")
    ap.add_argument("--osrm-url", required=True, help="local osrm-routed for the osrm service")
    ap.add_argument("--port", type=int, required=True, help="free local port for the app")
    ap.add_argument("--terrane-bin", required=True, help="the built terrane binary")
    ap.add_argument("--repo", required=True, help="the repository (the image's build context)")
    ap.add_argument("--root", required=True, help="empty folder to write into")
    args = ap.parse_args()

    config = yaml.safe_load(sys.stdin)
    services = config.get("services") or {}
    app = services.get("app")
    if not app:
        fail("docker-compose.yml has no service named app")

    # Every published port must be on loopback: a demo must never face the network.
    for name, service in services.items():
        for port in service.get("ports") or []:
            host_ip = port.get("host_ip") if isinstance(port, dict) else None
            if host_ip is None and isinstance(port, str):
                host_ip = port.split(":")[0] if port.count(":") >= 2 else None
            if host_ip not in ("127.0.0.1", "::1"):
                fail(f"service {name} publishes {port!r} beyond 127.0.0.1")

    command = app.get("command")
    if isinstance(command, str):
        command = shlex.split(command)
    if not command:
        fail("the app service has no command")

    workdir, image_env, copies = final_stage(args.dockerfile)
    env = dict(image_env)
    compose_env = app.get("environment") or {}
    if isinstance(compose_env, list):
        compose_env = dict(e.split("=", 1) for e in compose_env)
    env.update({k: "" if v is None else str(v) for k, v in compose_env.items()})

    # The container port the app binds, and the loopback port Compose publishes it on.
    bind = env.get("TERRANE_BIND", "")
    m = re.fullmatch(r"(.+):(\d+)", bind)
    if not m:
        fail(f"TERRANE_BIND={bind!r} is not host:port")
    container_port = m.group(2)
    published = None
    for port in app.get("ports") or []:
        text = port if isinstance(port, str) else f"{port.get('host_ip')}:{port.get('published')}:{port.get('target')}"
        parts = text.split("/")[0].split(":")
        if parts[-1] == container_port:
            published = parts[-2]
    if published is None:
        fail(f"the app's port {container_port} is not published")
    env["TERRANE_BIND"] = f"{m.group(1)}:{args.port}"

    db = urlsplit(args.database_url)
    osrm = urlsplit(args.osrm_url)
    local = {
        "db": lambda p: urlunsplit(db),
        "osrm": lambda p: urlunsplit((osrm.scheme, osrm.netloc, p.path, p.query, p.fragment)),
    }
    for key, value in list(env.items()):
        if "://" in value:
            env[key] = rewrite_url(value, services, local)
    # The address users reach: the published loopback port, here the free one.
    public = env.get("TERRANE_PUBLIC_URL")
    if public:
        p = urlsplit(public)
        if str(p.port) == published:
            env["TERRANE_PUBLIC_URL"] = urlunsplit(
                (p.scheme, f"{p.hostname}:{args.port}", p.path, p.query, p.fragment)
            )

    fs = os.path.join(args.root, "fs")
    for copy in copies:
        dest = copy["dest"].rstrip("/")
        if not dest.startswith("/"):
            dest = os.path.join(workdir, dest)
        source = image_source(copy, args)
        if not os.path.exists(source):
            fail(f"the Dockerfile copies {copy['src']}, which is not in the repository")
        target = os.path.join(fs, dest.lstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.symlink(source, target)
    os.makedirs(os.path.join(fs, workdir.lstrip("/")), exist_ok=True)
    with open(os.path.join(args.root, "command"), "w", encoding="utf-8") as f:
        f.write("\0".join(command) + "\0")
    with open(os.path.join(args.root, "env"), "w", encoding="utf-8") as f:
        f.write("".join(f"{k}={v}\0" for k, v in sorted(env.items())))
    with open(os.path.join(args.root, "workdir"), "w", encoding="utf-8") as f:
        f.write(os.path.join(fs, workdir.lstrip("/")))


def image_source(copy, args):
    """Where a COPY of the final stage takes its file from, on this machine: the build
    context (the repository), the web stage's npm packages (installed in the repository's
    web/), or the build stage's binary (the one built here)."""
    src = copy["src"].rstrip("/")
    stage = copy["from"]
    if stage is None:
        return os.path.join(args.repo, src)
    if stage == "build" and os.path.basename(src) == "terrane" and "/target/" in src:
        return args.terrane_bin
    if stage == "web" and src.startswith("/app/"):
        return os.path.join(args.repo, src[len("/app/") :])
    fail(f"no local equivalent for COPY --from={stage} {src}")

if __name__ == "__main__":
    main()
