#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Turn a harness run (results.csv, meta.txt) into report.md and PNG plots.

    report.py OUTDIR

Every ratio is computed inside one round (systems interleaved in that
round) and then summarised as min/median/max over rounds. Ratios are
"cmpfs relative to the peer, > 1 means cmpfs is better": value/value for
throughput and IOPS, peer/cmpfs for latency and time.
"""
import csv
import os
import shutil
import statistics
import subprocess
import sys
from collections import OrderedDict, defaultdict

OUT = sys.argv[1]
CMP = ["cmpfs", "cmpfs-remote", "cmpfs-memsrv", "cmpfs-remote-insecure"]
PEERS = ["tmpfs", "fusefloor", "nbdfuse", "sshfs", "disk"]
FIG10_CMP = ["mapper", "swapper", "mapper-remote", "swapper-remote"]
FIG10_OTHERS = ["diskswap", "zramswap", "nbdswap"]
ORDER = CMP + PEERS + ["tcp", "quiet", "flood", "baseline"] + FIG10_CMP + FIG10_OTHERS
SEALED, INSECURE = "cmpfs-remote", "cmpfs-remote-insecure"
WORKLOADS = OrderedDict([
    ("bulk", "1. Bulk staging (dd bs=1M, cp of a large file in and out)"),
    ("fio", "2. Small direct access (fio psync, one job, random reads, O_DIRECT)"),
    ("remote", "Remote memory against the wire: sealed and insecure frames, one TCP stream"),
    ("flood", "512 B reads of remote blocks while the provider is flooded"),
    ("fig10", "3. CMP Figure 10, scaled (in-place quicksort in a memory cgroup)"),
    ("ext4", "4. ext4 on a loop device over a file (fio 16 KiB, O_DIRECT)"),
    ("mmap", "5. mmap as memory (MAP_SHARED, first touch / rewrite / read)"),
])


def higher_better(metric):
    return any(metric.endswith(s) for s in ("MBps", "iops")) or \
        metric.startswith(("dd_", "cp_", "mmap_"))


def fmt(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1000:
        return "%.0f" % v
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    return "%.2f" % v


def mmm(vals):
    if not vals:
        return None
    return (min(vals), statistics.median(vals), max(vals))


def fmt_mmm(t, suffix=""):
    if not t:
        return "-"
    lo, med, hi = t
    if len(set([lo, hi])) == 1:
        return "%s%s" % (fmt(med), suffix)
    return "%s%s (%s-%s)" % (fmt(med), suffix, fmt(lo), fmt(hi))


# --- load ---------------------------------------------------------------------
rows = list(csv.DictReader(open(os.path.join(OUT, "results.csv"))))
meta = OrderedDict()
if os.path.exists(os.path.join(OUT, "meta.txt")):
    for line in open(os.path.join(OUT, "meta.txt")):
        k, _, v = line.rstrip("\n").partition("\t")
        meta[k] = v

# the tool of the TCP stream beside the remote workload: "iperf3 3.12"
STREAM = meta.get("tcp_stream", "iperf3").split(" (")[0]

# A workload without a title here (a new workloads/NAME.sh) gets the
# generic section under the title the harness wrote, or its name.
for k, v in meta.items():
    if k.startswith("title:") and k[6:] not in WORKLOADS:
        WORKLOADS[k[6:]] = v
for r in rows:
    WORKLOADS.setdefault(r["workload"], r["workload"])

# vals[(wl, sys, metric)][round] = value ; status counts alongside
vals = defaultdict(dict)
status = defaultdict(lambda: defaultdict(int))
units = {}
# the profile pass's figures (taken under perf), beside the profiles
prof_rows = []
if os.path.exists(os.path.join(OUT, "profile.csv")):
    prof_rows = list(csv.DictReader(open(os.path.join(OUT, "profile.csv"))))
for r in rows:
    key = (r["workload"], r["system"], r["metric"])
    units[r["metric"]] = r["unit"]
    status[key][r["status"]] += 1
    if r["status"] == "ok" and r["value"] != "":
        vals[key][int(r["round"])] = float(r["value"])


def systems_of(wl):
    s = {k[1] for k in status if k[0] == wl}
    return [x for x in ORDER if x in s] + sorted(s - set(ORDER))


def metrics_of(wl):
    seen = []
    for r in rows:
        if r["workload"] == wl and r["metric"] not in seen:
            seen.append(r["metric"])
    return seen


def stat(wl, sys_, metric):
    return mmm(list(vals[(wl, sys_, metric)].values()))


def ratio(wl, a, b, metric):
    """min/med/max over rounds of a-relative-to-b (> 1: a better)."""
    va, vb = vals[(wl, a, metric)], vals[(wl, b, metric)]
    rs = []
    for rnd in sorted(set(va) & set(vb)):
        x, y = va[rnd], vb[rnd]
        if higher_better(metric):
            if y > 0:
                rs.append(x / y)
        elif x > 0:
            rs.append(y / x)
    return mmm(rs)


def raw_ratio(wl, a, ma, b, mb):
    """min/med/max over rounds of value(a, ma) / value(b, mb), as is."""
    va, vb = vals[(wl, a, ma)], vals[(wl, b, mb)]
    return mmm([va[r] / vb[r] for r in sorted(set(va) & set(vb)) if vb[r] > 0])


def slowdowns(setup):
    """Figure 10: setup sort time / baseline sort time in the same round."""
    base = vals[("fig10", "baseline", "sort_s")]
    s = vals[("fig10", setup, "sort_s")]
    return {r: s[r] / base[r] for r in set(s) & set(base) if base[r] > 0}


def avail(sys_):
    return meta.get("avail:" + sys_, "not measured")


md = []
P = md.append

P("# cmpfs benchmark report")
P("")
P("Mode: **%s**, rounds: %s. Started %s, took %s s. Host: %s. cmpfs %s." % (
    meta.get("mode", "?"), meta.get("rounds", "?"), meta.get("started", "?"),
    meta.get("duration_s", "?"), meta.get("host", "?"), meta.get("cmpfs", "?")))
P("")
P("Sizes: %s." % meta.get("sizes", "?"))
P("")
P("Versions: %s." % meta.get("versions", "?"))
P("")
if "rounds_done" in meta:
    P("Rounds completed: %s." % meta["rounds_done"])
    P("")
if "budget" in meta:
    P("**Time budget:** %s." % meta["budget"])
    P("")
if "leaks" in meta:
    P("**Left behind after teardown (harness bug):** %s" % meta["leaks"])
    P("")
if "harness_errors" in meta and meta["harness_errors"] != "0":
    P("**Harness errors:** %s (see harness.log)." % meta["harness_errors"])
    P("")
if "warning" in meta:
    P("**Warning:** %s" % meta["warning"])
    P("")
P("Every figure was measured side by side in this run; systems are "
  "interleaved within each round (a different one first each round). Values "
  "are `median (min-max)` over rounds. **Ratios are cmpfs relative to the "
  "peer and > 1 means cmpfs is better** (throughput: cmpfs/peer; latency "
  "and time: peer/cmpfs), each computed within one round. The machine is "
  "shared and noisy: compare within this report only.")
P("")

# --- systems ----------------------------------------------------------------
P("## Systems")
P("")
P("| system | what | status |")
P("| --- | --- | --- |")
for s in CMP + PEERS:
    if "avail:" + s not in meta:
        continue
    P("| %s | %s | %s |" % (s, meta.get("desc:" + s, ""),
                            "available" if avail(s) == "yes" else avail(s)))
P("")

# --- issue 12 -----------------------------------------------------------------
def nrounds(wl, pairs):
    """Rounds in which every (system, metric) of pairs has a value."""
    common = None
    for sys_, m in pairs:
        r = set(vals[(wl, sys_, m)])
        common = r if common is None else common & r
    return len(common or ())


def profile_link(*steps):
    """Links to the profiles of these steps that were taken."""
    out = []
    for st in steps:
        if os.path.exists(os.path.join(OUT, "profiles", st + ".txt")):
            out.append("[%s](profiles/%s.txt)" % (st, st))
    return ", ".join(out) if out else "-"


def plural(n, what):
    return "%d %s%s" % (n, what, "" if n == 1 else "s")


def mbs(v):
    return "%.2f GB/s" % (v / 1000) if v >= 1000 else "%.0f MB/s" % v


def foreign(s_):
    """Runs of Figure 10 set-up s_ with another test run's swap active."""
    return sum(1 for v in vals[("fig10", s_, "foreign_swap")].values() if v > 0)


