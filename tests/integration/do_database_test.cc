// SPDX-License-Identifier: Apache-2.0
//
// A database server inside `veil do` (issue #13): Debian's PostgreSQL,
// its cluster made by initdb in the sandbox's /tmp, started by pg_ctl as
// the postgres user of the sandbox's own /etc/passwd, and answering psql
// inside the same sandbox over its unix socket (/tmp/.s.PGSQL.5432, a
// node of the VFS) and over loopback TCP; then stopped cleanly. The host
// keeps no trace: its own /tmp has no such socket afterwards.
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "tests/integration/shell_util.h"

namespace {

using veil::integration::Quote;
using veil::integration::Shell;
using veil::integration::ShellResult;

// The newest installed PostgreSQL's bin directory, or "".
std::string PostgresBin() {
  glob_t g{};
  std::string found;
  if (glob("/usr/lib/postgresql/*/bin/initdb", 0, nullptr, &g) == 0 &&
      g.gl_pathc > 0) {
    found = g.gl_pathv[g.gl_pathc - 1];
    found.resize(found.size() - std::string("/initdb").size());
  }
  globfree(&g);
  return found;
}

TEST(DoDatabaseTest, PostgresAnswersOverAUnixSocketAndLoopbackTcp) {
  if (geteuid() != 0) GTEST_SKIP() << "veil do needs root (the gofer)";
  const std::string bin = PostgresBin();
  if (bin.empty()) {
    GTEST_SKIP() << "needs PostgreSQL (Debian's postgresql package; "
                    "tools/deps.sh installs it)";
  }
  if (Shell("getent passwd postgres >/dev/null").status != 0)
    GTEST_SKIP() << "needs the postgres user (made by the postgresql package)";
  const std::string script = "export PATH=" + bin + R"sh(:$PATH
set -e
initdb -D /tmp/pg -A trust -E UTF8 --locale=C >/tmp/initdb.log 2>&1 ||
  { cat /tmp/initdb.log; exit 1; }
pg_ctl -D /tmp/pg -l /tmp/pg.log -w -t 60 \
  -o "-k /tmp -c listen_addresses=127.0.0.1 -p 5432" start >/dev/null ||
  { cat /tmp/pg.log; exit 1; }
ls -l /tmp/.s.PGSQL.5432 | cut -c1
psql -X -q -h /tmp -d postgres -Atc "
  create table t (id int primary key, v text);
  insert into t select g, md5(g::text) from generate_series(1, 1000) g;
  create index on t (v);
  select count(*), sum(id) from t;"
psql -X -h 127.0.0.1 -p 5432 -d postgres -Atc \
  "begin; update t set v = 'x' where id <= 10; commit;
   select count(*) from t where v = 'x'; select inet_server_addr();
   select current_user;"
pg_ctl -D /tmp/pg -m fast -w stop >/dev/null
grep -c 'database system is shut down' /tmp/pg.log
)sh";
  ShellResult r = Shell(std::string(VEIL_BINARY) +
                            " do --user postgres -- /bin/sh -c " +
                            Quote(script) + " 2>&1",
                        240);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output,
            "s\n"
            "1000|500500\n"
            "BEGIN\nUPDATE 10\nCOMMIT\n10\n127.0.0.1\npostgres\n"
            "1\n");
  struct stat st;
  EXPECT_NE(lstat("/tmp/.s.PGSQL.5432", &st), 0)
      << "the sandbox's socket node appeared on the host";
}

}  // namespace
