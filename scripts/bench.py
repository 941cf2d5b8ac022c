"""Reset and lookup against the raw mariadb client, plus the journal figures.

Prints a Markdown report. Baselines run in the same process, interleaved with
the measured runs, so machine load affects both sides alike.
"""
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target/release/locksmith")
RUNS = int(os.environ.get("BENCH_RUNS", "15"))
ROWS = [int(n) for n in os.environ.get("BENCH_ROWS", "10000 100000 1000000").split()]
HOST = os.environ.get("LOCKSMITH_TEST_MYSQL_HOST", "127.0.0.1")
PORT = os.environ.get("LOCKSMITH_TEST_MYSQL_PORT", "3306")
DB = f"ls_bench_{os.getpid()}"


def client(sql, db=DB, capture=True):
    return subprocess.run(
        ["mariadb", "-h", HOST, "-P", PORT, "-u", "root", "--default-character-set=utf8mb4", "-N", "-B", db],
        input=sql.encode(), capture_output=capture, check=True,
    ).stdout.decode()


def timed(argv, stdin=b""):
    """Wall seconds and peak RSS (KiB) of one child process."""
    start = time.perf_counter()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    p.stdin.write(stdin)
    p.stdin.close()
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    secs = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[:4]} failed: {err.decode(errors='replace')[-400:]}")
    return secs, usage.ru_maxrss


def setup(schema, fixture):
    subprocess.run(["mariadb", "-h", HOST, "-P", PORT, "-u", "root", "-e",
                    f"DROP DATABASE IF EXISTS {DB}; CREATE DATABASE {DB} CHARACTER SET utf8mb4"], check=True)
    with open(os.path.join(ROOT, "../shared/vendor-schemas", schema), "rb") as f:
        client(f.read().decode())
    with open(os.path.join(ROOT, "fixtures", fixture), "rb") as f:
        client(f.read().decode())


def median(xs):
    return statistics.median(xs)


def bench_reset(connector, schema, fixture, login, user_id, baseline_sql):
    setup(schema, fixture)
    journal = tempfile.mkdtemp()
    ours, base = [], []
    for i in range(RUNS):
        pw = f"Bench#{i:04d}-pass"
        s, _ = timed([BIN, "--target", f"mysql://root@{HOST}:{PORT}/{DB}", "--connector", connector,
                      "--journal", os.path.join(journal, "j.sqlite"), "reset", login,
                      "--reason", "bench", "--new-password-stdin", "--yes"], (pw + "\n").encode())
        ours.append(s)
        s, _ = timed(["mariadb", "-h", HOST, "-P", PORT, "-u", "root", DB], baseline_sql(i, user_id).encode())
        base.append(s)
    return median(ours), median(base)


def ruoyi_sql(i, user_id):
    # The guarded UPDATE Locksmith runs, with a precomputed hash, a re-read and COMMIT.
    salt = f"{i:06x}"
    new = hashlib.md5(f"zhangsan{'Bench#%04d-pass' % i}{salt}".encode()).hexdigest()
    return (f"START TRANSACTION; UPDATE sys_user SET password = '{new}', salt = '{salt}', pwd_update_date = NOW() "
            f"WHERE user_id = {user_id} AND login_name <=> 'zhangsan'; "
            f"SELECT password, salt FROM sys_user WHERE user_id = {user_id}; COMMIT;")


def ruoyi_vue_sql(i, user_id):
    # A bcrypt value computed ahead (cost 10, same as Locksmith writes): the client pays no hashing.
    value = "$2a$10$7JB720yubVSZvUI0rEqK/.VqGOZTH.ulu33dHOiBE8ByOhJIrdAu2"
    return (f"START TRANSACTION; UPDATE sys_user SET password = '{value}', pwd_update_date = NOW() "
            f"WHERE user_id = {user_id} AND user_name <=> 'zhangsan'; "
            f"SELECT password FROM sys_user WHERE user_id = {user_id}; COMMIT;")