def fig10_ahead(s):
    """Figure 10 set-up s against disk swap and zram in the same rounds:
    (text, met) or None when s has no time."""
    mine = fig_sd[s]
    if not mine:
        return None
    parts, ok = [], True
    for o in ("diskswap", "zramswap"):
        other = fig_sd[o]
        common = set(mine) & set(other)
        st = status[("fig10", o, "sort_s")]
        if not common:
            # a peer that was OOM-killed or timed out every time is beaten
            if st.get("oom") or st.get("timeout"):
                parts.append("%s failed (%s)" % (o, ", ".join(
                    "%d %s" % (n, k) for k, n in st.items() if k != "ok")))
                continue
            parts.append("%s not measured" % o)
            ok = False
            continue
        med_m = statistics.median(mine[r] for r in common)
        med_o = statistics.median(other[r] for r in common)
        parts.append("%s %.2fx vs %s %.2fx (%s%s)" % (
            s, med_m, o, med_o, plural(len(common), "round"),
            "; %s: another run's swap beside it in %s" % (o, plural(foreign(o), "run"))
            if foreign(o) else ""))
        ok = ok and med_m < med_o
    return "; ".join(parts), ok


def issue12_section():
    """Issue 12's table, row by row, from this run: value, goal, met / not
    met, median (min-max) over rounds, what is reported beside it, and the
    profile of the step (--profile)."""
    rows12 = []

    def row(what, t, unit, goal, ok_fn, n, detail="", beside="-", prof="-"):
        if t is None:
            rows12.append((what, "not measured", goal, "not measured", beside, prof))
            return
        v = "%s%s, %s" % (fmt_mmm(t, unit), detail, plural(n, "round"))
        rows12.append((what, v, goal, "**met**" if ok_fn(t[1]) else "**not met**", beside, prof))

    def sealed_vs(m, peer, pm, wl="remote"):
        """sealed ratio, insecure ratio (cells), rounds"""
        t = raw_ratio(wl, SEALED, m, peer, pm)
        ti = raw_ratio(wl, INSECURE, m, peer, pm)
        return t, ("insecure %s" % fmt_mmm(ti, "x")) if ti else "-", nrounds(wl, [(SEALED, m), (peer, pm)])

    med = lambda wl, s_, m: (stat(wl, s_, m) or (0, 0, 0))[1]
    # 1-2: remote dd against one TCP stream over the same veth, same round
    for m, tm, d, what in (("dd_read", "tcp_BtoA", "B to A", "read"),
                           ("dd_write", "tcp_AtoB", "A to B", "write")):
        t, bes, n = sealed_vs(m, "tcp", tm)
        det = "; dd %s, TCP %s %s (%s)" % (mbs(med("remote", SEALED, m)), d,
                                          mbs(med("remote", "tcp", tm)), STREAM) if t else ""
        if t and stat("remote", INSECURE, m):
            bes += " (dd %s)" % mbs(med("remote", INSECURE, m))
        row("remote dd %s, bs=1M, node A in one namespace, its blocks on node B in another, "
            "against one TCP stream %s over the same veth (sealed)" % (what, d),
            t, "x", ">= 0.85x one TCP stream", lambda v: v >= 0.85, n, det, bes,
            profile_link("remote-dd_" + what))
    # 3-4: remote against nbdfuse (nbdkit memory), dd
    for m, what in (("dd_write", "write"), ("dd_read", "read")):
        wl = "remote" if vals[("remote", "nbdfuse", m)] else "bulk"
        t, bes, n = sealed_vs(m, "nbdfuse", m, wl)
        det = "; %s, nbdfuse %s" % (mbs(med(wl, SEALED, m)), mbs(med(wl, "nbdfuse", m))) if t else ""
        row("remote vs nbdfuse (nbdkit memory) dd %s (%s workload)" % (what, wl), t, "x",
            ">= 2x", lambda v: v >= 2.0, n, det, bes, profile_link("remote-dd_" + what))
    # 5-7: 4 KiB random reads, one job, unpinned
    prof = profile_link("remote-rr4k")
    t, bes, n = sealed_vs("rr4k_iops", "nbdfuse", "rr4k_iops")
    det = "; %.0f IOPS, nbdfuse %.0f" % (med("remote", SEALED, "rr4k_iops"),
                                         med("remote", "nbdfuse", "rr4k_iops")) if t else ""
    row("remote 4 KiB random read, one job, unpinned: IOPS against nbdfuse", t, "x",
        ">= 2x nbdfuse IOPS", lambda v: v >= 2.0, n, det, bes, prof)
    t = stat("remote", SEALED, "rr4k_p50")
    ti = stat("remote", INSECURE, "rr4k_p50")
    pin = stat("remote", SEALED, "rr512pin_p50")
    row("remote 4 KiB random read, one job, unpinned: p50", t, " us", "<= 100 us unpinned",
        lambda v: v <= 100, nrounds("remote", [(SEALED, "rr4k_p50")]),
        "; 512 B pinned to one CPU: %s us" % fmt_mmm(pin) if pin else "",
        "insecure %s us" % fmt_mmm(ti) if ti else "-", prof)
    t, bes, n = (raw_ratio("remote", SEALED, "rr4kx4_iops", SEALED, "rr4k_iops"),
                 raw_ratio("remote", INSECURE, "rr4kx4_iops", INSECURE, "rr4k_iops"),
                 nrounds("remote", [(SEALED, "rr4kx4_iops"), (SEALED, "rr4k_iops")]))
    det = "; %.0f IOPS with 4 jobs" % med("remote", SEALED, "rr4kx4_iops") if t else ""
    row("remote 4 KiB random read, unpinned: 4 jobs against 1", t, "x",
        ">= 1.6x the IOPS of 1 job", lambda v: v >= 1.6, n, det,
        "insecure %s" % fmt_mmm(bes, "x") if bes else "-", prof)
    # 8: mmap rewrite against tmpfs
    t = raw_ratio("mmap", "cmpfs", "mmap_rewrite", "tmpfs", "mmap_rewrite")
    tr = raw_ratio("mmap", "cmpfs-remote", "mmap_rewrite", "tmpfs", "mmap_rewrite")
    det = "; %s, tmpfs %s" % (mbs(med("mmap", "cmpfs", "mmap_rewrite")),
                              mbs(med("mmap", "tmpfs", "mmap_rewrite"))) if t else ""
    row("mmap rewrite (MAP_SHARED, pool local) against tmpfs", t, "x", ">= 0.4x tmpfs",
        lambda v: v >= 0.4, nrounds("mmap", [("cmpfs", "mmap_rewrite"), ("tmpfs", "mmap_rewrite")]),
        det, "remote pool %s" % fmt_mmm(tr, "x") if tr else "-", profile_link("mmap-rewrite"))
    # 9-14: Figure 10, pool local and remote pool
    where = {"": "pool local", "-remote": "remote pool: node A with %s of its own, the rest on "
             "node B" % meta.get("remote_share", "a small share")}
    for base, lim, what in (("swapper", 1.4, "swapper (loop on a /cmp file)"),
                            ("mapper", 1.15, "mapper (MAP_SHARED /cmp file)")):
        for suf in ("", "-remote"):
            s_ = base + suf
            sd = fig_sd[s_]
            st = status[("fig10", s_, "sort_s")]
            bad = ", ".join("%d %s" % (n_, k) for k, n_ in st.items() if k != "ok")
            fs = foreign(s_)
            if fs:
                bad += "%s%s with another run's swap beside ours" % (
                    "; " if bad else "", plural(fs, "run"))
            rb, mb = stat("fig10", s_, "read_from_nodeB"), stat("fig10", s_, "nodeB_MB")
            bes = "%s%% of its reads from node B, %s MiB to and from node B" % (
                fmt_mmm(rb), fmt_mmm(mb)) if rb and mb else "-"
            row("Fig. 10 %s, %s: slowdown" % (what, where[suf]), mmm(list(sd.values())) if sd else None,
                "x", "<= %gx" % lim, lambda v, lim=lim: v <= lim, len(sd),
                " [%s]" % bad if bad else "", bes, profile_link("fig10-" + s_))
            if base != "swapper":
                continue
            a = fig10_ahead(s_)
            if a is None:
                rows12.append(("Fig. 10 %s, %s: ahead of disk swap and zram" % (what, where[suf]),
                               "not measured", "ahead of both", "not measured", "-", "-"))
            else:
                nb = fig_sd["nbdswap"]
                rows12.append(("Fig. 10 %s, %s: ahead of disk swap and zram" % (what, where[suf]),
                               a[0], "ahead of both (same rounds)",
                               "**met**" if a[1] else "**not met**",
                               "nbdswap %s" % fmt_mmm(mmm(list(nb.values())), "x") if nb else "-",
                               profile_link("fig10-" + s_)))
    if not any(r[3] != "not measured" for r in rows12):
        return
    P("## Issue 12: remote memory at wire speed, mmap writes at memory speed")
    P("")
    P("Issue 12's table, filled from this run: each value is the median over "
      "rounds of a ratio computed within one round (min-max in brackets), "
      "with frames sealed (cmpfs-remote, the cluster key); the insecure mode "
      "(cmpfs-remote-insecure) or the remote pool is reported beside it. "
      "Rows not met name the profile of their step (`--profile`: taken in a "
      "pass after the rounds, so the figures above carry no profiling cost; "
      "see \"Profiles\" below).")
    P("")
    P("| what | value: median (min-max) | goal, same run | result | beside it | profile |")
    P("| --- | --- | --- | --- | --- | --- |")
    for r in rows12:
        P("| %s |" % " | ".join(r))
    P("")


