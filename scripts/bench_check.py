#!/usr/bin/env python3
"""`check` on a large install (issue 18): RuoYi-Vue's real schema plus N bcrypt
($2a$10) accounts. Figures:
  - `check` (admins + emergency admin tried against the defaults) on N accounts;
  - `check --all-accounts` on a sample, on every core vs. pinned to one core
    (taskset: the same binary, same run, same data: the baseline);
  - the estimate `check --all-accounts` prints for all N before it starts.
Usage: scripts/bench_check.py [BINARY]   (env BENCH_CHECK_ACCOUNTS, BENCH_CHECK_SAMPLE, BENCH_RUNS)
"""
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA = os.path.join(REPO, "..", "shared", "vendor-schemas", "ruoyi-vue-3.9.2.sql")
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "target", "release", "locksmith")
N = int(os.environ.get("BENCH_CHECK_ACCOUNTS", "10000"))
SAMPLE = int(os.environ.get("BENCH_CHECK_SAMPLE", "400"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))


def client(db, sql=None, stdin=None):
    args = ["mariadb", "-h", "127.0.0.1", "-P", "3306", "-u", "root", "-N", "-B"]
    if db:
        args.append(db)
    if sql:
        args += ["-e", sql]
    out = subprocess.run(args, input=stdin, capture_output=True, check=True)
    return out.stdout.decode()


def bcrypt_value():
    # PHP's password_hash writes $2y$; Spring's BCrypt writes $2a$: the same algorithm.
    out = subprocess.run(
        ["php", "-r", "echo password_hash('Bench#not-a-default-1', PASSWORD_BCRYPT, ['cost' => 10]);"],
        capture_output=True, check=True,
    )
    return "$2a$" + out.stdout.decode()[4:]


def load(db, accounts):
    client(None, f"DROP DATABASE IF EXISTS `{db}`; CREATE DATABASE `{db}` CHARACTER SET utf8mb4")
    with open(SCHEMA, "rb") as f:
        client(db, stdin=f.read())
    value = bcrypt_value()
    client(db, (
        "INSERT INTO sys_user (user_id, dept_id, user_name, nick_name, password, status, del_flag, create_time) "
        f"SELECT 1000 + seq, 103, CONCAT('bench', seq), CONCAT('压测', seq), '{value}', '0', '0', NOW() "
        f"FROM seq_1_to_{accounts}"
    ))


def run(db, args, pin=None):
    journal = os.path.join(tempfile.mkdtemp(), "journal.db")
    cmd = [BIN, "--target", f"mysql://root@127.0.0.1:3306/{db}", "--connector", "ruoyi-vue",
           "--journal", journal, *args]
    if pin is not None:
        cmd = ["taskset", "-c", pin, *cmd]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if out.returncode not in (0, 8):
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.decode()}")
    return wall, cpu, out.stderr.decode()


def estimate(db):
    """Starts `check --all-accounts` on all N accounts, reads the estimate line, stops it."""
    journal = os.path.join(tempfile.mkdtemp(), "journal.db")
    p = subprocess.Popen(
        [BIN, "--target", f"mysql://root@127.0.0.1:3306/{db}", "--connector", "ruoyi-vue",
         "--journal", journal, "check", "--all-accounts"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    line = ""
    for line in p.stderr:
        if "about" in line:
            break
    p.kill()
    p.wait()
    return line.strip()


def median(f, runs=RUNS):
    results = [f() for _ in range(runs)]
    return (statistics.median(r[0] for r in results), statistics.median(r[1] for r in results))


def main():
    db = f"ls_bench_check_{os.getpid()}"
    try:
        load(db, N)
        wall, _ = median(lambda: run(db, ["check"])[:2])
        est = estimate(db)
        client(db, f"DELETE FROM sys_user WHERE user_id > {1000 + SAMPLE}")
        every_wall, every_cpu = median(lambda: run(db, ["check", "--all-accounts"])[:2])
        one_wall, one_cpu = median(lambda: run(db, ["check", "--all-accounts"], pin="0")[:2])
        cores = os.cpu_count()
        print(f"| `check`, {N:,} bcrypt accounts (admins + emergency admin tried) | {wall:.2f} s | — | — | seconds |")
        print(f"| `check --all-accounts`, {SAMPLE + 2:,} bcrypt accounts × 2 defaults, every core ({cores}) "
              f"| {every_wall:.1f} s (CPU {every_cpu:.1f} s) | {one_wall:.1f} s pinned to one core "
              f"(CPU {one_cpu:.1f} s) | {every_wall / one_wall:.2f}× | uses every core |")
        print(f"| `check --all-accounts`, {N:,} accounts: the estimate it prints first | {est} | — | — | — |")
    finally:
        client(None, f"DROP DATABASE IF EXISTS `{db}`")


if __name__ == "__main__":
    main()