def bench_lookup():
    setup("ruoyi-4.8.3.sql", "ruoyi.sql")
    client("CREATE INDEX bench_login ON sys_user (login_name);")
    results = []
    have = 0
    for n in ROWS:
        client(f"INSERT INTO sys_user (user_id, login_name, user_name, email, phonenumber, password, salt) "
               f"SELECT 1000 + seq, CONCAT('user', seq), CONCAT('用户', seq), CONCAT('u', seq, '@example.cn'), "
               f"LPAD(seq, 11, '1'), MD5(seq), 'abcdef' FROM seq_{have + 1}_to_{n};")
        have = n
        term = f"user{n // 2}"
        # The statement Locksmith runs for `lookup TERM`, from its trace log in this run.
        sql = traced_lookup_sql(term)
        ours, base, rss = [], [], []
        for _ in range(RUNS):
            s, r = timed([BIN, "--target", f"mysql://root@{HOST}:{PORT}/{DB}", "--connector", "ruoyi", "lookup", term])
            ours.append(s)
            rss.append(r)
            s, _ = timed(["mariadb", "-h", HOST, "-P", PORT, "-u", "root", "-N", "-B", DB], sql.encode())
            base.append(s)
        results.append((n, median(ours), median(base), max(rss)))
    return results


def inline_lookup_values(sql, term, admin_values, limit, where_pattern):
    """Fills the placeholders of one traced lookup SELECT with the values Locksmith binds: the
    admin rule's values, the tier CASE (the exact term, then prefixes), the WHERE's LIKE patterns
    (`where_pattern`), the scan's first tier and the page size + 1. Fails loudly on a
    placeholder it cannot place."""
    case_start = sql.index("(CASE WHEN")
    case_end = sql.index(" END)", case_start)
    parts = sql.split("?")
    out, at, admins = [], 0, list(admin_values)
    for part in parts[:-1]:
        at += len(part)
        if at < case_start:
            if not admins:
                raise SystemExit(f"bench: an admin-rule placeholder without a value, after {part[-40:]!r}")
            value = f"'{admins.pop(0)}'"
        elif at < case_end:
            value = f"'{term}'" if "THEN" not in sql[case_start:at] else f"'{term}%'"
        elif part.rstrip().endswith("LIKE"):
            value = f"'{where_pattern}'"
        elif part.rstrip().endswith(">="):
            value = "2"
        elif part.rstrip().endswith("LIMIT"):
            value = str(limit + 1)
        else:
            raise SystemExit(f"bench: a lookup placeholder the baseline does not know, after {part[-40:]!r}")
        out.append(part + value)
        at += 1
    return "".join(out) + parts[-1] + ";"


def traced_selects(argv):
    """The SELECTs a locksmith command ran, in order, as its trace log shows them."""
    env = dict(os.environ, LOCKSMITH_LOG="trace")
    run = subprocess.run(argv, capture_output=True, env=env, check=True)
    lines = [l for l in run.stderr.decode().splitlines() if 'query sql="SELECT t.' in l]
    if not lines:
        raise SystemExit("bench: the lookup's trace log shows no SELECT")
    return [l.split('sql="', 1)[1].rsplit('" bound=', 1)[0].replace('\\"', '"') for l in lines]


def traced_lookup_sql(term):
    """`locksmith lookup TERM` as the client would run it: the indexed head (login/phone
    prefixes) and, when it does not fill the page, the scan that fills it in."""
    argv = [BIN, "--target", f"mysql://root@{HOST}:{PORT}/{DB}", "--connector", "ruoyi", "lookup", term]
    selects = traced_selects(argv)
    patterns = [f"{term}%", f"%{term}%"] if len(selects) == 2 else [f"%{term}%"]
    # The scan's LIMIT is the room the head left; 50 + 1 here reads at most a few rows more.
    return "\n".join(inline_lookup_values(q, term, ["1"], 50, p) for q, p in zip(selects, patterns))


