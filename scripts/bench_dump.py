"""Backup restore from a dump file: `reset --from-backup FILE.sql.gz --dry-run`
against `gzip -dc FILE > /dev/null` on the same file, interleaved in the same run.

The dump is generated here: a real mysqldump of a RuoYi database (its
sys_user section, the account's row in it) placed after ~1 GB (uncompressed)
of another table's extended INSERTs, the way a CRM's log tables dwarf its user
table; gzip'd. Locksmith reads every byte of it either way (the plan names
the file's SHA-256), so the row's place does not shorten the scan.
Prints one Markdown table row. BENCH_DUMP_MB sets the filler size (default 1024).
"""
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/locksmith")
HOST, PORT = "127.0.0.1", "3306"
DB = f"ls_bench_dump_{os.getpid()}"
MB = int(os.environ.get("BENCH_DUMP_MB", "1024"))
RUNS = int(os.environ.get("BENCH_DUMP_RUNS", "3"))


def mariadb(sql, db=None):
    argv = ["mariadb", "-h", HOST, "-P", PORT, "-u", "root", "--default-character-set=utf8mb4"]
    if db:
        argv.append(db)
    subprocess.run(argv, input=sql, check=True, capture_output=True)


def timed(argv):
    """Wall seconds and peak RSS (KiB) of one process, measured by GNU time: a
    child forked from Python would count Python's own pages in its ru_maxrss."""
    start = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    secs = time.perf_counter() - start
    err = p.stderr.decode(errors="replace")
    if p.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed: {err[-600:]}")
    return secs, int(err.strip().splitlines()[-1])


def filler_lines(total_bytes):
    """Extended INSERT lines of ~1 MB, random hex payloads (compresses ~2:1, like real rows)."""
    written, row_id = 0, 0
    while written < total_bytes:
        rows = []
        size = 0
        while size < 1_000_000:
            row_id += 1
            payload = os.urandom(48).hex()
            row = f"({row_id},'bench operation {row_id % 97}','{payload}','{{\"ip\":\"10.0.{row_id % 255}.1\"}}',NOW())"
            rows.append(row)
            size += len(row) + 1
        line = ("INSERT INTO `sys_oper_log_bench` VALUES " + ",".join(rows) + ";\n").encode()
        written += len(line)
        yield line


def make_dump(path):
    mariadb(f"DROP DATABASE IF EXISTS {DB}; CREATE DATABASE {DB} CHARACTER SET utf8mb4".encode())
    with open(os.path.join(ROOT, "../shared/vendor-schemas/ruoyi-4.8.3.sql"), "rb") as f:
        mariadb(f.read(), DB)
    with open(os.path.join(ROOT, "fixtures/ruoyi.sql"), "rb") as f:
        mariadb(f.read(), DB)
    real = subprocess.run(["mariadb-dump", "-h", HOST, "-P", PORT, "-u", "root", DB, "sys_user"],
                          check=True, capture_output=True).stdout
    # The live row changes after the "backup", so the plan has something to restore.
    mariadb(b"UPDATE sys_user SET password = 'ffffffffffffffffffffffffffffffff' WHERE user_id = 1", DB)
    head, sep, rest = real.partition(b"--\n-- Table structure")
    with gzip.open(path, "wb", compresslevel=6) as gz:
        gz.write(head)
        gz.write(b"CREATE TABLE `sys_oper_log_bench` (\n  `oper_id` bigint NOT NULL,\n  `title` varchar(50),\n"
                 b"  `payload` varchar(200),\n  `oper_param` varchar(2000),\n  `oper_time` datetime,\n"
                 b"  PRIMARY KEY (`oper_id`)\n) ENGINE=InnoDB;\n")
        for line in filler_lines(MB * 1024 * 1024):
            gz.write(line)
        gz.write(sep + rest)
    return os.path.getsize(path)


def main():
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "nightly.sql.gz")
    gz_bytes = make_dump(path)
    ours, base, rss, base_rss = [], [], [], []
    for _ in range(RUNS):
        s, r = timed(["gzip", "-dc", path])
        base.append(s)
        base_rss.append(r)
        s, r = timed([BIN, "--target", f"mysql://root@{HOST}:{PORT}/{DB}", "--connector", "ruoyi",
                      "--journal", os.path.join(tmp, "j.sqlite"), "reset", "admin",
                      "--from-backup", path, "--reason", "bench", "--dry-run"])
        ours.append(s)
        rss.append(r)
    mariadb(f"DROP DATABASE IF EXISTS {DB}".encode())
    os.remove(path)
    o, b = statistics.median(ours), statistics.median(base)
    print(f"| backup restore from a mysqldump .sql.gz, {MB:,} MiB uncompressed ({gz_bytes/1e6:.0f} MB gzip'd), "
          f"account's table last (`reset --from-backup --dry-run`, process start → plan) | {o:.2f} s, peak RSS "
          f"{max(rss)/1024:.1f} MiB | {b:.2f} s (`gzip -dc FILE > /dev/null`, peak RSS {max(base_rss)/1024:.1f} MiB) "
          f"| {o/b:.2f}× | ≤ 1.5×, RSS < 50 MB |")


if __name__ == "__main__":
    sys.exit(main())