# --- targets -----------------------------------------------------------------
targets = []
target_wl = []  # the workload of each target: those of workloads not run are left out
RAN = {r["workload"] for r in rows}


def close_group(wl):
    """The targets added since the last group are workload wl's."""
    target_wl.extend([wl] * (len(targets) - len(target_wl)))


def target(name, t, ok_fn, unit="x"):
    if t is None:
        targets.append((name, "not measured", "not measured"))
    else:
        targets.append((name, fmt_mmm(t, unit), "**met**" if ok_fn(t[1]) else "**not met**"))


for m in ("dd_write", "dd_read"):
    target("local-pool %s >= 0.9x FUSE floor" % m, ratio("bulk", "cmpfs", "fusefloor", m),
           lambda v: v >= 0.9)
for m in ("dd_write", "dd_read"):
    t = ratio("bulk", "cmpfs-remote", "cmpfs", m) if avail("cmpfs-remote") == "yes" else None
    target("remote-pool %s >= 0.7x local" % m, t, lambda v: v >= 0.7)
close_group("bulk")
t = stat("fio", "cmpfs-remote", "wire_bytes_per_512B_read")
target("512 B read of a remote block moves <= 1 KiB on the wire", t,
       lambda v: v <= 1024, " B")
close_group("fio")
fig_sd = {s: slowdowns(s) for s in FIG10_CMP + FIG10_OTHERS}
ran_fig = [s for s in FIG10_CMP if vals[("fig10", s, "oom_kills")]]
if ran_fig:
    targets.append(("Figure 10 cmpfs set-ups: no OOM kills", "; ".join(
        "%s %d kills in %d runs" % (s, int(sum(vals[("fig10", s, "oom_kills")].values())),
                                     len(vals[("fig10", s, "oom_kills")])) for s in ran_fig),
        "**met**" if sum(sum(vals[("fig10", s, "oom_kills")].values()) for s in ran_fig) == 0
        else "**not met**"))
