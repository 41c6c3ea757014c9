#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""stale: what earlier harness runs left behind when they were killed.

    stale.py tags    SELF_TAG OUR_WORK DISKDIR CGROOT STATE_DIR
    stale.py procs   SELF_TAG OUR_WORK DISKDIR CGROOT STATE_DIR TAG
    stale.py actions SELF_TAG OUR_WORK DISKDIR CGROOT STATE_DIR TAG

A run of the harness is tagged cbPID (PID: the run's shell) and names
everything it makes after its tag: network namespaces cbPIDA..Z, veth
ends cbPIDa..z, tmpfs sources cbPID-*, cgroups and files on the disk
directory cbPID-*, its work directory /tmp/cmpbench.cbPID.XXXXXX (older
runs: /tmp/cmpbench.XXXXXX, found through their tmpfs sources), and it
keeps an undo journal STATE_DIR/cbPID.undo whose first line is
"owner PID STARTTIME WORK DISKDIR". A SIGKILL (meson's timeout kills the
test's process group) stops a run before its teardown; run.sh then calls
this at its next start:

tags     prints the tags of runs that are gone (the journal's owner pid
         does not run with the same start time; without a journal: no
         process PID running run.sh), and "dir:PATH" for an old-style work
         directory of no known run that no process names and that either
         holds mounts or is older than ten minutes. SELF_TAG (this run,
         which has made nothing but OUR_WORK yet) is stale too.
procs    the pids of a gone run's processes: command line naming its work
         directory, or inside one of its network namespaces.
actions  what is left of it, one "VERB ARG" line each, in the order to
         undo them: swapoff, umount-fuse, umount, losetup-d, netns-del,
         link-del, rmdir, rm, rmtree. Run after its journal was replayed.
"""
import glob
import os
import re
import sys
import time

TMP = "/tmp"
NETNS = "/run/netns"


def mounts():
    """(mount point, fstype, source) of every mount, from mountinfo."""
    out = []
    for line in open("/proc/self/mountinfo"):
        a, _, b = line.partition(" - ")
        f, g = a.split(), b.split()
        mp = f[4].replace("\\040", " ")
        out.append((mp, g[0], g[1] if len(g) > 1 else ""))
    return out


def loops():
    """{/dev/loopN: backing file} of the attached loop devices."""
    out = {}
    for p in glob.glob("/sys/block/loop*/loop/backing_file"):
        try:
            f = open(p).read().strip()
        except OSError:
            continue
        if f.endswith(" (deleted)"):
            f = f[:-len(" (deleted)")]
        out["/dev/" + p.split("/")[3]] = f
    return out


def start_time(pid):
    try:
        return open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def cmdline(pid):
    try:
        return open("/proc/%s/cmdline" % pid, "rb").read().replace(
            b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def journal_owner(state, tag):
    try:
        f = open(os.path.join(state, tag + ".undo")).readline().split()
    except OSError:
        return None
    if len(f) >= 3 and f[0] == "owner":
        return f
    return None


def alive(tag, state):
    pid = tag[2:]
    owner = journal_owner(state, tag)
    if owner:
        return start_time(pid) == owner[2]
    return start_time(pid) is not None and "run.sh" in cmdline(pid)


def under(path, d):
    return path == d or path.startswith(d.rstrip("/") + "/")


class Scan:
    """Everything on this machine that carries a harness tag."""

    def __init__(self, diskdir, cgroot, state, our_work):
        self.diskdir, self.cgroot, self.state = diskdir, cgroot, state
        self.mounts = mounts()
        self.loops = loops()
        self.dirs = {}      # tag -> [work dirs]
        self.legacy = []    # old-style work dirs of no known tag
        self.tags = set()
        for j in glob.glob(os.path.join(state, "cb*.undo")):
            self.tags.add(os.path.basename(j)[:-5])
        for n in os.listdir(NETNS) if os.path.isdir(NETNS) else []:
            m = re.fullmatch(r"(cb\d+)[A-Z]", n)
            if m:
                self.tags.add(m.group(1))
        for n in os.listdir("/sys/class/net"):
            m = re.fullmatch(r"(cb\d+)[a-z]", n)
            if m:
                self.tags.add(m.group(1))
        for _, _, src in self.mounts:
            m = re.match(r"(cb\d+)-", src)
            if m:
                self.tags.add(m.group(1))
        for p in glob.glob(os.path.join(diskdir, "cb*-*")) + \
                glob.glob(os.path.join(cgroot, "cb*-*")):
            m = re.match(r"(cb\d+)-", os.path.basename(p))
            if m:
                self.tags.add(m.group(1))
        for d in glob.glob(os.path.join(TMP, "cmpbench.*")):
            if d == our_work:
                continue
            m = re.fullmatch(r"cmpbench\.(cb\d+)\.\w+", os.path.basename(d))
            tag = m.group(1) if m else self.legacy_tag(d)
            if tag:
                self.tags.add(tag)
                self.dirs.setdefault(tag, []).append(d)
            else:
                self.legacy.append(d)

    def legacy_tag(self, d):
        for mp, _, src in self.mounts:
            m = re.match(r"(cb\d+)-", src)
            if m and under(mp, d):
                return m.group(1)
        return None

    def netns_inodes(self, tag):
        out = set()
        for p in glob.glob(os.path.join(NETNS, tag + "[A-Z]")):
            try:
                out.add(os.stat(p).st_ino)
            except OSError:
                pass
        return out

    def procs(self, dirs, inodes):
        me = {str(os.getpid()), str(os.getppid())}
        out = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            if pid in me:
                continue
            cmd = cmdline(pid)
            try:
                ns = os.stat("/proc/%s/ns/net" % pid).st_ino
            except OSError:
                continue
            if any(d.rstrip("/") + "/" in cmd for d in dirs) or ns in inodes:
                out.append(pid)
        return out

    def legacy_stale(self, d):
        """An old-style work directory no run can be using."""
        if self.procs([d], set()):
            return False
        if any(under(mp, d) for mp, _, _ in self.mounts):
            return True
        try:
            return time.time() - os.stat(d).st_mtime > 600
        except OSError:
            return False

    def actions(self, tag):
        dirs = self.dirs.get(tag, []) if not tag.startswith("dir:") else [tag[4:]]
        mine = (lambda p: any(under(p, d) for d in dirs) or
                (not tag.startswith("dir:") and
                 under(p, self.diskdir) and os.path.basename(p).startswith(tag + "-")))
        my_loops = [dev for dev, f in self.loops.items() if mine(f)]
        out = []
        for line in open("/proc/swaps").readlines()[1:]:
            f = line.split()[0]
            if mine(f) or f in my_loops:
                out.append("swapoff " + f)
        for mp, fstype, src in sorted(self.mounts, key=lambda m: -len(m[0])):
            if any(under(mp, d) for d in dirs) or src in my_loops:
                out.append(("umount-fuse " if fstype.startswith("fuse") else "umount ") + mp)
        out += ["losetup-d " + dev for dev in my_loops]
        if not tag.startswith("dir:"):
            for p in glob.glob(os.path.join(NETNS, tag + "[A-Z]")):
                out.append("netns-del " + os.path.basename(p))
            for n in os.listdir("/sys/class/net"):
                if re.fullmatch(re.escape(tag) + "[a-z]", n):
                    out.append("link-del " + n)
            for p in glob.glob(os.path.join(self.cgroot, tag + "-*")):
                out.append("rmdir " + p)
            for p in glob.glob(os.path.join(self.diskdir, tag + "-*")):
                if os.path.isfile(p):
                    out.append("rm " + p)
        out += ["rmtree " + d for d in dirs]
        return out


def main():
    if len(sys.argv) < 7 or (sys.argv[1] != "tags" and len(sys.argv) < 8):
        sys.stderr.write(__doc__)
        return 2
    cmd, self_tag, our_work, diskdir, cgroot, state = sys.argv[1:7]
    # this run has made nothing but its work directory yet
    s = Scan(diskdir, cgroot, state, our_work)
    if cmd == "tags":
        for tag in sorted(s.tags):
            if tag == self_tag or not alive(tag, state):
                print(tag)
        for d in s.legacy:
            if s.legacy_stale(d):
                print("dir:" + d)
    elif cmd == "procs":
        tag = sys.argv[7]
        dirs = [tag[4:]] if tag.startswith("dir:") else s.dirs.get(tag, [])
        print("\n".join(s.procs(dirs, s.netns_inodes(tag))))
    elif cmd == "actions":
        print("\n".join(s.actions(sys.argv[7])))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
