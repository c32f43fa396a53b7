// SPDX-License-Identifier: Apache-2.0
//
// Dynamic programs under `veil do` (issue #13): the host's own dynamically
// linked coreutils, sqlite3, python3, tar and git, run on the host's
// rootfs with the interpreter and every library loaded from the VFS, print
// exactly what they print on the host. Each script works in $W: a fresh
// tmpfs directory on the host (/dev/shm, so sizes and block counts are
// tmpfs's on both sides), the sandbox's /tmp under veil.
//
// The default mode only: under --strict, file mappings (the dynamic
// loader's) are not served yet (sentry/sandbox/README.md, #13).
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "tests/integration/shell_util.h"

namespace {

using veil::integration::Quote;
using veil::integration::Shell;
using veil::integration::ShellResult;

class DoDynamicTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "veil do needs root (the gofer)";
  }

  static void NeedProgram(const char* path) {
    if (access(path, X_OK) != 0)
      GTEST_SKIP() << "needs " << path << " (tools/deps.sh installs it)";
  }

  // `script` (run by `program -c`) on the host and under veil, with the
  // same output and a zero status on both.
  static void ExpectSameAsHost(const std::string& program,
                               const std::string& script) {
    ShellResult host = Shell(
        "W=$(mktemp -d -p /dev/shm veil-dyn.XXXXXX) && export W && cd / && " +
        program + " -c " + Quote(script) + "; s=$?; rm -rf \"$W\"; exit $s");
    ASSERT_EQ(host.status, 0) << host.output;
    // The gofer's note that it confines itself with chroot where
    // pivot_root is refused (some container hosts) is not the script's.
    ShellResult veil = Shell(std::string(VEIL_BINARY) +
                                 " do --env W=/tmp -- " + program + " -c " +
                                 Quote(script) +
                                 " >/dev/shm/veil-dyn.out.$$ 2>&1; s=$?;"
                                 " grep -v 'falling back to chroot'"
                                 " /dev/shm/veil-dyn.out.$$;"
                                 " rm -f /dev/shm/veil-dyn.out.$$; exit $s",
                             120);
    EXPECT_EQ(veil.status, 0);
    EXPECT_EQ(veil.output, host.output);
  }
};

// ls -l, stat, find -printf, du, sort and friends in a pipeline.
TEST_F(DoDynamicTest, CoreutilsPipelinesMatchTheHost) {
  NeedProgram("/usr/bin/stat");
  ExpectSameAsHost("/bin/sh", R"sh(set -e
cd "$W"
mkdir -p d/sub; printf 'b\na\nc\n' > d/f1; printf 'xyz\n' > d/sub/f2
ln -s f1 d/l
touch -h -d '2021-03-04 05:06:07' d/f1 d/sub/f2 d/l d/sub d
ls -l d | sed 1d | awk '{print $1, $2, $5, $6, $7, $8, $9, $10, $11}'
stat -c '%n %s %a %F %Y %h' d/f1 d/sub d/l
find d -printf '%p %y %s %m %TY-%Tm-%Td\n' | sort
du -a d | sort -k2
sort d/f1 | uniq | wc -l
cat d/f1 d/sub/f2 | tr a-z A-Z | sort -r
md5sum d/f1 d/sub/f2 | sed 's# .*/# #'
cp -a d e && diff -r d e && echo same
mv e/f1 e/f9 && ls e && rm -rf d e
echo ok
)sh");
}

