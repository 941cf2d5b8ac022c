"""Offboarding throughput (issue 16 §4): `locksmith offboard` disabling 10,000
RuoYi accounts against the mariadb client doing the same database work.

Usage: python3 scripts/bench_offboard.py BINARY   (scripts/bench passes the release binary)
Env:   BENCH_OFFBOARD_ACCOUNTS (default 10000), BENCH_OFFBOARD_RUNS (default 3).

Locksmith's side is the whole command: process start, connect, read the list,
match each login (one SELECT each), classify, count the enabled admins, then
per batch of 100 one durable journal transaction for the intents, each
account's own transaction (guarded UPDATE, re-read, verify, COMMIT), one
durable journal transaction for the outcomes. The baseline is one mariadb
client session running, per account, the same lookup by login, the same
guarded UPDATE inside a transaction, the re-read and the COMMIT (no journal).
Runs are interleaved; each run starts from every account enabled and a new
journal. Prints one Markdown table row and the figures as JSON on stderr.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = os.environ.get("LOCKSMITH_TEST_MYSQL_HOST", "127.0.0.1")
PORT = os.environ.get("LOCKSMITH_TEST_MYSQL_PORT", "3306")
N = int(os.environ.get("BENCH_OFFBOARD_ACCOUNTS", "10000"))
RUNS = int(os.environ.get("BENCH_OFFBOARD_RUNS", "3"))
DB = f"ls_bench_offboard_{os.getpid()}"
FIRST = 10000


def client(sql, db=DB):
    return subprocess.run(
        ["mariadb", "-h", HOST, "-P", PORT, "-u", "root", "--default-character-set=utf8mb4", "-N", "-B", db],
        input=sql.encode(), capture_output=True, check=True,
    ).stdout.decode()


def setup():
    subprocess.run(["mariadb", "-h", HOST, "-P", PORT, "-u", "root", "-e",
                    f"DROP DATABASE IF EXISTS {DB}; CREATE DATABASE {DB} CHARACTER SET utf8mb4"], check=True)
    with open(os.path.join(ROOT, "../shared/vendor-schemas/ruoyi-4.8.3.sql"), "rb") as f:
        client(f.read().decode())
    with open(os.path.join(ROOT, "fixtures/ruoyi.sql"), "rb") as f:
        client(f.read().decode())
    # RuoYi's login_name has no index in the vendor's DDL; a site with 10,000 users would
    # look logins up through one (SysUserMapper.selectUserByLoginName), and so do both sides here.
    client("CREATE INDEX bench_login ON sys_user (login_name);")
    client(f"INSERT INTO sys_user (user_id, dept_id, login_name, user_name, password, salt, status, del_flag, create_by, create_time) "
           f"SELECT {FIRST} + seq, 103, CONCAT('gone', seq), CONCAT('离职', seq), MD5(CONCAT('gone', seq)), 'abcdef', '0', '0', 'admin', NOW() "
           f"FROM seq_1_to_{N};")


def reenable():
    client(f"UPDATE sys_user SET status = '0' WHERE user_id > {FIRST};")


def baseline_sql():
    rows = client(f"SELECT user_id, login_name, password, salt FROM sys_user WHERE user_id > {FIRST} ORDER BY user_id;")
    out = []
    for line in rows.splitlines():
        uid, login, pw, salt = line.split("\t")
        out.append(
            f"SELECT user_id, login_name, status FROM sys_user WHERE login_name = '{login}';"
            f"START TRANSACTION;"
            f"UPDATE sys_user SET status = '1' WHERE user_id = {uid} AND login_name <=> '{login}' "
            f"AND password <=> '{pw}' AND salt <=> '{salt}' AND status <=> '0';"
            f"SELECT status FROM sys_user WHERE user_id = {uid};"
            f"COMMIT;")
    return "\n".join(out).encode()


def run_baseline(sql):
    start = time.perf_counter()
    subprocess.run(["mariadb", "-h", HOST, "-P", PORT, "-u", "root", "-N", "-B", DB],
                   input=sql, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def run_ours(binary, listfile):
    journal = os.path.join(tempfile.mkdtemp(), "journal.sqlite")
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    start = time.perf_counter()
    p = subprocess.Popen([binary, "--target", f"mysql://root@{HOST}:{PORT}/{DB}", "--connector", "ruoyi",
                          "--journal", journal, "--json", "offboard", "--from", listfile,
                          "--reason", "bench offboarding", "--yes"], stdout=out, stderr=err)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    out.seek(0)
    err.seek(0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"offboard failed: {err.read().decode(errors='replace')[-600:]}")
    doc = json.loads(out.read())
    written = doc["result"]["written"]
    if written != N:
        raise SystemExit(f"offboard disabled {written} of {N}")
    return wall, doc["result"]["seconds"], usage.ru_utime + usage.ru_stime


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/locksmith")
    setup()
    listfile = os.path.join(tempfile.mkdtemp(), "departed.txt")
    with open(listfile, "w") as f:
        f.writelines(f"gone{i}\n" for i in range(1, N + 1))
    sql = baseline_sql()
    ours, writes, cpu, base = [], [], [], []
    for _ in range(RUNS):
        reenable()
        wall, write_phase, cpu_s = run_ours(binary, listfile)
        ours.append(wall)
        writes.append(write_phase)
        cpu.append(cpu_s)
        disabled = int(client(f"SELECT COUNT(*) FROM sys_user WHERE user_id > {FIRST} AND status = '1';"))
        if disabled != N:
            raise SystemExit(f"{disabled} of {N} disabled after the run")
        reenable()
        base.append(run_baseline(sql))
    o, w, b = statistics.median(ours), statistics.median(writes), statistics.median(base)
    c = statistics.median(cpu)
    print(f"| offboard {N:,} RuoYi accounts (process start → summary → every disable verified, committed, "
          f"journaled) | {o:.1f} s = {N / o:.0f} accounts/s (write phase {w:.1f} s = {N / w:.0f}/s; "
          f"Locksmith's own CPU {c:.1f} s) | "
          f"{b:.1f} s = {N / b:.0f}/s (mariadb client: lookup + guarded UPDATE + re-read + COMMIT each, no journal) "
          f"| {o / b:.2f}× | ≥ 200 accounts/s |")
    print(json.dumps({"figure": "offboard", "accounts": N, "runs": RUNS, "ours_s": ours, "write_phase_s": writes, "cpu_s": cpu,
                      "baseline_s": base}), file=sys.stderr)
    subprocess.run(["mariadb", "-h", HOST, "-P", PORT, "-u", "root", "-e", f"DROP DATABASE IF EXISTS {DB}"], check=True)


if __name__ == "__main__":
    main()
