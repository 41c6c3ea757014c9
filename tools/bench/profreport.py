#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The tables of one profile (profile.sh), from perf script's samples.

    perf script -i STEP.data --show-task-events -G \\
        -F comm,pid,tid,ip,sym,dso | profreport.py ROOT DAEMONS [COMM]

ROOT: the harness's pid (this run's processes are its descendants, found
from the fork events); DAEMONS: "PID=NAME,..." the system's daemons;
COMM: the workload's command. Every sample is attributed by its process,
not by its command name: other test runs on this machine run cmpfs,
qsort-inplace and fio too (perf report's --pid filters hist entries after
they are merged across processes, which mixes them).
"""
import re
import sys
from collections import Counter, defaultdict

ROOT = int(sys.argv[1])
DAEMONS = {}
for d in filter(None, sys.argv[2].split(",")):
    pid, _, name = d.partition("=")
    DAEMONS[int(pid)] = name
COMM = sys.argv[3] if len(sys.argv) > 3 else ""
# the machine's CPUs: perf -a samples each at the same rate, idle ones
# too, so a share of all samples is a share of the CPUs' time
NCPU = int(sys.argv[4]) if len(sys.argv) > 4 else 0

FORK = re.compile(r"PERF_RECORD_FORK\((\d+):(\d+)\):\((\d+):(\d+)\)")
SAMPLE = re.compile(r"^\s*(.+?)\s+(-?\d+)/(-?\d+)\s+([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$")

parent = {}  # pid -> parent pid, as of the event being read
memo = {}  # pid -> owner, as of the event being read


def owner(pid):
    """Whose process pid is, now: idle, a daemon's name, this run (a
    descendant of ROOT), a kernel thread, or other."""
    if pid in memo:
        return memo[pid]
    if pid == 0:
        o = "idle"
    elif pid in DAEMONS:
        o = DAEMONS[pid]
    else:
        p, seen = pid, set()
        while p in parent and p not in seen and p != ROOT:
            seen.add(p)
            p = parent[p]
        if p == ROOT:
            o = "this run"
        elif p == 2 or parent.get(pid) == 2:
            o = "kernel thread"
        else:
            o = "other"
    memo[pid] = o
    return o


samples = []  # (pid, tid, comm, dso, sym, owner), in the order they were taken
for line in sys.stdin:
    if "PERF_RECORD_" in line:
        m = FORK.search(line)
        if m and m.group(1) != m.group(3):  # a new process (pids are reused)
            parent[int(m.group(1))] = int(m.group(3))
            memo.clear()
        continue
    m = SAMPLE.match(line)
    if not m:
        continue
    comm, pid, tid, _, sym, dso = m.groups()
    dso = dso.rsplit("/", 1)[-1]
    if sym in ("", "[unknown]"):
        sym = "[unknown]"
    samples.append((int(pid), int(tid), comm, dso, sym, owner(int(pid))))

total = len(samples)
if not total:
    print("\nNo samples.")
    sys.exit(0)
own = [s[5] for s in samples]


def table(title, counter, n, of, note="", cpus=False):
    """The n largest of counter, as shares of of samples; cpus: also as
    CPUs kept busy on average over the step."""
    cpus = cpus and NCPU > 0
    print("\n## %s\n" % title)
    if note:
        print(note + "\n")
    if not of:
        print("(no samples)")
        return
    print("%7s %8s %s %s" % ("share", "samples", " CPUs " if cpus else "", "what"))
    for what, c in counter.most_common(n):
        print("%6.1f%% %8d %s %s" % (100.0 * c / of, c,
                                     "%5.2f " % (NCPU * c / total) if cpus else "", what))


# where the CPUs went, by whose process
cls = Counter()
for o in own:
    cls["this system's daemons" if o in DAEMONS.values() else o] += 1
table("where the CPUs went (all CPUs, %d samples)" % total, cls, 10, total,
      "idle: no task ran; this run: the workload and the harness; other: "
      "other test runs on this machine; kernel thread: kworkers (the loop "
      "device's work among them), ksoftirqd, kswapd, ... CPUs: how many "
      "CPUs it kept busy on average over the step.", cpus=True)
by_comm = Counter("%s [%s]" % (s[2], o) for s, o in zip(samples, own))
table("by command (all CPUs)", by_comm, 20, total, cpus=True)

dsamp = [s for s, o in zip(samples, own) if s[0] in DAEMONS]
nd = len(dsamp)
names = ", ".join("%s (pid %d)" % (n, p) for p, n in DAEMONS.items())
table("the system's daemons, %s: by daemon" % names,
      Counter(DAEMONS[s[0]] for s in dsamp), 10, nd,
      "Shares of the daemons' samples (%d, %.1f%% of all)." % (nd, 100.0 * nd / total))
table("the daemons: by thread", Counter("%s tid %d" % (DAEMONS[s[0]], s[1]) for s in dsamp),
      12, nd, cpus=True)
table("the daemons: symbols, self time (unresolved ones grouped by object)",
      Counter("%-22s %s" % (s[3], s[4]) for s in dsamp), 30, nd)
table("the daemons: by object (DSO)", Counter(s[3] for s in dsamp), 12, nd)

wsamp = [s for s, o in zip(samples, own) if o == "this run"]
nw = len(wsamp)
table("this run's workload processes%s: symbols, self time" % (
    " (%s and the harness)" % COMM if COMM else ""),
      Counter("%-16s %-22s %s" % (s[2], s[3], s[4]) for s in wsamp), 25, nw,
      "Shares of their samples (%d, %.1f%% of all)." % (nw, 100.0 * nw / total))
ksamp = [s for s, o in zip(samples, own) if o == "kernel thread"]
table("kernel threads: symbols, self time",
      Counter("%-16s %s" % (s[2], s[4]) for s in ksamp), 12, len(ksamp),
      "Shares of their samples (%d, %.1f%% of all)." % (len(ksamp), 100.0 * len(ksamp) / total))
table("all CPUs: symbols, self time",
      Counter("%-14s %-16s %-20s %s" % ("[%s]" % o, s[2], s[3], s[4])
              for s, o in zip(samples, own)), 25, total)