else:
    targets.append(("Figure 10 cmpfs set-ups: no OOM kills", "not measured", "not measured"))
close_group("fig10")

issue12_section()

P("## Targets")
P("")
P("Marked met / not met; the harness does not fail on them. Issue 12's "
  "goals are in the section above.")
P("")
P("| target | measured: median (min-max) | result |")
P("| --- | --- | --- |")
for (n, v, r), wl in zip(targets, target_wl):
    if wl in RAN:
        P("| %s | %s | %s |" % (n, v, r))
P("")

# --- summary: cmpfs (local) against every peer ---------------------------------
KEY = OrderedDict([
    ("bulk", ["dd_write", "dd_read", "cp_in", "cp_out"]),
    ("fio", ["rand512_p50", "rand512_p99", "rand512_iops", "rand4096_p50", "rand4096_p99",
             "rand4096_iops", "rand512pin_p50", "rand512pin_p99", "rand4096pin_p50"]),
    ("ext4", ["ext4_randread_MBps", "ext4_randwrite_MBps", "ext4_read_MBps", "ext4_write_MBps"]),
    ("mmap", ["mmap_first_touch", "mmap_rewrite", "mmap_read"]),
])
summary_at = len(md)
P("## Summary: cmpfs relative to each peer")
P("")
P("Median ratio over rounds (min-max); > 1 means cmpfs is better. "
  "`fusefloor` is the FUSE floor (what any FUSE file system costs here).")