// The sqlite3 of issue #13: a transaction, 1000 autocommit inserts, an
// index, integrity_check, WAL, and two processes writing one database.
TEST_F(DoDynamicTest, Sqlite3MatchesTheHost) {
  NeedProgram("/usr/bin/sqlite3");
  ExpectSameAsHost("/bin/sh", R"sh(set -e
cd "$W"
sqlite3 t.db 'create table t(a integer primary key, b text, c int);'
sqlite3 t.db 'begin; insert into t(b,c) values ("x",1),("y",2); commit;'
i=0; while [ $i -lt 1000 ]; do echo "insert into t(b,c) values('r$i',$i);"; i=$((i+1)); done > ins.sql
sqlite3 t.db < ins.sql
sqlite3 t.db 'create index ib on t(b); pragma integrity_check; select count(*), sum(c) from t;'
sqlite3 t.db 'pragma journal_mode=wal;'
for p in p1 p2; do
  ( for j in 1 2 3 4 5 6 7 8 9 10; do
      sqlite3 -cmd '.timeout 20000' t.db "insert into t(b,c) values('$p',$j);"
    done ) &
done
wait
sqlite3 t.db "select b, count(*), sum(c) from t where b in ('p1','p2') group by b; pragma integrity_check;"
echo ok
)sh");
}

// python3 importing what issue #13 names, a file workload, sqlite3, and
// child processes.
TEST_F(DoDynamicTest, Python3MatchesTheHost) {
  NeedProgram("/usr/bin/python3");
  ExpectSameAsHost("/usr/bin/python3", R"py(
import os, json, sqlite3, tempfile, shutil, subprocess, hashlib, sys
d = tempfile.mkdtemp(dir=os.environ["W"])
for i in range(50):
    with open(os.path.join(d, f"f{i}"), "w") as f:
        json.dump({"i": i, "sq": i * i}, f)
names = sorted(os.listdir(d))
print("total", sum(json.load(open(os.path.join(d, n)))["sq"] for n in names))
h = hashlib.sha256()
for n in names:
    h.update(open(os.path.join(d, n), "rb").read())
print("sha", h.hexdigest())
shutil.copytree(d, d + ".copy")
print("copied", len(os.listdir(d + ".copy")))
shutil.rmtree(d + ".copy")
db = sqlite3.connect(os.path.join(d, "x.db"))
db.execute("create table t(a)")
db.executemany("insert into t values(?)", [(i,) for i in range(100)])
db.commit()
print("rows", db.execute("select count(*), sum(a) from t").fetchone())
child = f"import os; print('child', os.getppid() == {os.getpid()})"
out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True)
print(out.stdout.strip(), out.returncode)
print("ls", subprocess.run("ls | wc -l", shell=True, cwd=d, capture_output=True,
                           text=True).stdout.strip())
st = os.stat(os.path.join(d, "f1"))
print("size", st.st_size, oct(st.st_mode))
shutil.rmtree(d)
print("ok")
)py");
}

// tar czf / tar xzf of /usr/share/doc, compared with diff -r (links not
// followed: some point outside the tree).
TEST_F(DoDynamicTest, TarOfUsrShareDocMatchesTheHost) {
  NeedProgram("/usr/bin/tar");
  ExpectSameAsHost("/bin/sh", R"sh(set -e
cd "$W"
tar czf doc.tgz -C /usr/share/doc .
mkdir x && tar xzf doc.tgz -C x
diff -r --no-dereference /usr/share/doc x && echo same
find x | wc -l
echo ok
)sh");
}

TEST_F(DoDynamicTest, GitMatchesTheHost) {
  NeedProgram("/usr/bin/git");
  ExpectSameAsHost("/bin/sh", R"sh(set -e
cd "$W"; export HOME="$W" GIT_AUTHOR_DATE='2021-01-01T00:00:00Z'
export GIT_COMMITTER_DATE='2021-01-01T00:00:00Z'
git init -q -b main r && cd r
git config user.email a@b.c; git config user.name t
echo hello > a; mkdir s; echo x > s/b
git add . && git commit -q -m first
echo more >> a; git commit -q -am second
git log --format='%H %s'
git status --short | wc -l
echo ok
)sh");
}

