#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""flood: idle TCP connections that never say a word, for the flood test.

    flood.py --target HOST:PORT [--target ...] -n N --until STOPFILE
             [--rate R] [--linger SECS]

Keeps N connections open to each target: every connection the server
closes is opened again (at most R new connections per second per target)
until STOPFILE exists. Then it opens no more, closes each connection as
soon as the server closes it, and exits when none is left or after
--linger seconds, holding the rest open until then (so that `ss` in this
namespace shows only what the servers have not closed yet). It prints a
summary line per target: connections opened, closed by the server,
refused, most open at once, still open at exit.
"""
import argparse
import errno
import os
import resource
import selectors
import socket
import sys
import time


class Target:
    def __init__(self, spec):
        host, port = spec.rsplit(':', 1)
        self.addr = (host, int(port))
        self.spec = spec
        self.open = 0
        self.opened = self.closed_by_server = self.refused = 0
        self.most = 0
        self.tokens = 0.0


def connect(sel, t):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(t.addr)
    except BlockingIOError:
        pass
    except OSError:
        s.close()
        t.refused += 1
        return
    t.open += 1
    t.opened += 1
    t.most = max(t.most, t.open)
    sel.register(s, selectors.EVENT_READ, (t, s))


def drop(sel, t, s, by_server):
    sel.unregister(s)
    s.close()
    t.open -= 1
    if by_server:
        t.closed_by_server += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--target', action='append', required=True)
    ap.add_argument('-n', type=int, default=1000)
    ap.add_argument('--until', required=True)
    ap.add_argument('--rate', type=float, default=500.0)
    ap.add_argument('--linger', type=float, default=30.0)
    a = ap.parse_args()

    want = a.n * len(a.target) + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    targets = [Target(t) for t in a.target]
    sel = selectors.DefaultSelector()
    last = time.monotonic()
    stopping_since = None
    while True:
        now = time.monotonic()
        if stopping_since is None and os.path.exists(a.until):
            stopping_since = now
            print(f'stop: {sum(t.open for t in targets)} connections open',
                  flush=True)
        if stopping_since is not None:
            if not any(t.open for t in targets):
                break
            if now - stopping_since > a.linger:
                break
        else:
            for t in targets:
                t.tokens = min(a.rate, t.tokens + (now - last) * a.rate)
                while t.open < a.n and t.tokens >= 1:
                    t.tokens -= 1
                    connect(sel, t)
        last = now
        for key, _ in sel.select(timeout=0.02):
            t, s = key.data
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError as e:
                # refused (connect failed) or reset: gone either way
                if e.errno == errno.ECONNREFUSED:
                    t.refused += 1
                    drop(sel, t, s, False)
                else:
                    drop(sel, t, s, True)
                continue
            if not data:
                drop(sel, t, s, True)
    for t in targets:
        print(f'{t.spec}: opened {t.opened}, closed by the server '
              f'{t.closed_by_server}, refused {t.refused}, most open '
              f'{t.most}, still open {t.open}', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