P("")
summary_head = len(md)
for cs in CMP:
    if avail(cs) != "yes":
        continue
    peers = []
    for wl in KEY:
        for s in systems_of(wl):
            if s != cs and s not in peers and s in CMP + PEERS:
                peers.append(s)
    lines = []
    for wl, ms in KEY.items():
        for m in ms:
            v = stat(wl, cs, m)
            if not v:
                continue
            cells = []
            for p in peers:
                r = ratio(wl, cs, p, m)
                cells.append(fmt_mmm(r, "x") if r else "-")
            lines.append("| %s | %s | %s %s | %s |" % (
                wl, m, fmt_mmm(v), units.get(m, ""), " | ".join(cells)))
    if not lines or not peers:
        continue
    P("### %s" % cs)
    P("")
    P("| workload | metric | cmpfs value | " + " | ".join(peers) + " |")
    P("| --- | --- | --- | " + " | ".join("---" for _ in peers) + " |")
    md.extend(lines)
    P("")
if len(md) == summary_head and not any(fig_sd[s] for s in FIG10_CMP):
    del md[summary_at:]  # no workload with peers in this run
if any(fig_sd[s] for s in FIG10_CMP):
    P("Figure 10, cmpfs set-ups relative to the other swap set-ups (ratio of "
      "slowdowns in the same round, > 1 means cmpfs is better):")
    P("")
    others = FIG10_OTHERS
    P("| cmpfs set-up | slowdown vs baseline | " + " | ".join(others) + " |")
    P("| --- | --- | " + " | ".join("---" for _ in others) + " |")
    for s in FIG10_CMP:
        if not fig_sd[s]:
            continue
        cells = []
        for o in others:
            rs = [fig_sd[o][r] / fig_sd[s][r] for r in set(fig_sd[s]) & set(fig_sd[o])]
            st = status[("fig10", o, "sort_s")]
            bad = ", ".join("%d %s" % (n, k) for k, n in st.items() if k not in ("ok",))
            cells.append((fmt_mmm(mmm(rs), "x") if rs else "-") + (" [%s: %s]" % (o, bad) if bad else ""))
        P("| %s | %s | %s |" % (s, fmt_mmm(mmm(list(fig_sd[s].values())), "x") if fig_sd[s] else
                                 "-", " | ".join(cells)))
    P("")

# --- per-workload detail -----------------------------------------------------
def ratio_cell(t):
    return fmt_mmm(t, "x") if t else "-"


def remote_section():
    """Sealed against insecure frames, and both against the wire."""
    rows = [
        ("dd write (MB/s)", "dd_write", "tcp_AtoB", "one TCP stream A to B (%s)" % STREAM),
        ("dd read (MB/s)", "dd_read", "tcp_BtoA", "one TCP stream B to A (%s)" % STREAM),
        ("512 B read p50, unpinned (us)", "rr512_p50", "rr512_p50", "512 B TCP ping-pong"),
        ("512 B read p99, unpinned (us)", "rr512_p99", "rr512_p99", "512 B TCP ping-pong"),
        ("512 B read p50, pinned (us)", "rr512pin_p50", "rr512pin_p50", "512 B TCP ping-pong, pinned"),
        ("512 B read p99, pinned (us)", "rr512pin_p99", "rr512pin_p99", "512 B TCP ping-pong, pinned"),
        ("512 B read IOPS, unpinned", "rr512_iops", None, ""),
        ("512 B read IOPS, pinned", "rr512pin_iops", None, ""),
        ("4 KiB read p50, 1 job (us)", "rr4k_p50", None, ""),
        ("4 KiB read IOPS, 1 job", "rr4k_iops", None, ""),
        ("4 KiB read p50, 4 jobs (us)", "rr4kx4_p50", None, ""),
        ("4 KiB read IOPS, 4 jobs", "rr4kx4_iops", None, ""),
    ]
    P("Node A (4 MiB pool) in one network namespace, its file's blocks on "
      "node B in another, over one veth; `tcp` is the same veth in the same "
      "round with no file system. Ratios are raw quotients of the values "
      "(computed per round, then median (min-max)): **sealed / insecure** "
      "below 1 for throughput and above 1 for latency is what sealing "
      "costs; **/ TCP** is the share of the wire (throughput) or how many "
      "TCP round trips a read costs (latency).")
    P("")
    P("| metric | sealed (cmpfs-remote) | insecure | sealed / insecure "
      "| TCP, same round | sealed / TCP | insecure / TCP |")
    P("| --- | --- | --- | --- | --- | --- | --- |")
    for label, m, tm, tdesc in rows:
        cells = [fmt_mmm(stat("remote", SEALED, m)), fmt_mmm(stat("remote", INSECURE, m)),
                 ratio_cell(raw_ratio("remote", SEALED, m, INSECURE, m))]
        if tm:
            tcp = stat("remote", "tcp", tm)
            cells += ["%s (%s)" % (fmt_mmm(tcp), tdesc) if tcp else "-",
                      ratio_cell(raw_ratio("remote", SEALED, m, "tcp", tm)),
                      ratio_cell(raw_ratio("remote", INSECURE, m, "tcp", tm))]
        else:
            cells += ["-", "-", "-"]
        if all(c == "-" for c in cells):
            continue
        P("| %s | %s |" % (label, " | ".join(cells)))
    P("")
    if any(vals[("remote", "nbdfuse", m)] for m in ("dd_write", "dd_read", "rr4k_iops")):
        P("nbdfuse (nbdkit memory over TCP loopback) in the same rounds, and "
          "each mode against it (raw quotients per round):")
        P("")
        P("| metric | nbdfuse | sealed / nbdfuse | insecure / nbdfuse |")
        P("| --- | --- | --- | --- |")
        for label, m in (("dd write (MB/s)", "dd_write"), ("dd read (MB/s)", "dd_read"),
                         ("4 KiB read IOPS, 1 job", "rr4k_iops"),
                         ("4 KiB read p50, 1 job (us)", "rr4k_p50")):
            P("| %s | %s | %s | %s |" % (label, fmt_mmm(stat("remote", "nbdfuse", m)),
                                         ratio_cell(raw_ratio("remote", SEALED, m, "nbdfuse", m)),
                                         ratio_cell(raw_ratio("remote", INSECURE, m, "nbdfuse", m))))
        P("")
    readers_section()
    for sys_ in (SEALED, INSECURE):
        on_b = stat("remote", sys_, "file_on_nodeB")
        rd = stat("remote", sys_, "read_from_nodeB")
        if on_b or rd:
            P("- %s: %s%% of the file on node B after the write, %s%% of the "
              "dd read served from node B." % (sys_, fmt_mmm(on_b), fmt_mmm(rd)))
    P("")