// Credentials: util-linux setpriv and python's os module switch users
// as on the host, and the VFS checks as the user they switched to.
TEST_F(DoDynamicTest, CredentialSwitchesMatchTheHost) {
  NeedProgram("/usr/bin/setpriv");
  NeedProgram("/usr/bin/python3");
  ExpectSameAsHost("/bin/sh", R"sh(set -e
cd "$W"; chmod 1777 .
setpriv --reuid=1000 --regid=1000 --clear-groups sh -c '
  id; touch f; stat -c "%u %g %a" f
  cat /etc/shadow > /dev/null 2>&1 || echo denied
  grep -E "^(Uid|Gid|Groups|CapEff|CapPrm):" /proc/self/status'
python3 -c '
import os
os.setgroups([5, 3]); os.setresgid(50, 50, 50); os.setresuid(1000, 1000, 0)
print(os.getresuid(), os.getresgid(), os.getgroups())
try:
    open("/etc/shadow").close()
except PermissionError:
    print("denied")
os.setuid(0)
print(os.getuid(), os.geteuid())
try:
    os.setuid(0)
    os.setresuid(0, 0, 0)
except PermissionError:
    print("no way back")
'
# A user's write to a set-id file it may write drops the bits.
python3 -c '
import os
open("s", "w").close(); os.chmod("s", 0o6777)
pid = os.fork()
if pid == 0:
    os.setgid(1000); os.setuid(1000)
    with open("s", "a") as f:
        f.write("x")
    os._exit(0)
os.waitpid(pid, 0)
print(oct(os.stat("s").st_mode))
'
echo ok
)sh");
}

// Event fds (eventfd, epoll over a pipe and the others, timerfd through
// libc, signalfd), shared with a child, as /proc names them.
TEST_F(DoDynamicTest, EventFdsMatchTheHost) {
  NeedProgram("/usr/bin/python3");
  ExpectSameAsHost("/usr/bin/python3", R"py(
import os, select, signal, ctypes, struct, time
libc = ctypes.CDLL(None, use_errno=True)
r, w = os.pipe()
ep = select.epoll()
ep.register(r, select.EPOLLIN)
print("empty", ep.poll(0))
os.write(w, b"x")
print("pipe", [(fd == r, ev) for fd, ev in ep.poll(1)])
e = os.eventfd(3, os.EFD_NONBLOCK)
os.eventfd_write(e, 4)
print("eventfd", os.eventfd_read(e))
try:
    os.eventfd_read(e)
except BlockingIOError:
    print("eventfd empty")
ep.register(e, select.EPOLLIN)
os.eventfd_write(e, 1)
print("both", sorted((fd == e, ev) for fd, ev in ep.poll(1)))
# timerfd via libc
t = libc.timerfd_create(1, 0)  # CLOCK_MONOTONIC
spec = struct.pack("qqqq", 0, 0, 0, 20_000_000)  # 20 ms, once
print("settime", libc.timerfd_settime(t, 0, spec, None))
ep2 = select.epoll()
ep2.register(t, select.EPOLLIN)
ready = ep2.poll(2)
print("timer", [fd == t for fd, _ in ready], struct.unpack("Q", os.read(t, 8))[0])
# signalfd via libc
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
mask = struct.pack("Q", 1 << (signal.SIGUSR1 - 1)) + bytes(120)
s = libc.signalfd(-1, mask, 0)
os.kill(os.getpid(), signal.SIGUSR1)
info = os.read(s, 128)
print("signalfd", struct.unpack("I", info[:4])[0] == signal.SIGUSR1)
print("links", sorted(os.readlink(f"/proc/self/fd/{fd}") for fd in (e, t, s, ep.fileno())))
print("modes", [oct(os.fstat(fd).st_mode) for fd in (e, t, s, ep.fileno())])
print("flags", os.get_blocking(e), os.get_inheritable(e))
child = os.fork()
if child == 0:
    os.eventfd_write(e, 9)
    os._exit(0)
os.waitpid(child, 0)
print("from child", os.eventfd_read(e))
print("ok")
)py");
}

