"""A reset at the physical floor, fsyncs per reset, and the indexed lookup (issue 16 §5).

- reset, RuoYi md5 and RuoYi-Vue bcrypt: Locksmith against the floor, which is one hash
  computed by an independent implementation (Python's hashlib / the bcrypt package) in this
  process plus the mariadb client running the same guarded UPDATE, re-read and COMMIT;
- fsyncs per reset (strace -f -c), the whole process: connect, intent, UPDATE, outcome, exit;
- lookup `--starts-with` on 1,000,000 JeecgBoot rows (username and phone carry the vendor's
  unique indexes) against the client running the same SELECT, values inlined.

Run by scripts/bench with the oracle venv's Python (it has bcrypt). Prints table rows.
"""
import hashlib
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the shared helpers: client, timed, setup, median)

import bcrypt  # noqa: E402

BIN, HOST, PORT, DB, RUNS = bench.BIN, bench.HOST, bench.PORT, bench.DB, bench.RUNS
LOOKUP_ROWS = int(os.environ.get("BENCH_FLOOR_ROWS", "1000000"))
TARGET = f"mysql://root@{HOST}:{PORT}/{DB}"


def reset_argv(connector, journal, login):
    return [BIN, "--target", TARGET, "--connector", connector, "--journal", journal,
            "reset", login, "--reason", "bench", "--new-password-stdin", "--yes"]


def md5_floor(i):
    """RuoYi 4.x: md5(login + password + salt), hex; the guarded UPDATE Locksmith runs."""
    start = time.perf_counter()
    salt = os.urandom(3).hex()
    value = hashlib.md5(f"zhangsan{'Bench#%04d-pass' % i}{salt}".encode()).hexdigest()
    hashed = time.perf_counter() - start
    sql = (f"START TRANSACTION; UPDATE sys_user SET password = '{value}', salt = '{salt}', pwd_update_date = NOW() "
           f"WHERE user_id = 100 AND login_name <=> 'zhangsan'; "
           f"SELECT password, salt FROM sys_user WHERE user_id = 100; COMMIT;")
    return hashed, sql


def bcrypt_floor(i):
    """RuoYi-Vue: BCrypt cost 10, `$2a$`; one hash, as the floor pays it."""
    start = time.perf_counter()
    value = bcrypt.hashpw(f"Bench#{i:04d}-pass".encode(), bcrypt.gensalt(10, prefix=b"2a")).decode()
    hashed = time.perf_counter() - start
    sql = (f"START TRANSACTION; UPDATE sys_user SET password = '{value}', pwd_update_date = NOW() "
           f"WHERE user_id = 100 AND user_name <=> 'zhangsan'; "
           f"SELECT password FROM sys_user WHERE user_id = 100; COMMIT;")
    return hashed, sql


def bench_reset_floor(connector, schema, fixture, login, floor):
    bench.setup(schema, fixture)
    journal = os.path.join(bench.tempfile.mkdtemp(), "j.sqlite")
    # The first reset creates the journal, its key and its folder: not a reset's cost.
    bench.timed(reset_argv(connector, journal, login), b"Warm#up-pass-0\n")
    ours, base = [], []
    for i in range(RUNS):
        s, _ = bench.timed(reset_argv(connector, journal, login), f"Bench#{i:04d}-pass\n".encode())
        ours.append(s)
        hashed, sql = floor(i)
        s, _ = bench.timed(["mariadb", "-h", HOST, "-P", PORT, "-u", "root", DB], sql.encode())
        base.append(hashed + s)
    return bench.median(ours), bench.median(base), journal


def fsyncs_per_reset(connector, journal, login):
    """fsync + fdatasync calls of whole reset processes (strace -f -c), median of 5."""
    counts = []
    for i in range(5):
        out = os.path.join(os.path.dirname(journal), f"strace{i}.txt")
        argv = ["strace", "-f", "-c", "-e", "trace=fsync,fdatasync,sync_file_range,msync", "-o", out]
        bench.timed(argv + reset_argv(connector, journal, login), f"Strace#{i:04d}-pass\n".encode())
        with open(out) as f:
            total = [line for line in f.read().splitlines() if line.strip().endswith("total")]
        counts.append(int(total[-1].split()[2]) if total else 0)
    return bench.median(counts)


def bench_indexed_lookup():
    bench.setup("jeecgboot-3.7.0.sql", "jeecg.sql")
    bench.client(
        "INSERT INTO sys_user (id, username, realname, password, salt, email, phone, status, del_flag, work_no) "
        f"SELECT LPAD(seq, 32, '0'), CONCAT('u', seq), CONCAT('用户', seq), MD5(seq), 'abcdefgh', "
        f"CONCAT('u', seq, '@example.cn'), CONCAT('139', LPAD(seq, 8, '0')), 1, 0, CONCAT('W', seq) "
        f"FROM seq_1_to_{LOOKUP_ROWS};")
    bench.client("ANALYZE TABLE sys_user;")
    term = f"u{LOOKUP_ROWS // 20}"  # u50000: itself and u500000…u500009 at 1M rows
    argv = [BIN, "--target", TARGET, "--connector", "jeecg", "lookup", term, "--starts-with", "--limit", "20"]
    (select,) = bench.traced_selects(argv)
    sql = bench.inline_lookup_values(select, term, ["admin"], 20, f"{term}%")
    explain = bench.client("EXPLAIN " + sql)
    ours, base = [], []
    for _ in range(RUNS):
        s, _ = bench.timed(argv)
        ours.append(s)
        s, _ = bench.timed(["mariadb", "-h", HOST, "-P", PORT, "-u", "root", "-N", "-B", DB], sql.encode())
        base.append(s)
    uses_index = bool(re.search(r"uniq_sys_user_username|idx_su_del_username", explain))
    return bench.median(ours), bench.median(base), uses_index


def main():
    ours, base, journal = bench_reset_floor("ruoyi", "ruoyi-4.8.3.sql", "ruoyi.sql", "zhangsan", md5_floor)
    print(f"| reset at the floor, RuoYi md5 (process start → verified commit → outcome) | {ours*1000:.1f} ms "
          f"| {base*1000:.1f} ms (hashlib md5 + mariadb client, same guarded UPDATE) | {ours/base:.2f}× | ≤ 1.3× |")
    n = fsyncs_per_reset("ruoyi", journal, "zhangsan")
    print(f"| fsyncs per reset (strace -f -c, whole process: intent, outcome, exit) | {n:.0f} | 8 before the WAL journal "
          f"| — | 2 |")
    ours, base, _ = bench_reset_floor("ruoyi-vue", "ruoyi-vue-3.9.2.sql", "ruoyi-vue.sql", "zhangsan", bcrypt_floor)
    print(f"| reset at the floor, RuoYi-Vue bcrypt cost 10 | {ours*1000:.1f} ms "
          f"| {base*1000:.1f} ms (Python bcrypt, one hash + mariadb client) | {ours/base:.2f}× | ≤ 1.3× |")
    ours, base, uses_index = bench_indexed_lookup()
    index = "the username index" if uses_index else "NO INDEX (check EXPLAIN)"
    print(f"| lookup --starts-with, {LOOKUP_ROWS:,} JeecgBoot rows ({index}) | {ours*1000:.1f} ms "
          f"| {base*1000:.1f} ms (client, same SELECT) | {ours/base:.2f}× | ≤ 1.1× and < 20 ms |")
    subprocess.run(["mariadb", "-h", HOST, "-P", PORT, "-u", "root", "-e", f"DROP DATABASE IF EXISTS {DB}"], check=True)


if __name__ == "__main__":
    main()