def readers_of(sys_):
    """The readers sweep of sys_: [(N, metric)] measured, by N."""
    ns = sorted({int(m[7:-5]) for (wl, s_, m) in vals if wl == "remote" and s_ == sys_
                 and m.startswith("readers") and m.endswith("_MBps") and vals[(wl, s_, m)]})
    return [(n, "readers%d_MBps" % n) for n in ns]


READERS_PLOT = []  # (system, [(N, (lo, med, hi))]) for the plot


def readers_section():
    """Sequential read throughput against the number of readers."""
    syss = [s_ for s_ in (SEALED, INSECURE) if readers_of(s_)]
    if not syss:
        return
    tcp = stat("remote", "tcp", "tcp_BtoA")
    P("Readers sweep: the remote file read sequentially by N readers at once "
      "(fio psync, bs=1M, O_DIRECT, each reader its own slice of the file), "
      "all readers' MB/s together; N readers / 1 reader and / one TCP stream "
      "B to A (%s) are raw quotients per round." % STREAM)
    P("")
    P("| readers | " + " | ".join("%s MB/s | / 1 reader | / TCP" % s_ for s_ in syss) + " |")
    P("| --- | " + " | ".join("--- | --- | ---" for _ in syss) + " |")
    ns = sorted({n for s_ in syss for n, _ in readers_of(s_)})
    for n in ns:
        cells = []
        for s_ in syss:
            m = "readers%d_MBps" % n
            cells += [fmt_mmm(stat("remote", s_, m)),
                      ratio_cell(raw_ratio("remote", s_, m, s_, "readers1_MBps")),
                      ratio_cell(raw_ratio("remote", s_, m, "tcp", "tcp_BtoA"))]
        P("| %d | %s |" % (n, " | ".join(cells)))
    P("")
    for s_ in syss:
        READERS_PLOT.append((s_, [(n, stat("remote", s_, m)) for n, m in readers_of(s_)]))
    P("![remote read throughput against readers](remote-readers.png)")
    P("")


def flood_section():
    """Latency during the flood against the quiet run of the same round."""
    P("cmpfs-remote, node A reading its file on node B: `quiet`, and "
      "`flood` while a third namespace holds idle TCP connections open to "
      "node B's peer port (tests/cluster/flood.py; node B closes those over "
      "its caps, which are reopened at once). **flood / quiet** is the raw "
      "quotient in the same round: above 1 for latency (below 1 for IOPS) "
      "is what the flood costs the legitimate node.")
    P("")
    P("| metric | quiet | flood | flood / quiet |")
    P("| --- | --- | --- | --- |")
    for label, m in (("512 B read p50, unpinned (us)", "rr512_p50"),
                     ("512 B read p99, unpinned (us)", "rr512_p99"),
                     ("512 B read p50, pinned (us)", "rr512pin_p50"),
                     ("512 B read p99, pinned (us)", "rr512pin_p99"),
                     ("512 B read IOPS, unpinned", "rr512_iops"),
                     ("512 B read IOPS, pinned", "rr512pin_iops")):
        q, f = stat("flood", "quiet", m), stat("flood", "flood", m)
        if q or f:
            P("| %s | %s | %s | %s |" % (label, fmt_mmm(q), fmt_mmm(f),
                                         ratio_cell(raw_ratio("flood", "flood", m, "quiet", m))))
    c0, c1 = stat("flood", "flood", "conns_at_start"), stat("flood", "flood", "conns_at_end")
    rate = stat("flood", "flood", "conns_opened_per_s")
    if c0 or c1:
        P("")
        P("The flood's connections established (seen from its namespace) when "
          "the reads started: %s; when they ended: %s; connections it opened "
          "(and node B closed) a second: %s." % (fmt_mmm(c0), fmt_mmm(c1), fmt_mmm(rate)))
    P("")