// memfd_create (written, mapped, named in /proc) and POSIX shared memory
// and semaphores in /dev/shm under multiprocessing with four children.
TEST_F(DoDynamicTest, MemfdAndDevShmMatchTheHost) {
  NeedProgram("/usr/bin/python3");
  ExpectSameAsHost("/usr/bin/python3", R"py(
import os, mmap
fd = os.memfd_create("my-buf", os.MFD_CLOEXEC)
os.write(fd, b"hello memfd")
os.lseek(fd, 0, 0)
print(os.read(fd, 5), os.fstat(fd).st_size, oct(os.fstat(fd).st_mode))
print(os.readlink(f"/proc/self/fd/{fd}"))
m = mmap.mmap(fd, 11)
m[0:5] = b"HELLO"
print(os.pread(fd, 11, 0))
print(os.get_inheritable(fd))
try:
    os.memfd_create("x" * 250)
except OSError as e:
    print("long", e.errno)
print("ok")
import multiprocessing as mp, os
from multiprocessing import shared_memory
s = shared_memory.SharedMemory(create=True, size=64)
s.buf[:5] = b"abcde"
t = shared_memory.SharedMemory(name=s.name)
print(bytes(t.buf[:5]))
t.close(); s.close(); s.unlink()
lock = mp.Lock()
with lock:
    print("locked")
v = mp.Value("i", 0)
def work(v):
    with v.get_lock():
        v.value += 1
ps = [mp.Process(target=work, args=(v,)) for _ in range(4)]
[p.start() for p in ps]; [p.join() for p in ps]
print("value", v.value, [p.exitcode for p in ps])
)py");
}

// bash process substitution and /dev/stdin over pipes: /dev/fd/N and
// /proc/self/fd/N open the pipe itself (magic links).
TEST_F(DoDynamicTest, ProcessSubstitutionMatchesTheHost) {
  NeedProgram("/bin/bash");
  ExpectSameAsHost("/bin/bash", R"sh(
echo hi | cat /dev/stdin
echo piped | cat /proc/self/fd/0
diff <(printf 'a\nb\n') <(printf 'a\nc\n'); echo "diff=$?"
cat <(echo from-subst) <(echo second)
cd "$W" && echo data > f && exec 5<f && rm f && cat /proc/self/fd/5 /dev/fd/5
cd /proc/self/cwd && pwd -P | sed "s#$W#W#"
echo ok
)sh");
}

// Socket pairs: asyncio's event loop (its self-pipe is one), a pair used
// directly, multiprocessing's duplex Pipe with a child.
TEST_F(DoDynamicTest, SocketPairsMatchTheHost) {
  NeedProgram("/usr/bin/python3");
  ExpectSameAsHost("/usr/bin/python3", R"py(
import asyncio, socket, os, array, multiprocessing as mp
async def main():
    r, w = await asyncio.open_connection(sock=socket.socketpair()[0]) if False else (None, None)
    q = asyncio.Queue()
    async def producer():
        for i in range(3):
            await asyncio.sleep(0.01)
            await q.put(i)
    asyncio.get_running_loop().call_soon(lambda: None)
    t = asyncio.create_task(producer())
    got = [await q.get() for _ in range(3)]
    await t
    return got
print("asyncio", asyncio.run(main()))
a, b = socket.socketpair()
a.sendall(b"ping")
print("pair", b.recv(4), a.family == socket.AF_UNIX, oct(os.fstat(a.fileno()).st_mode))
print("link", os.readlink(f"/proc/self/fd/{a.fileno()}").startswith("socket:["))
p1, p2 = mp.Pipe()
def child(c):
    c.send({"hello": [1, 2]})
    c.close()
pr = mp.Process(target=child, args=(p2,))
pr.start(); print("mp.Pipe", p1.recv()); pr.join(); print("exit", pr.exitcode)
)py");
}

// No descriptor reaches a task over a socket pair (SO_PASSRIGHTS is off,
// sentry/kernel/sys_socket.cc), and the task cannot turn that back on.
TEST_F(DoDynamicTest, DescriptorsCannotBePassedOverSocketPairs) {
  NeedProgram("/usr/bin/python3");
  ShellResult r = Shell(std::string(VEIL_BINARY) + " do -- /usr/bin/python3 -c " +
                            Quote(R"py(
import socket, os, array
a, b = socket.socketpair()
r, w = os.pipe()
try:
    a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [r]))])
    print("sent")
