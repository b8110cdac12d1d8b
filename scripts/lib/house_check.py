"""The house rules that a compiler does not check, checked over the source (issue 15).

1. One owner per table: every `insert into T`, `update T`, `delete from T` and
   `copy T from` under server/ sits in the owner that docs/architecture.md names for T
   (its "Tables and their owners" list), and every table the migrations create has an owner.
2. No import cycles between sibling modules (a parent and its children may use each other),
   in the library and in each development binary.
3. No product file over MAX_LINES lines, apart from those listed in LONG_FILES with the reason.

Prints each violation and exits 1 when there is one.
"""

import collections
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
SERVER = os.path.join(ROOT, "server")
DEVTOOLS = os.path.join(SERVER, "devtools")
MAX_LINES = 800
# Files allowed over MAX_LINES: data tables and test files, each with its reason.
LONG_FILES = {
}

WRITE_RE = re.compile(
    r"\b(?:insert\s+into|update|delete\s+from|copy)\s+(?:only\s+)?([a-z_][a-z0-9_]*)\b", re.I)
# Words that follow `update` / `insert into` in Rust or SQL without being a table.
NOT_TABLES = {"set", "of", "skip", "nowait", "only", "the", "a", "an", "and", "or", "it", "its",
              "this", "that", "them", "every", "each", "to", "in", "on", "from", "with"}


def rust_files(top):
    for d, _, fs in os.walk(top):
        for f in sorted(fs):
            if f.endswith((".rs", ".sql")):
                yield os.path.join(d, f)


def strip_comments(src):
    # `//` comments and doc comments: prose may say "update the owner".
    return re.sub(r"(?m)//.*$", "", src)


def owners_from_docs():
    text = open(os.path.join(ROOT, "docs", "architecture.md"), encoding="utf-8").read()
    m = re.search(r"## Tables and their owners\n(.*?)(\n## |\Z)", text, re.S)
    if not m:
        sys.exit("docs/architecture.md has no '## Tables and their owners' section")
    owners = {}
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        owner = cells[1].split()[0].strip("`")
        for table in re.findall(r"`([a-z_0-9]+)`", cells[0]):
            owners[table] = owner
    return owners


def migration_tables():
    tables = set()
    for f in rust_files(os.path.join(ROOT, "migrations")):
        src = open(f, encoding="utf-8").read()
        tables |= set(re.findall(r"(?i)create\s+(?:unlogged\s+)?table\s+(?:if\s+not\s+exists\s+)?([a-z_0-9]+)", src))
    return tables


def check_owners(problems):
    owners = owners_from_docs()
    known = migration_tables()
    for t in sorted(known - set(owners)):
        problems.append(f"table {t} has no owner in docs/architecture.md")
    for t, o in sorted(owners.items()):
        if not os.path.exists(os.path.join(ROOT, o)):
            problems.append(f"owner {o} of table {t} does not exist")
    for f in rust_files(SERVER):
        rel = os.path.relpath(f, ROOT)
        src = strip_comments(open(f, encoding="utf-8").read())
        for m in WRITE_RE.finditer(src):
            table = m.group(1).lower()
            if table in NOT_TABLES or table not in known:
                continue
            owner = owners.get(table)
            if owner and not (rel == owner or rel.startswith(owner.rstrip("/") + "/")):
                line = src.count("\n", 0, m.start()) + 1
                problems.append(f"{rel}:{line} writes {table}, whose owner is {owner}")


def module_path(crate_dir, f):
    rel = os.path.relpath(f, crate_dir)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def crate_cycles(crate_dir, skip):
    files = [f for f in rust_files(crate_dir) if f.endswith(".rs")
             and not any(f.startswith(s + os.sep) for s in skip)]
    mods = {module_path(crate_dir, f): f for f in files}
    edges = collections.defaultdict(set)
    use_re = re.compile(r"\b(crate|super)((?:::\w+)+)")
    for m, f in mods.items():
        src = strip_comments(open(f, encoding="utf-8").read())
        is_dir_module = os.path.basename(f) in ("mod.rs", "lib.rs", "main.rs")
        for kind, path in use_re.findall(src):
            base = [] if kind == "crate" else list(m if is_dir_module else m[:-1])
            if kind == "super" and is_dir_module:
                base = list(m[:-1])
            target = base + path.strip(":").split("::")
            while target and tuple(target) not in mods:
                target = target[:-1]
            if tuple(target) != m:
                edges[m].add(tuple(target))
    siblings = collections.defaultdict(set)
    for a, bs in edges.items():
        for b in bs:
            i = 0
            while i < min(len(a), len(b)) and a[i] == b[i]:
                i += 1
            if i < len(a) and i < len(b):
                siblings[a[: i + 1]].add(b[: i + 1])
    # Tarjan's strongly connected components.
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(siblings.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted("::".join(x) for x in comp))

    nodes = set(siblings) | {b for bs in siblings.values() for b in bs}
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def check_cycles(problems):
    crates = [(SERVER, [DEVTOOLS])]
    if os.path.isdir(DEVTOOLS):
        crates += [(os.path.join(DEVTOOLS, d), []) for d in sorted(os.listdir(DEVTOOLS))
                   if os.path.isfile(os.path.join(DEVTOOLS, d, "main.rs"))]
    for crate_dir, skip in crates:
        for comp in crate_cycles(crate_dir, skip):
            rel = os.path.relpath(crate_dir, ROOT)
            problems.append(f"import cycle in {rel}: {' <-> '.join(comp)}")


def check_lengths(problems):
    for f in rust_files(SERVER):
        rel = os.path.relpath(f, ROOT)
        if f.startswith(DEVTOOLS + os.sep) or not f.endswith(".rs"):
            continue
        src = open(f, encoding="utf-8").read()
        # Unit tests at the end of a file don't count: they are read with the code they test.
        src = src.split("\n#[cfg(test)]\nmod tests", 1)[0]
        n = src.count("\n")
        if n > MAX_LINES and rel not in LONG_FILES and not rel.endswith(("/tests.rs",)):
            problems.append(f"{rel} has {n} lines before its tests (over {MAX_LINES}; split it or list it)")


def main():
    problems = []
    check_owners(problems)
    check_cycles(problems)
    check_lengths(problems)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} house rule(s) broken (scripts/lib/house_check.py)")
        return 1
    print("house rules hold: one owner per table, no import cycles, no long product files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