plots = []
for wl, title in WORKLOADS.items():
    if not any(k[0] == wl for k in status):
        continue
    P("## %s" % title)
    P("")
    if wl == "remote":
        remote_section()
    elif wl == "flood":
        flood_section()
    syss = systems_of(wl)
    ms = [m for m in metrics_of(wl) if not m.startswith("ctr_")]
    P("| system | " + " | ".join("%s (%s)" % (m, units.get(m, "")) for m in ms) + " |")
    P("| --- | " + " | ".join("---" for _ in ms) + " |")
    for s in syss:
        cells = []
        for m in ms:
            t = stat(wl, s, m)
            st = status[(wl, s, m)]
            bad = ", ".join("%d %s" % (n, k) for k, n in st.items() if k != "ok")
            cells.append(fmt_mmm(t) + (" [%s]" % bad if bad else ""))
        P("| %s | %s |" % (s, " | ".join(cells)))
    P("")
    if wl == "fig10":
        P("Slowdown = sort time / baseline sort time of the same round; OOM "
          "kills are counted from the cgroup's `memory.oom_control` (a killed "
          "run has no time). Set-ups: " + "; ".join(
              "%s: %s" % (s, d) for s, d in (
                  ("baseline", "no limit"), ("mapper", "array is a MAP_SHARED mapping of a /cmp file"),
                  ("swapper", "swap on a loop device over a /cmp file"),
                  ("mapper-remote", "mapper on cmpfs-remote, node A with %s of its own"
                   % meta.get("remote_share", "a small share")),
                  ("swapper-remote", "swapper on cmpfs-remote, node A with %s of its own"
                   % meta.get("remote_share", "a small share")),
                  ("diskswap", "swap file on the local disk"),
                  ("zramswap", "swap on a loop device over zram (lz4)"),
                  ("nbdswap", "swap on a loop device over an nbdfuse file (nbdkit memory, TCP)"))) + ".")
        P("")
        P("| set-up | slowdown | OOM kills (total) | runs |")
        P("| --- | --- | --- | --- |")
        for s in syss:
            sd = slowdowns(s)
            P("| %s | %s | %d | %d |" % (s, fmt_mmm(mmm(list(sd.values())), "x") if sd else "-",
                                         int(sum(vals[("fig10", s, "oom_kills")].values())),
                                         sum(status[("fig10", s, "sort_s")].values())))
        P("")
    ctr = [m for m in metrics_of(wl) if m.startswith("ctr_")]
    if ctr:
        P("Daemon counters that moved during the 512 B random-read run, per read:")
        P("")
        for s in syss:
            for m in ctr:
                t = stat(wl, s, m)
                if t:
                    P("- %s `%s`: %s" % (s, m[4:], fmt_mmm(t)))
        P("")
    # ratios of each cmpfs system to every other system in this workload
    for cs in CMP:
        if cs not in syss or wl in ("fig10", "remote", "flood"):
            continue
        peers = [s for s in syss if s != cs]
        P("%s relative to each system (> 1: cmpfs better):" % cs)
        P("")
        P("| metric | " + " | ".join(peers) + " |")
        P("| --- | " + " | ".join("---" for _ in peers) + " |")
        for m in ms:
            if m.startswith("wire_"):
                continue
            cells = [fmt_mmm(ratio(wl, cs, p, m), "x") for p in peers]
            if all(c == "-" for c in cells):
                continue
            P("| %s | %s |" % (m, " | ".join(cells)))
        P("")
    # plots: one per metric
    for m in ms:
        data = [(s, stat(wl, s, m)) for s in syss]
        data = [(s, t) for s, t in data if t]
        if not data:
            continue
        name = "%s-%s.png" % (wl, m.replace(".", "_"))
        plots.append((name, wl, m, data))
        P("![%s %s](%s)" % (wl, m, name))
    P("")

# --- profiles (--profile) ----------------------------------------------------
def prof_figure(step):
    """The figure the profile pass measured while perf recorded step."""
    wl, _, what = step.partition("-")
    if wl == "fig10":
        sys_, m = what, "sort_s"
    elif wl == "mmap":
        sys_, m = "cmpfs", "mmap_" + what
    elif what == "rr4k":
        sys_, m = SEALED, "rr4k_iops"
    else:
        sys_, m = SEALED, what
    for r in prof_rows:
        if (r["workload"], r["system"], r["metric"]) == (wl, sys_, m):
            return "%s %s %s" % (m, r["value"], r["unit"]) if r["status"] == "ok" else \
                "%s: %s" % (m, r["status"])
    return "-"


PROF_DIR = os.path.join(OUT, "profiles")
prof_steps = sorted(f[:-5] for f in os.listdir(PROF_DIR) if f.endswith(".meta")) \
    if os.path.isdir(PROF_DIR) else []
if prof_steps or "profile_none" in meta:
    P("## Profiles")
    P("")
    if "profile_none" in meta:
        P("No profiles: %s." % meta["profile_none"])
        P("")
