#!/usr/bin/env python3
"""The layering rules of docs/ARCHITECTURE.md, checked on the workspace as it is.

Fails (exit 1, one line per breach) when:
- a package other than `hsm-config` depends on `cryptoki` (the HSM is reached through one crate);
- `ra-portal` depends on `hsm-config`, or `hsm-config` on `ca`, directly or through another
  package (normal dependencies: what ships);
- SQL (a query string or an sqlx query function) appears outside a `storage` module;
- with `--cycles` (as `make lint` runs it): two top-level modules of one crate import each
  other, directly or in a circle (`crate::a` paths in non-test code; modules nested inside a
  top-level one are not told apart).

Run from the repository root: `scripts/check-architecture.py [--cycles]` (cargo on PATH).
"""
import collections
import json
import os
import re
import subprocess
import sys

FORBIDDEN_PATHS = [("ra-portal", "hsm-config"), ("hsm-config", "ca")]
SQL = re.compile(
    r"\bsqlx::(query|raw_sql)|\bquery_(as|scalar)(_with)?\s*(::<|\()|"
    r"\"\s*(SELECT|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX)|ALTER\s+TABLE)\b",
    re.IGNORECASE,
)


def metadata():
    out = subprocess.run(
        # Declared dependencies only: no resolution, so the lock file is neither needed nor
        # touched; the rules are about the workspace's own packages.
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


def dependency_rules(meta):
    breaches = []
    members = {p["id"]: p for p in meta["packages"] if p["id"] in meta["workspace_members"]}
    for p in members.values():
        if p["name"] != "hsm-config":
            for d in p["dependencies"]:
                if d["name"] == "cryptoki":
                    kind = d["kind"] or "normal"
                    breaches.append(f"{p['name']} depends on cryptoki ({kind}): only hsm-config may")
    by_name = {p["name"]: p for p in members.values()}

    def normal_closure(start):
        """Workspace packages `start` depends on (normal and build), directly or not."""
        seen, todo = set(), [start]
        while todo:
            for d in by_name[todo.pop()]["dependencies"]:
                if d["kind"] in (None, "build") and d["name"] in by_name and d["name"] not in seen:
                    seen.add(d["name"])
                    todo.append(d["name"])
        return seen

    for src, dst in FORBIDDEN_PATHS:
        if src in by_name and dst in normal_closure(src):
            breaches.append(f"{src} depends on {dst}")
    return breaches, members


def crate_sources(members):
    for p in members.values():
        src = os.path.join(os.path.dirname(p["manifest_path"]), "src")
        if os.path.isdir(src):
            yield p["name"], src


def non_test_text(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    # Unit tests sit at the end of a file, after `#[cfg(test)]`; comments (docs included) name
    # paths without importing them.
    cut = text.find("#[cfg(test)]")
    code = text if cut < 0 else text[:cut]
    return "\n".join("" if line.lstrip().startswith("//") else line for line in code.splitlines())


def rust_files(src):
    for dirpath, _, files in os.walk(src):
        for f in sorted(files):
            if f.endswith(".rs"):
                yield os.path.join(dirpath, f)


def sql_rule(members):
    breaches = []
    for name, src in crate_sources(members):
        for path in rust_files(src):
            rel = os.path.relpath(path, src)
            if "storage" in rel.split(os.sep)[:-1] or os.path.basename(path) == "storage.rs":
                continue
            for n, line in enumerate(non_test_text(path).splitlines(), 1):
                if SQL.search(line):
                    breaches.append(f"{name}: SQL outside a storage module: {os.path.relpath(path)}:{n}")
    return breaches


def module_cycles(members):
    breaches = []
    for name, src in crate_sources(members):
        edges = collections.defaultdict(set)
        for path in rust_files(src):
            top = os.path.relpath(path, src).split(os.sep)[0].removesuffix(".rs")
            if top in ("lib", "main"):
                continue
            text = non_test_text(path)
            for target in re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", text):
                if target != top:
                    edges[top].add(target)
            for group in re.findall(r"use\s+crate::\{(.*?)\};", text, re.S):
                depth, item = 0, ""
                for ch in group + ",":
                    if ch == "{":
                        depth += 1
                    elif ch == "}":
                        depth -= 1
                    if ch == "," and depth == 0:
                        head = item.strip().split("::")[0].strip()
                        if head and head not in ("self", top) and re.fullmatch(r"[a-z_][a-z0-9_]*", head):
                            edges[top].add(head)
                        item = ""
                    else:
                        item += ch
        for component in strongly_connected(edges):
            breaches.append(f"{name}: modules import each other: {', '.join(sorted(component))}")
    return breaches


def strongly_connected(edges):
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in list(edges):
        if v not in index:
            visit(v)
    return found


def main():
    meta = metadata()
    breaches, members = dependency_rules(meta)
    breaches += sql_rule(members)
    if "--cycles" in sys.argv[1:]:
        breaches += module_cycles(members)
    for b in breaches:
        print(f"architecture: {b}", file=sys.stderr)
    if breaches:
        print(f"architecture: {len(breaches)} breach(es) of docs/ARCHITECTURE.md's rules", file=sys.stderr)
        return 1
    print(f"architecture: {len(members)} packages follow the layering rules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