except OSError as e:
    print("refused", e.errno)
for s in (a, b):
    try:
        s.setsockopt(socket.SOL_SOCKET, 83, 1)
        print("turned on")
    except OSError as e:
        print("stays off", e.errno)
)py") + " 2>&1",
                        60);
  EXPECT_EQ(r.output, "refused 1\nstays off 1\nstays off 1\n");
}

// Sockets of the sandbox's own network namespace: unix sockets bound to
// paths of the VFS (a relative path, a hard link and a rename reach the
// same socket; the names getsockname, getpeername and accept report),
// Linux's errnos for binds and connects that fail, an accept restarted
// after a signal, datagrams, abstract and autobound names, and TCP and
// UDP echoes over loopback (v4 and v6): the same output as the host's.
TEST_F(DoDynamicTest, SocketsMatchTheHost) {
  NeedProgram("/usr/bin/python3");
  ExpectSameAsHost("/usr/bin/python3", R"py(
import socket, os, errno, signal, time
W = os.environ["W"]
os.chdir(W)
def err(what, f):
    try:
        r = f()
        print(what, "ok", r)
    except OSError as e:
        print(what, errno.errorcode.get(e.errno, e.errno))
# A unix stream server and a client process; relative path, umask.
os.umask(0o022)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind("s.sock"); srv.listen(8)
st = os.stat("s.sock")
print("node", oct(st.st_mode), "name", srv.getsockname())
pid = os.fork()
if pid == 0:
    c = socket.socket(socket.AF_UNIX)
    c.connect(W + "/s.sock")
    c.sendall(b"hello " + c.getpeername().encode() + b" " + repr(c.getsockname()).encode())
    c.recv(1)
    os._exit(0)
conn, addr = srv.accept()
print("accepted", repr(addr), "local", conn.getsockname(), "got", conn.recv(100).decode())
conn.sendall(b"x"); conn.close(); os.waitpid(pid, 0)
# A hard link reaches the same socket; a rename too.
os.link("s.sock", "l.sock"); os.rename("s.sock", "r.sock")
for p in ("l.sock", "r.sock"):
    c = socket.socket(socket.AF_UNIX); c.connect(p)
    a, _ = srv.accept(); print("via", p, "peer", c.getpeername()); a.close(); c.close()
# Errors.
err("bind existing", lambda: socket.socket(socket.AF_UNIX).bind("r.sock"))
err("bind twice", lambda: srv.bind("other.sock"))
print("other left", os.path.exists("other.sock"))
err("connect missing", lambda: socket.socket(socket.AF_UNIX).connect("nope.sock"))
open("plain", "w").close()
err("connect file", lambda: socket.socket(socket.AF_UNIX).connect("plain"))
err("connect dir", lambda: socket.socket(socket.AF_UNIX).connect(W))
err("bind too long", lambda: socket.socket(socket.AF_UNIX).bind("x" * 120))
err("bind no dir", lambda: socket.socket(socket.AF_UNIX).bind("no/such.sock"))
err("accept not listening", lambda: socket.socket(socket.AF_UNIX).accept())
err("accept dgram", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).accept())
err("family", lambda: socket.socket(socket.AF_APPLETALK, socket.SOCK_DGRAM))
nb = socket.socket(socket.AF_UNIX); nb.bind("nb.sock"); nb.listen(1); nb.setblocking(False)
err("accept nonblocking", lambda: nb.accept())
nb.close()
err("connect closed", lambda: socket.socket(socket.AF_UNIX).connect("nb.sock"))
# An accept interrupted by a signal whose handler has SA_RESTART (the
# default of Python's signal.signal) is made again; then a connection.
signal.signal(signal.SIGALRM, lambda *a: print("alarm"))
pid = os.fork()
if pid == 0:
    time.sleep(0.3)
    socket.socket(socket.AF_UNIX).connect("r.sock"); os._exit(0)
signal.setitimer(signal.ITIMER_REAL, 0.1)
a, _ = srv.accept(); print("accept after alarm", a.recv(1)); os.waitpid(pid, 0)
# Datagrams: connected, and abstract names.
d1 = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); d1.bind("d1.sock")
d2 = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); d2.connect("d1.sock")
d2.send(b"dgram"); print("dgram", d1.recv(10), d2.getpeername())
d3 = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
print("sendto", d3.sendto(b"to a path", "d1.sock"), d1.recvfrom(20)[0])
err("sendto missing", lambda: d3.sendto(b"x", "nope.sock"))
err("sendto file", lambda: d3.sendto(b"x", "plain"))
err("sendto stream", lambda: c.sendto(b"x", "r.sock"))
ab = socket.socket(socket.AF_UNIX); ab.bind("\0veil-test-abstract"); ab.listen(1)
c = socket.socket(socket.AF_UNIX); c.connect("\0veil-test-abstract")
a, addr = ab.accept(); print("abstract", ab.getsockname(), c.getpeername(), repr(addr))
au = socket.socket(socket.AF_UNIX); au.bind(""); print("autobind", len(au.getsockname()))
# Loopback TCP and UDP, v4 and v6.
for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    s = socket.socket(fam); s.bind((host, 0)); s.listen(1); port = s.getsockname()[1]
    pid = os.fork()
    if pid == 0:
        c = socket.create_connection((host, port)); c.sendall(b"tcp echo"); c.recv(100); os._exit(0)
    a, addr = s.accept(); data = a.recv(100); a.sendall(data)
    print("tcp", fam.name, data, addr[0], a.getsockname()[1] == port); os.waitpid(pid, 0)
    u1 = socket.socket(fam, socket.SOCK_DGRAM); u1.bind((host, 0))
    u2 = socket.socket(fam, socket.SOCK_DGRAM); u2.sendto(b"udp", u1.getsockname())
    m, frm = u1.recvfrom(10); print("udp", fam.name, m, frm[0], frm[1] == u2.getsockname()[1])