if prof_steps:
    P("Taken in a pass after the rounds (`--profile`), one run of each item "
      "that holds a chosen step, `perf record -a -g` around the step only; "
      "that pass's figures (under perf) are in profile.csv. Each file gives "
      "where the CPUs went by command (idle is `swapper`), the cmpfs "
      "daemons' top symbols (self time), DSOs and threads, the workload "
      "process's top symbols and every CPU's. Busy: both CPUs' busy time "
      "over the step (the machine is shared: other test runs count too); "
      "each daemon's threads' time on a CPU and waiting runnable for one "
      "(schedstat), as shares of one CPU over the step: a daemon that waits "
      "about as long as it runs is short of CPU, one that does neither is "
      "waiting for something else (the network, the kernel, its peer).")
    P("")
    P("| step | figure under perf | seconds | machine busy | daemons: ran (waited runnable for a CPU), one CPU = 100% | load | profile |")
    P("| --- | --- | --- | --- | --- | --- | --- |")
    for st in prof_steps:
        pm, daemons = {}, []
        for line in open(os.path.join(PROF_DIR, st + ".meta")):
            f = line.rstrip("\n").split("\t")
            if f[0] == "daemon" and len(f) >= 4:
                daemons.append("%s %s%% (waited %s%%)" % (f[1].split(" (pid")[0], f[2], f[3]))
            elif len(f) >= 2:
                pm[f[0]] = f[1]
        P("| %s (%s) | %s | %s | %s%% of %s CPUs | %s | %s | [%s.txt](profiles/%s.txt) |" % (
            st, pm.get("system", "?"), prof_figure(st), pm.get("seconds", "?"),
            pm.get("machine_busy_pct", "?"), pm.get("cpus", "?"), ", ".join(daemons) or "-",
            pm.get("load", "?"), st, st))
    P("")

P("## Notes")
P("")
P("- Reads are O_DIRECT where the file system allows it (dd iflag=direct, "
  "fio direct=1) and every file's page cache is dropped before it is read, "
  "so nbdfuse and sshfs reads reach their servers. Writes go through "
  "`conv=fsync` (dd) or `cp` + `sync FILE`.")
P("- Source data is random (urandom) and lives on a tmpfs; cp out copies to a tmpfs.")
P("- nbdfuse exposes one fixed-size file (the NBD disk) sized to the bulk "
  "file; it is written in place (notrunc) instead of being created.")
P("- fusefloor cannot map files (direct_io without the INIT patch refuses "
  "MAP_SHARED), so workload 5 compares cmpfs with tmpfs only.")
P("- fio runs twice per block size: unpinned (`randN`, the scheduler places "
  "fio and the daemon threads) and pinned (`randNpin`: fio and every daemon "
  "process of the system, with children, on CPU 0, so no request needs a "
  "cross-CPU wake-up).")
P("- Raw values: results.csv; command output: harness.log.")
P("")

open(os.path.join(OUT, "report.md"), "w").write("\n".join(md) + "\n")

# --- plots (gnuplot) ------------------------------------------------------------
gp = shutil.which("gnuplot")
if gp and plots:
    script = []
    for name, wl, m, data in plots:
        dat = os.path.join(OUT, name[:-4] + ".dat")
        with open(dat, "w") as f:
            for s, (lo, med, hi) in data:
                f.write('"%s" %g %g %g\n' % (s, med, lo, hi))
        better = "higher is better" if higher_better(m) else "lower is better"
        script += [
            "set terminal png size 900,500 noenhanced",
            "set output '%s'" % os.path.join(OUT, name),
            "set title '%s: %s (%s), median with min-max over rounds; %s'" % (
                wl, m, units.get(m, ""), better),
            "set style data histogram",
            "set style histogram errorbars gap 1 lw 1",
            "set style fill solid 0.6 border -1",
            "set boxwidth 0.8",
            "set yrange [0:*]",
            "set grid ytics",
            "set xtics rotate by -20",
            "unset key",
            "plot '%s' using 2:3:4:xtic(1) linecolor rgb '#3070b0'" % dat,
            "unset output",
        ]
    r = subprocess.run([gp], input="\n".join(script) + "\n", text=True,
                       capture_output=True)
    if r.returncode:
        sys.stderr.write(r.stderr)
    for name, *_ in plots:
        try:
            os.unlink(os.path.join(OUT, name[:-4] + ".dat"))
        except OSError:
            pass
# the readers sweep: throughput against the number of readers
if gp and READERS_PLOT:
    dat = os.path.join(OUT, "remote-readers.dat")
    with open(dat, "w") as f:
        for sys_, pts in READERS_PLOT:
            for n, (lo, med, hi) in pts:
                f.write("%d %g %g %g\n" % (n, med, lo, hi))
            f.write("\n\n")
    plot = ["'%s' index %d using 1:2:3:4 with yerrorlines lw 2 title '%s'" % (dat, i, sys_)
            for i, (sys_, _) in enumerate(READERS_PLOT)]
    tcp = stat("remote", "tcp", "tcp_BtoA")
    if tcp:
        plot.append("%g with lines dt 2 lw 2 title 'one TCP stream B to A (%s), median'" % (tcp[1], STREAM))
    ns = sorted({n for _, pts in READERS_PLOT for n, _ in pts})
    script = [
        "set terminal png size 900,500 noenhanced",
        "set output '%s'" % os.path.join(OUT, "remote-readers.png"),
        "set title 'Remote sequential reads (fio bs=1M, O_DIRECT): all readers together, "
        "median with min-max over rounds'",
        "set xlabel 'concurrent readers'",
        "set ylabel 'MB/s'",
        "set logscale x 2",
        "set xrange [%g:%g]" % (ns[0] / 1.3, ns[-1] * 1.3),
        "set xtics (%s)" % ", ".join(str(n) for n in ns),
        "set yrange [0:*]",
        "set grid",
        "set key bottom right",
        "plot " + ", ".join(plot),
        "unset output",
    ]
    r = subprocess.run([gp], input="\n".join(script) + "\n", text=True, capture_output=True)
    if r.returncode:
        sys.stderr.write(r.stderr)
    os.unlink(dat)
print("report written: %s" % os.path.join(OUT, "report.md"))
