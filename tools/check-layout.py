#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks that the tree keeps its shape (README, ARCHITECTURE):

  - every #include edge points down the dependency graph below;
  - a header outside include/ is private to its top-level directory;
  - include/cmp/ holds only the headers of the table below;
  - no C or header file is over 800 lines.

Each file's module comes from its directory (a few files of pool/ and
manager/ form the libraries other modules link: the block server and the
manager client). tests/ and tools/ may include anything, but their files
count for the line limit too. Errors name the file and line; the exit
status is 1 when there is any.

  check-layout.py [SRCDIR]              check the tree (default: this one)
  check-layout.py --graph [SRCDIR]      print the module graph of the
                                        #include lines, then check
  check-layout.py --self-test [SRCDIR]  first prove the checks can fail on
                                        small bad trees, then check SRCDIR
"""
import os
import re
import sys
import tempfile

MAX_LINES = 800

# Module -> the modules it may include (itself always).
ALLOWED = {
    "connector": set(),
    "mgr": {"connector"},                     # manager codec + client
    "manager": {"mgr", "connector"},          # the cmp-manager daemon
    "peer": {"connector"},                    # pool's block server + codec
    "pool": {"peer", "mgr", "connector"},
    "fs": {"pool", "peer", "mgr", "connector"},
    "memserver": {"peer", "mgr", "connector"},
    "libcmp": set(),                          # tools/libcmp/: standalone
}

# include/cmp/ headers and their modules: one per library, no tool's.
PUBLIC = {
    "auth.h": "connector",
    "conn.h": "connector",
    "log.h": "connector",
    "metrics.h": "connector",
    "opts.h": "connector",
    "server.h": "connector",
    "util.h": "connector",
    "wire.h": "connector",
    "mgr.h": "mgr",
    "peer.h": "peer",
    "pool.h": "pool",
    "libcmp.h": "libcmp",
}

# Files whose module is not their directory's.
FILE_MODULE = {
    "manager/proto.c": "mgr",
    "manager/client.c": "mgr",
    "manager/client-query.c": "mgr",
    "manager/client-internal.h": "mgr",
    "pool/peer.c": "peer",
    "pool/peer-internal.h": "peer",
    "pool/peer-loans.c": "peer",
    "pool/peer-move.c": "peer",
    "pool/grants.c": "peer",
    "pool/grants.h": "peer",
    "pool/loans.c": "peer",
    "pool/loans-move.c": "peer",
    "pool/loans-internal.h": "peer",
    "pool/loans.h": "peer",
    "pool/proto_block.c": "peer",
    "pool/proto_block.h": "peer",
}

UNCHECKED = {"tests", "tools"}  # may include anything
GENERATED = {"cmp-config.h"}    # written by meson into the build dir

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def source_files(root):
    """Every .c/.h file, skipping hidden and build directories."""
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and
                         not os.path.isdir(os.path.join(top, d,
                                                        "meson-private")))
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                yield os.path.relpath(os.path.join(top, f), root)


def module_of(rel):
    """The module of a file (path relative to the root), or None."""
    rel = rel.replace(os.sep, "/")
    if rel in FILE_MODULE:
        return FILE_MODULE[rel]
    if rel.startswith("include/cmp/"):
        return PUBLIC.get(rel[len("include/cmp/"):])
    top = rel.split("/", 1)[0]
    return top if top in ALLOWED else None


def resolve(root, rel, quote, name):
    """The included file relative to root, None for a system header."""
    here = os.path.dirname(rel)
    candidates = [os.path.join("include", name)]
    if quote == '"':
        candidates.insert(0, os.path.join(here, name))
    for c in candidates:
        c = os.path.normpath(c)
        if os.path.isfile(os.path.join(root, c)):
            return c
    return None


def check(root, graph=None):
    """Returns the list of error lines for the tree at root."""
    errors = []
    for rel in source_files(root):
        path = os.path.join(root, rel)
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
        n = len(lines) - (1 if lines and lines[-1] == "" else 0)
        if n > MAX_LINES:
            errors.append(f"{rel}: {n} lines, over the {MAX_LINES}-line "
                          "limit: split it")
        top = rel.split(os.sep, 1)[0]
        if top in UNCHECKED:
            continue
        mod = module_of(rel)
        if mod is None:
            errors.append(f"{rel}: in no module (include/cmp/ holds only "
                          f"{', '.join(sorted(PUBLIC))}; see "
                          "tools/check-layout.py)")
            continue
        for no, line in enumerate(lines, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            quote, name = m.groups()
            target = resolve(root, rel, quote, name)
            if target is None:
                if quote == '"' and os.path.basename(name) not in GENERATED:
                    errors.append(f"{rel}:{no}: #include \"{name}\" names "
                                  "no file in the tree")
                continue
            tmod = module_of(target)
            if tmod is None:
                errors.append(f"{rel}:{no}: includes {target}, which is in "
                              "no module")
                continue
            ttop = target.split(os.sep, 1)[0]
            if ttop != "include" and ttop != top:
                errors.append(f"{rel}:{no}: includes {target}, a header "
                              f"private to {ttop}/ (use its public header "
                              "in include/cmp/)")
            if tmod != mod and tmod not in ALLOWED[mod]:
                allowed = ", ".join(sorted(ALLOWED[mod])) or "nothing"
                errors.append(f"{rel}:{no}: {mod} includes {target} "
                              f"({tmod}): {mod} may include {allowed} "
                              "besides itself")
            elif graph is not None and tmod != mod:
                graph.setdefault(mod, set()).add(tmod)
    return errors


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def self_test():
    """Each bad tree must fail with its file and line named."""
    good = {
        "include/cmp/conn.h": "int conn_x(void);\n",
        "include/cmp/pool.h": '#include "cmp/conn.h"\n',
        "connector/conn.c": '#include "cmp/conn.h"\n#include "cmp-config.h"\n',
        "pool/pool-internal.h": '#include "cmp/pool.h"\n',
        "pool/pool.c": '#include <stdio.h>\n#include "pool-internal.h"\n',
        "fs/ops.c": '#include "cmp/pool.h"\n',
        "tests/unit/test-pool.c": '#include "../../pool/pool-internal.h"\n',
    }
    bad = {
        "a wrong-way include": ("connector/conn.c", "#include \"x.h\"\n"
                                "#include \"cmp/pool.h\"\n",
                                "connector/conn.c:2: connector includes "
                                "include/cmp/pool.h (pool)"),
        "another module's private header": (
            "fs/ops.c", "#include \"../pool/pool-internal.h\"\n",
            "fs/ops.c:1: includes pool/pool-internal.h, a header private "
            "to pool/"),
        "a tool's header in include/cmp": (
            "include/cmp/cmpctl.h", "\n",
            "include/cmp/cmpctl.h: in no module"),
        "a missing header": ("pool/pool.c", "#include \"gone.h\"\n",
                             "pool/pool.c:1: #include \"gone.h\" names no "
                             "file"),
        "a long file": ("tests/unit/test-long.c", "x;\n" * (MAX_LINES + 1),
                        f"tests/unit/test-long.c: {MAX_LINES + 1} lines"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for rel, text in good.items():
            write(tmp, rel, text)
        write(tmp, "connector/x.h", "\n")
        errors = check(tmp)
        if errors:
            return [f"self-test: the good tree fails: {e}" for e in errors]
    failures = []
    for what, (rel, text, want) in bad.items():
        with tempfile.TemporaryDirectory() as tmp:
            for r, t in good.items():
                write(tmp, r, t)
            write(tmp, "connector/x.h", "\n")
            write(tmp, rel, text)
            errors = check(tmp)
            if not any(e.startswith(want) for e in errors):
                failures.append(f"self-test: {what} was not caught as "
                                f"'{want}...' (got {errors})")
    return failures


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    root = args[0] if args else os.path.join(os.path.dirname(__file__), "..")
    root = os.path.abspath(root)
    errors = []
    if "--self-test" in argv:
        errors += self_test()
        if not errors:
            print("check-layout: self-test: every bad tree was caught")
    graph = {} if "--graph" in argv else None
    errors += check(root, graph)
    if graph is not None:
        for mod in ALLOWED:
            print(f"{mod} -> {', '.join(sorted(graph.get(mod, []))) or '-'}")
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"check-layout: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    print(f"check-layout: {root}: includes point one way, no file over "
          f"{MAX_LINES} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
