# SPDX-License-Identifier: Apache-2.0
#
# bench/workloads/workload.py — the workloads of bench/workloads/run.sh,
# run by the host's python3 wherever it is started (natively, under veil
# do, under runsc do). Prints "ROW MILLISECONDS" per row; each row is
# timed inside the environment (time.perf_counter), so the environment's
# own start is not in it (the startup row measures that apart).
#   python3 workload.py WORK BOUND TARBALL
# WORK: a scratch directory on the environment's /tmp; BOUND: a
# directory of the host's disk (a bind under veil), or "-" to skip those
# rows; TARBALL: a tar of ~5,000 small files; ONLY (optional): the one
# row to run.
import os
import shutil
import subprocess
import sys
import time

work, bound, tarball = sys.argv[1], sys.argv[2], sys.argv[3]
only = sys.argv[4] if len(sys.argv) > 4 else None


def row(name, fn):
    if only and name != only:
        return
    # A row whose program fails prints "fail" (an old runsc's ls -l
    # answers EINVAL here), and the others still run.
    t0 = time.perf_counter()
    try:
        fn()
    except (subprocess.CalledProcessError, OSError) as e:
        print(f"{name} fail", flush=True)
        print(f"{name}: {e}", file=sys.stderr)
        return
    print(f"{name} {(time.perf_counter() - t0) * 1000:.1f}", flush=True)


def sh(cmd):
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)


def sqlite(db, sql):
    subprocess.run(["sqlite3", db], input=sql.encode(), check=True,
                   stdout=subprocess.DEVNULL)


def inserts_in_one_transaction(where):
    db = os.path.join(where, "tx.db")
    sql = "create table t(id integer primary key, v text);\nbegin;\n"
    sql += "".join(f"insert into t(v) values('row {i}');\n"
                   for i in range(20000))
    sql += "commit;\n"
    return lambda: sqlite(db, sql)


def autocommit_inserts(where):
    db = os.path.join(where, "auto.db")
    sql = "create table t(id integer primary key, v text);\n"
    sql += "".join(f"insert into t(v) values('row {i}');\n"
                   for i in range(1000))
    return lambda: sqlite(db, sql)


def untar_find_ls_rm():
    d = os.path.join(work, "tree")
    os.mkdir(d)
    try:
        sh(f"tar xf {tarball} -C {d} && find {d} | wc -l && ls -lR {d}")
    finally:
        sh(f"rm -rf {d}")


def stat_loop():
    p = os.path.join(work, "f")
    open(p, "w").close()
    for _ in range(20000):
        os.stat(p)


def big_dir():
    d = os.path.join(work, "big")
    os.mkdir(d)
    for i in range(40000):
        open(os.path.join(d, f"entry-{i:05d}"), "w").close()
    return d


row("sqlite_20k_tx_tmp", inserts_in_one_transaction(work))
row("sqlite_1k_auto_tmp", autocommit_inserts(work))
if bound != "-":
    row("sqlite_1k_auto_bound", autocommit_inserts(bound))
row("untar_find_ls_rm_5k", untar_find_ls_rm)
row("stat_loop_20k", stat_loop)
if not only or only == "ls_l_40k":
    d = big_dir()
    row("ls_l_40k", lambda: sh(f"ls -l {d}"))
    shutil.rmtree(d)