def first_frame():
    """Process start → the demo console's first frame on screen, read through tmux."""
    times = []
    for i in range(RUNS):
        session = f"lsbench{os.getpid()}_{i}"
        start = time.perf_counter()
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", f"{BIN} demo --lang en"], check=True)
        try:
            while True:
                screen = subprocess.run(["tmux", "capture-pane", "-t", session, "-p"], capture_output=True).stdout.decode()
                if "Demo" in screen:
                    times.append(time.perf_counter() - start)
                    break
                if time.perf_counter() - start > 10:
                    raise SystemExit("the demo console never drew")
                time.sleep(0.002)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    # tmux's own start-up is part of the figure: it overstates the console's time.
    return median(times)


def main():
    journal = [json.loads(line) for line in sys.argv[1].splitlines() if line.strip()]
    cpu = platform.processor() or platform.machine()
    print(f"Machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}, {cpu}; "
          f"MariaDB {client('SELECT VERSION();', db='mysql').strip()}; runs per figure: {RUNS} (median).\n")
    print("| figure | Locksmith | baseline | ratio | target |")
    print("|---|---|---|---|---|")
    ours, base = bench_reset("ruoyi", "ruoyi-4.8.3.sql", "ruoyi.sql", "zhangsan", 100, ruoyi_sql)
    print(f"| reset end-to-end, RuoYi md5 (process start → verified commit → journal outcome) | {ours*1000:.1f} ms | "
          f"{base*1000:.1f} ms (mariadb client, guarded UPDATE + re-read + COMMIT) | {ours/base:.2f}× | ≤ 1.5× |")
    ours, base = bench_reset("ruoyi-vue", "ruoyi-vue-3.9.2.sql", "ruoyi-vue.sql", "zhangsan", 100, ruoyi_vue_sql)
    print(f"| reset end-to-end, RuoYi-Vue bcrypt cost 10 | {ours*1000:.1f} ms | {base*1000:.1f} ms (client, precomputed hash) "
          f"| {ours/base:.2f}× | ≤ 1.5× |")
    for n, o, b, rss in bench_lookup():
        print(f"| lookup first page, {n:,} rows, name/login substring (full scan) | {o*1000:.1f} ms, peak RSS {rss/1024:.1f} MiB "
              f"| {b*1000:.1f} ms (client, same SELECT) | {o/b:.2f}× | ≤ 1.10×, RSS < 50 MB and flat |")
    fs = next((j for j in journal if j["figure"] == "journal_filesystem"), None)
    where = f" on {fs['fstype']} ({fs['mount']}, the default journal's filesystem)" if fs else ""
    if fs and fs["fstype"] in ("tmpfs", "ramfs"):
        where += " — fsync is free here: this figure does not measure durable writes"
    for j in journal:
        if j["figure"] == "journal_durable_pairs_per_second":
            print(f"| journal: durable intent+outcome pairs ({j['pairs']} pairs){where} | {j['value']:.0f} pairs/s | — | — | ≥ 500/s |")
        elif j["figure"] == "audit_verify_seconds":
            print(f"| audit verify, {j['entries']:,} entries ({j['file_bytes']/1e6:.0f} MB) | {j['value']:.2f} s | — | — | ≤ 5 s at 1,000,000 |")
    for j in journal:
        if j["figure"] == "console_frame_ms_200x60":
            print(f"| console: account-list frame at 200×60 (render + diff, median; p99 {j['p99']:.2f} ms) | {j['value']:.2f} ms | — | — | ≤ 2 ms |")
        if j["figure"] == "console_bytes_per_keypress":
            print(f"| console: bytes to the terminal per ↓ in the account list | {j['value']:.0f} B | — | — | ≤ 2 KB |")
    print(f"| console: first frame of `locksmith demo` after process start (via tmux, includes tmux start) | {first_frame()*1000:.0f} ms | — | — | ≤ 150 ms |")
    subprocess.run(["mariadb", "-h", HOST, "-P", PORT, "-u", "root", "-e", f"DROP DATABASE IF EXISTS {DB}"], check=True)


if __name__ == "__main__":
    main()
