#!/usr/bin/env python3
"""`fleet check` of 20 local targets, one of them dead (issue 16 §1, §5): 19
RuoYi-Vue databases (the vendor's install SQL, bcrypt admin) on the local
MariaDB plus one target that accepts TCP connections and never answers (a
hung server: it costs the whole --timeout). Baseline, same run, same
machine: the slowest single `check` of the 19 targets plus the timeout.
Target: fleet <= 1.5 x (slowest single target + timeout).
Usage: scripts/bench_fleet.py [BINARY]   (env BENCH_FLEET_TARGETS, BENCH_FLEET_TIMEOUT, BENCH_RUNS)
"""
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA = os.path.join(REPO, "..", "shared", "vendor-schemas", "ruoyi-vue-3.9.2.sql")
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "target", "release", "locksmith")
TARGETS = int(os.environ.get("BENCH_FLEET_TARGETS", "20"))
TIMEOUT = float(os.environ.get("BENCH_FLEET_TIMEOUT", "2"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))


def client(db, sql=None, stdin=None):
    args = ["mariadb", "-h", "127.0.0.1", "-P", "3306", "-u", "root", "-N", "-B"]
    if db:
        args.append(db)
    if sql:
        args += ["-e", sql]
    return subprocess.run(args, input=stdin, capture_output=True, check=True).stdout.decode()


def hung_port():
    """A listener that accepts and holds every connection without a byte."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held = []

    def serve():
        while True:
            conn, _ = srv.accept()
            held.append(conn)

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1]


def url(db):
    return f"mysql://root@127.0.0.1:3306/{db}"


def timed(cmd):
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True)
    wall = time.perf_counter() - start
    return wall, out


def main():
    with open(SCHEMA, "rb") as f:
        schema = f.read()
    dbs = [f"ls_bench_fleet_{os.getpid()}_{i}" for i in range(TARGETS - 1)]
    for db in dbs:
        client(None, f"DROP DATABASE IF EXISTS `{db}`; CREATE DATABASE `{db}` CHARACTER SET utf8mb4")
        client(db, stdin=schema)
    work = tempfile.mkdtemp()
    journal = os.path.join(work, "journal.sqlite")
    try:
        # The baseline: every real target on its own, the slowest (median of RUNS each).
        singles = []
        for db in dbs:
            walls = []
            for _ in range(RUNS):
                wall, out = timed([BIN, "--target", url(db), "--connector", "ruoyi-vue",
                                   "--journal", journal, "check"])
                if out.returncode not in (0, 8):
                    sys.exit(f"check {db} failed ({out.returncode}): {out.stderr.decode()}")
                walls.append(wall)
            singles.append(statistics.median(walls))
        slowest = max(singles)

        port = hung_port()
        profiles = os.path.join(work, "profiles.toml")
        with open(profiles, "w") as f:
            for i, db in enumerate(dbs):
                f.write(f'[[profile]]\nname = "t{i:02}"\nsite = "site{i % 5}"\n'
                        f'target = "{url(db)}"\nconnector = "ruoyi-vue"\n\n')
            f.write(f'[[profile]]\nname = "dead"\nsite = "lab"\n'
                    f'target = "mysql://root@127.0.0.1:{port}/crm?tls=disabled"\nconnector = "ruoyi-vue"\n')
        fleet = []
        for _ in range(RUNS):
            wall, out = timed([BIN, "--journal", journal, "--json", "fleet", "check",
                               "--profiles", profiles, "--timeout", str(TIMEOUT)])
            if out.returncode not in (3, 8):
                sys.exit(f"fleet check: unexpected exit {out.returncode}: {out.stderr.decode()}")
            fleet.append(wall)
        fleet_wall = statistics.median(fleet)
        budget = slowest + TIMEOUT
        ratio = fleet_wall / budget
        verdict = "met" if ratio <= 1.5 else "NOT met"
        print(f"\n## fleet check: {TARGETS} local targets (one hung), --parallel 4, --timeout {TIMEOUT:g} s\n")
        print("| measure | value | baseline | ratio | target |")
        print("|---|---|---|---|---|")
        print(f"| `fleet check`, {TARGETS} targets (19 RuoYi-Vue on MariaDB + 1 hung), median of {RUNS} "
              f"| {fleet_wall:.2f} s | slowest single `check` {slowest:.2f} s + timeout {TIMEOUT:g} s "
              f"= {budget:.2f} s | {ratio:.2f}x | <= 1.5x ({verdict}) |")
        print(f"\nsingle checks: median {statistics.median(singles):.2f} s, slowest {slowest:.2f} s; "
              f"fleet runs: {', '.join(f'{w:.2f}' for w in fleet)} s; "
              f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    finally:
        for db in dbs:
            client(None, f"DROP DATABASE IF EXISTS `{db}`")


if __name__ == "__main__":
    main()