print("gai", sorted({a[4][0] for a in socket.getaddrinfo("localhost", 5432, type=socket.SOCK_STREAM)}))
)py");
}

// What a task cannot do with sockets: pass a descriptor (SO_PASSRIGHTS is
// off on every unix socket, not only on pairs), reach the sentry's
// private names, connect to a socket node it may not write, bind a
// privileged port or make a raw socket without the capability.
TEST_F(DoDynamicTest, SocketsRefuseWhatLinuxRefuses) {
  NeedProgram("/usr/bin/python3");
  ShellResult r = Shell(std::string(VEIL_BINARY) + " do -- /usr/bin/python3 -c " +
                            Quote(R"py(
import socket, os, array, errno
def err(what, f):
    try:
        f(); print(what, "ok", flush=True)
    except OSError as e:
        print(what, errno.errorcode.get(e.errno, e.errno), flush=True)
os.chdir("/tmp"); os.umask(0o022)
srv = socket.socket(socket.AF_UNIX); srv.bind("root.sock"); srv.listen(4)
c = socket.socket(socket.AF_UNIX); c.connect("root.sock"); a, _ = srv.accept()
r, w = os.pipe()
err("SCM_RIGHTS", lambda: c.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [r]))]))
err("SO_PASSRIGHTS on", lambda: c.setsockopt(socket.SOL_SOCKET, 83, 1))
err("private name", lambda: socket.socket(socket.AF_UNIX).connect("\0veil/1"))
err("bind private name", lambda: socket.socket(socket.AF_UNIX).bind("\0veil/999"))
err("packet family", lambda: socket.socket(17, socket.SOCK_RAW))
pid = os.fork()
if pid == 0:
    os.setgid(65534); os.setuid(65534)
    err("user connect 0755", lambda: socket.socket(socket.AF_UNIX).connect("root.sock"))
    err("user bind port 80", lambda: socket.socket().bind(("127.0.0.1", 80)))
    err("user bind port 8080", lambda: socket.socket().bind(("127.0.0.1", 8080)))
    err("user raw socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, 1))
    os._exit(0)
os.waitpid(pid, 0)
err("root bind port 80", lambda: socket.socket().bind(("127.0.0.1", 80)))
)py") + " 2>&1",
                        60);
  EXPECT_EQ(r.output,
            "SCM_RIGHTS EPERM\n"
            "SO_PASSRIGHTS on EPERM\n"
            "private name ECONNREFUSED\n"
            "bind private name EADDRINUSE\n"
            "packet family EAFNOSUPPORT\n"
            "user connect 0755 EACCES\n"
            "user bind port 80 EACCES\n"
            "user bind port 8080 ok\n"
            "user raw socket EPERM\n"
            "root bind port 80 ok\n");
}

// A host socket is never reachable from the sandbox, nor the sandbox's
// from the host: a unix socket the host listens on in a bound directory
// (its node is visible there) and an abstract one refuse the sandbox's
// connect; a socket the sandbox binds in the bound directory leaves a
// node on the host that refuses the host's connect.
TEST_F(DoDynamicTest, HostAndSandboxSocketsDoNotMeet) {
  NeedProgram("/usr/bin/python3");
  const std::string made = Shell("mktemp -d -p /dev/shm veil-sock.XXXXXX").output;
  const std::string d = made.substr(0, made.find('\n'));
  ASSERT_FALSE(d.empty());
  // The host's listeners, for as long as the test runs.
  ShellResult host = Shell(
      "cd " + Quote(d) + " && /usr/bin/python3 -c " + Quote(R"py(
import socket, os, time
s = socket.socket(socket.AF_UNIX); s.bind("host.sock"); s.listen(4)
a = socket.socket(socket.AF_UNIX); a.bind("\0veil-host-only-test"); a.listen(4)
open("ready", "w").close()
time.sleep(30)
)py") + " >/dev/null 2>&1 & echo $!; while [ ! -e " + Quote(d + "/ready") +
          " ]; do sleep 0.05; done");
  const std::string host_pid = host.output.substr(0, host.output.find('\n'));
  ShellResult r = Shell(
      std::string(VEIL_BINARY) + " do --bind " + d + ":/h -- /usr/bin/python3 -c " +
          Quote(R"py(
import socket, os, errno, stat
def err(what, f):
    try:
        f(); print(what, "ok", flush=True)
    except OSError as e:
        print(what, errno.errorcode.get(e.errno, e.errno), flush=True)
print("node", stat.S_ISSOCK(os.lstat("/h/host.sock").st_mode))
err("host path", lambda: socket.socket(socket.AF_UNIX).connect("/h/host.sock"))
err("host abstract", lambda: socket.socket(socket.AF_UNIX).connect("\0veil-host-only-test"))
s = socket.socket(socket.AF_UNIX); s.bind("/h/sandbox.sock"); s.listen(4)
c = socket.socket(socket.AF_UNIX); c.connect("/h/sandbox.sock"); print("sandbox's own ok", flush=True)
open("/h/bound", "w").close()
import time
while os.path.exists("/h/bound"):
    time.sleep(0.05)
)py") + " 2>&1 & v=$!; while [ ! -e " + Quote(d + "/bound") +
          " ]; do sleep 0.05; done; /usr/bin/python3 -c " + Quote(R"py(
import socket, sys, errno
try:
    socket.socket(socket.AF_UNIX).connect(sys.argv[1]); print("host reached the sandbox")
except OSError as e:
    print("from the host", errno.errorcode[e.errno])
)py") + " " + Quote(d + "/sandbox.sock") + "; rm -f " + Quote(d + "/bound") +
          "; wait $v",
      60);
  Shell("kill " + host_pid + "; rm -rf " + Quote(d));
  EXPECT_EQ(r.output,
            "node True\n"
            "host path ECONNREFUSED\n"
            "host abstract ECONNREFUSED\n"
            "sandbox's own ok\n"
            "from the host ECONNREFUSED\n");
}

}  // namespace
