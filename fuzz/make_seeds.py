#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
#
# Writes the hand-made seeds of the structured fuzz targets (lisafs_server,
# overlay_layers) into fuzz/corpus/<target>/seed_*. Each seed spells out a
# meaningful session in the byte layout the target reads through
# FuzzedDataProvider, so that fuzzing starts deep instead of rediscovering
# Mount and Walk. Run it again after changing what a target consumes:
#
#   python3 fuzz/make_seeds.py
#
# FuzzedDataProvider (clang 14) takes byte strings from the front of the
# input and integers from the back, big end first, using as many bytes as
# the range needs; Fdp below writes both ends so that the target reads back
# exactly the values given here.
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


class Fdp:
    def __init__(self):
        self.front = bytearray()
        self.back = bytearray()  # In the order the target consumes them.

    def int(self, lo, hi, value, bits=64):
        """ConsumeIntegralInRange<T>(lo, hi) returning `value`."""
        rng, x = hi - lo, value - lo
        assert 0 <= x <= rng, (lo, hi, value)
        n = 0
        while n * 8 < bits and (rng >> (n * 8)) > 0:
            n += 1
        if n:
            self.back += x.to_bytes(n, "big")

    def u8(self, v):
        self.int(0, 255, v, 8)

    def u32(self, v):
        self.int(0, 2**32 - 1, v, 32)

    def u64(self, v):
        self.int(0, 2**64 - 1, v, 64)

    def i64(self, v):
        self.int(-2**63, 2**63 - 1, v, 64)

    def bool(self, v):
        self.u8(1 if v else 0)

    def pick(self, array, value):
        """PickValueInArray."""
        self.int(0, len(array) - 1, array.index(value))

    def raw(self, data):
        """ConsumeBytes(n): n was consumed (from the back) just before."""
        self.front += data

    def string(self, s):
        """ConsumeRandomLengthString: "\\\\" is a backslash, "\\" + other
        ends the string."""
        self.front += s.encode().replace(b"\\", b"\\\\") + b"\\x"

    def data(self):
        return bytes(self.front) + bytes(reversed(self.back))


def write_corpus(target, seeds):
    out = os.path.join(HERE, "corpus", target)
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(out, "seed_" + name), "wb") as f:
            f.write(data)


# ---- lisafs_server (fuzz/lisafs/server_fuzzer.cc) ----

NAMES = ["file", "dir", "inner", "esc", "escdir", "abs", "dotdot", "fifo",
         "new", "n2"]
XATTRS = ["user.x", "user.y", "trusted.overlay.opaque", "trusted.overlay.z",
          "security.capability", "system.posix_acl_access", "trusted.x"]
O_RDONLY, O_WRONLY, O_RDWR, O_TRUNC, O_DIRECTORY = 0, 1, 2, 0o1000, 0o200000
S_IFCHR, S_IFREG, S_IFBLK, S_IFIFO, S_IFSOCK = (0o20000, 0o100000, 0o60000,
                                                0o10000, 0o140000)
AT_REMOVEDIR, RENAME_NOREPLACE, RENAME_EXCHANGE = 0x200, 1, 2
ID_NONE = 0xffffffff
M = dict(Mount=1, Channel=2, FStat=3, SetStat=4, Walk=5, WalkStat=6,
         OpenAt=7, OpenCreateAt=8, Close=9, FSync=10, PWrite=11, PRead=12,
         MkdirAt=13, MknodAt=14, SymlinkAt=15, LinkAt=16, FStatFS=17,
         FAllocate=18, ReadLinkAt=19, Flush=20, Connect=21, UnlinkAt=22,
         RenameAt=23, Getdents64=24, FGetXattr=25, FSetXattr=26,
         FListXattr=27, FRemoveXattr=28, BindAt=29)


class Session:
    """Mirrors Session in server_fuzzer.cc, including the FDIDs the server
    hands out (from 1, in reply order; control lists before open ones)."""

    def __init__(self, options=0):
        self.f = Fdp()
        self.f.u8(options)
        self.control, self.open = [], []
        self.next_id = 1

    def new(self, kind):
        fd = self.next_id
        self.next_id += 1
        (self.control if kind == "c" else self.open).append(fd)
        return fd

    def fd(self, fd):
        known = self.control + self.open
        self.f.int(0, len(known), known.index(fd))

    def name(self, n):
        self.f.int(0, len(NAMES), NAMES.index(n))

    def xattr(self, n):
        self.f.int(0, len(XATTRS), XATTRS.index(n))

    def perm(self, p):
        self.f.int(0, 0o7777, p, 32)

    def ident(self, i=ID_NONE):
        self.f.pick([ID_NONE, 0, 1000], i)

    def flags(self, access, extra=0):
        self.f.pick([O_RDONLY, O_WRONLY, O_RDWR], access)
        self.f.u32(extra)

    def offset(self, off):
        self.f.bool(True)
        self.f.int(0, 1 << 20, off)

    def op(self, name):
        self.f.int(0, 31, M[name], 32)

    # One method per message; each returns the new FDIDs.
    def mount(self):
        self.op("Mount")
        self.f.int(131072, (1 << 20) + 4096, 131072, 32)
        return self.new("c")

    def walk(self, dirfd, names, found=None):
        self.op("Walk")
        self.fd(dirfd)
        self.f.int(0, 4, len(names))
        for n in names:
            self.name(n)
        return [self.new("c") for _ in range(len(names) if found is None
                                             else found)]

    def open_at(self, fd, access, extra=0):
        self.op("OpenAt")
        self.fd(fd)
        self.flags(access, extra)
        return self.new("o")

    def create(self, dirfd, name, mode=0o644):
        self.op("OpenCreateAt")
        self.fd(dirfd)
        self.name(name)
        self.perm(mode)
        self.ident()
        self.ident()
        self.flags(O_RDWR)
        return self.new("c"), self.new("o")

    def simple(self, op, fd):  # FStat, FStatFS, ReadLinkAt, Flush
        self.op(op)
        self.fd(fd)

    def batch(self, op, fds):  # Close, FSync
        self.op(op)
        self.f.int(1, 3, len(fds))
        for fd in fds:
            self.fd(fd)
        if op == "Close":
            for fd in fds:
                (self.control if fd in self.control else self.open).remove(fd)

    def pwrite(self, fd, off, data):
        self.op("PWrite")
        self.fd(fd)
        self.offset(off)
        self.f.int(0, 4096, len(data))
        self.f.raw(data)

    def pread(self, fd, off, count):
        self.op("PRead")
        self.fd(fd)
        self.offset(off)
        self.f.int(0, 1 << 16, count, 32)

    def setstat(self, fd, mask, mode=0, size=0):
        self.op("SetStat")
        self.fd(fd)
        self.f.u32(mask)
        self.perm(mode)
        self.ident()
        self.ident()
        self.f.int(0, 1 << 21, size)
        for _ in range(2):
            self.f.i64(1700000000)
            self.f.int(0, 999999999, 0, 32)

    def mkdir(self, dirfd, name, ok=True):
        self.op("MkdirAt")
        self.fd(dirfd)
        self.name(name)
        self.perm(0o755)
        self.ident()
        self.ident()
        return self.new("c") if ok else None

    def mknod(self, dirfd, name, kind, major=0, minor=0, ok=True):
        self.op("MknodAt")
        self.fd(dirfd)
        self.name(name)
        self.f.pick([S_IFREG, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK], kind)
        self.perm(0)
        self.ident(0)
        self.ident(0)
        for v in (major, minor):
            self.f.bool(v == 0)
            if v:
                self.f.u8(v)
        return self.new("c") if ok else None

    def symlink(self, dirfd, name, target_choice):
        self.op("SymlinkAt")
        self.fd(dirfd)
        self.name(name)
        self.f.int(0, 4, target_choice, 32)
        self.ident()
        self.ident()
        return self.new("c")

    def link(self, dirfd, name, target, ok=True):
        self.op("LinkAt")
        self.fd(dirfd)
        self.name(name)
        self.fd(target)
        return self.new("c") if ok else None

    def unlink(self, dirfd, name, rmdir=False):
        self.op("UnlinkAt")
        self.fd(dirfd)
        self.name(name)
        self.f.bool(rmdir)

    def rename(self, old_dir, old, new_dir, new, flags=0):
        self.op("RenameAt")
        self.fd(old_dir)
        self.name(old)
        self.fd(new_dir)
        self.name(new)
        self.f.pick([0, RENAME_NOREPLACE, RENAME_EXCHANGE], flags)

    def getdents(self, fd, count=4096):
        self.op("Getdents64")
        self.fd(fd)
        self.f.int(0, 65536, count, 32)

    def fallocate(self, fd, mode, off, length):
        self.op("FAllocate")
        self.fd(fd)
        self.f.u64(mode)
        self.f.int(0, 1 << 20, off)
        self.f.int(0, 1 << 20, length)

    def getxattr(self, fd, name, size=256):
        self.op("FGetXattr")
        self.fd(fd)
        self.xattr(name)
        self.f.int(0, 65536, size, 32)

    def setxattr(self, fd, name, value, flags=0):
        self.op("FSetXattr")
        self.fd(fd)
        self.xattr(name)
        self.f.int(0, 256, len(value))
        self.f.raw(value)
        self.f.pick([0, 1, 2], flags)

    def listxattr(self, fd, size=1024):
        self.op("FListXattr")
        self.fd(fd)
        self.f.int(0, 65536, size, 32)

    def removexattr(self, fd, name):
        self.op("FRemoveXattr")
        self.fd(fd)
        self.xattr(name)

    def raw_datagram(self, data):
        self.f.int(0, 31, 0, 32)
        self.f.int(0, 600, len(data))
        self.f.raw(data)
        if len(data) >= 16:
            self.f.int(0, 7, 1, 32)  # No descriptor attached.


def lisafs_server_seeds():
    seeds = {}

    s = Session()  # Walk down and read.
    root = s.mount()
    d, inner = s.walk(root, ["dir", "inner"])
    o = s.open_at(inner, O_RDONLY)
    s.pread(o, 0, 100)
    s.simple("FStat", inner)
    s.simple("FStatFS", root)
    s.batch("Close", [o, inner])
    seeds["read"] = s.f.data()

    s = Session()  # Create, write, read back, truncate, sync.
    root = s.mount()
    c, o = s.create(root, "new")
    s.pwrite(o, 0, b"hello world")
    s.pread(o, 0, 64)
    s.setstat(c, 0x200 | 0x2, 0o600, 3)  # size and mode
    s.fallocate(o, 0, 0, 8192)
    s.batch("FSync", [o])
    s.simple("Flush", o)
    seeds["write"] = s.f.data()

    s = Session()  # Directories: mkdir, create inside, list, remove.
    root = s.mount()
    nd = s.mkdir(root, "new")
    c, o = s.create(nd, "n2")
    dirfd = s.open_at(nd, O_RDONLY, O_DIRECTORY)
    s.getdents(dirfd)
    s.getdents(dirfd)
    s.unlink(nd, "n2")
    s.unlink(root, "new", rmdir=True)
    seeds["dirs"] = s.f.data()

    s = Session()  # Rename, exchange, link, unlink.
    root = s.mount()
    f, = s.walk(root, ["file"])
    s.rename(root, "file", root, "new")
    s.rename(root, "new", root, "dir", RENAME_EXCHANGE)
    s.link(root, "n2", f)
    s.unlink(root, "n2")
    rootdir = s.open_at(root, O_RDONLY, O_DIRECTORY)
    s.getdents(rootdir)
    seeds["rename"] = s.f.data()

    s = Session()  # Xattrs on a file and a directory.
    root = s.mount()
    f, = s.walk(root, ["file"])
    s.setxattr(f, "user.y", b"value")
    s.getxattr(f, "user.y")
    s.listxattr(f)
    s.removexattr(f, "user.y")
    d, = s.walk(root, ["dir"])
    s.setxattr(d, "trusted.overlay.opaque", b"y")
    s.getxattr(d, "trusted.overlay.opaque")
    s.getxattr(f, "security.capability")
    seeds["xattr"] = s.f.data()

    s = Session()  # Escapes: symlinks out, a whiteout, links to them.
    root = s.mount()
    esc, = s.walk(root, ["esc"])
    s.simple("ReadLinkAt", esc)
    escdir, = s.walk(root, ["escdir", "inner"], found=1)
    s.symlink(root, "new", 1)  # -> the absolute outside path
    s.mknod(root, "n2", S_IFCHR)  # whiteout
    s.mknod(root, "dotdot", S_IFBLK, 8, 1, ok=False)  # a device: refused
    s.link(root, "fifo", esc, ok=False)
    s.setstat(escdir, 0x2, 0o777)
    seeds["escape"] = s.f.data()

    s = Session(options=1)  # Read-only export refuses changes.
    root = s.mount()
    s.mkdir(root, "new", ok=False)
    f, = s.walk(root, ["file"])
    s.open_at(f, O_RDWR, O_TRUNC)
    s.open_at(f, O_RDONLY)
    seeds["readonly"] = s.f.data()

    s = Session()  # Garbage: a short datagram (ends the connection).
    s.mount()
    s.raw_datagram(b"\x05\x00\x00\x00\x04\x00\x00\x00" + b"\x01" * 12)
    seeds["raw"] = s.f.data()

    # A descriptor on every even-tagged request (option 64): alternately a
    # directory outside the export and the client's own channel end; the
    # server must close each unread before replying (issue #10, item 15).
    # The FStats carry them (and fail, EINVAL); the requests between go
    # through. Inline and with a worker pool (4).
    for options, name in ((64, "attach_every"), (64 | 4, "attach_every_pool")):
        s = Session(options=options)
        root = s.mount()  # tag 1
        s.simple("FStat", root)
        d, inner = s.walk(root, ["dir", "inner"])
        s.simple("FStat", root)
        o = s.open_at(inner, O_RDONLY)
        s.simple("FStat", root)
        s.pread(o, 0, 100)
        s.simple("FStat", root)
        c, o2 = s.create(root, "new")
        s.simple("FStat", root)
        s.pwrite(o2, 0, b"data")
        s.simple("FStat", root)
        s.batch("Close", [o, o2, inner])
        seeds[name] = s.f.data()

    # Deep chains (option 16: the fuzzer first makes CHAIN_DEPTH nested
    # directories over the wire, keeping FDIDs for the root, the deepest
    # level and the top). With a budget of two node descriptors (8) every
    # use of the deepest reopens thousands of closed ancestors.
    CHAIN_DEPTH = 3000
    s = Session(options=16 | 8)
    s.control, s.next_id = [1, 2, CHAIN_DEPTH + 1], CHAIN_DEPTH + 2
    s.simple("FStat", 2)
    o = s.open_at(2, O_RDONLY, O_DIRECTORY)
    s.getdents(o)
    s.mkdir(2, "new")
    s.batch("Close", [2])
    s.control.insert(1, 2)  # the fuzzer keeps closed FDIDs in its lists
    s.simple("FStat", CHAIN_DEPTH + 1)
    seeds["deep_chain"] = s.f.data()

    # The same with small caps on nodes and open files (32): the chain
    # stops with ENFILE at 64 nodes (its top's FDID, -1 here, is not used).
    s = Session(options=32 | 16 | 8)
    s.control, s.next_id = [1, 2, -1], 1000
    s.simple("FStat", 2)
    s.mkdir(1, "new", ok=False)
    s.batch("Close", [2])
    s.control.insert(1, 2)  # the fuzzer keeps closed FDIDs in its lists
    s.mkdir(1, "new")
    for name in ["file", "dir"]:
        s.walk(1, [name])
    seeds["deep_chain_caps"] = s.f.data()

    write_corpus("lisafs_server", seeds)


# ---- overlay_layers (fuzz/overlay/layers_fuzzer.cc) ----

OV_NAMES = ["a", "b", "c", "d", "e"]
OV_TARGETS = ["a", "../a", "/a", "b/c", "/", "..", "x"]
OV_XATTRS = ["trusted.overlay.opaque", "trusted.overlay.veil.origin",
             "trusted.overlay.impure", "trusted.overlay.redirect",
             "trusted.overlay.origin", "trusted.overlay.overlay.opaque",
             "trusted.overlay.overlay.x", "trusted.overlay.x",
             "trusted.overlay.", "trusted.overlay.overlay.", "user.a",
             "trusted.a", "security.a"]
OV_USER_XATTRS = ["user.a", "trusted.overlay.x", "trusted.overlay.opaque",
                  "trusted.a"]
(DIR, FILE, SYMLINK, WHITEOUT, FIFO, CHARDEV, HARDLINK, XATTR_ONLY) = range(8)
(LSTAT, STAT, READDIR, LISTXATTR, GETXATTR, READ, WRITE, CHMOD, SETXATTR,
 RMXATTR, UNLINK, RMDIR, RENAME, MKDIR, CREATE, LINK, TRUNCATE,
 MKWHITEOUT) = range(18)


class Overlay:
    """Mirrors LLVMFuzzerTestOneInput in layers_fuzzer.cc. Layer 0 is the
    upper; entries are made in the order given and must succeed."""

    def __init__(self, lowers=1):
        self.f = Fdp()
        self.f.bool(lowers == 2)
        self.n = lowers + 1
        self.dirs = [[""] for _ in range(self.n)]
        self.files = [[] for _ in range(self.n)]
        self.entries = []
        self.built = False

    def entry(self, layer, path, kind, arg=None, xattrs=()):
        self.entries.append((layer, path, kind, arg, xattrs))

    def _value(self, v):
        if isinstance(v, tuple) and v[0] == "origin":
            self.f.int(0, 6, 3, 32)
            self.f.bool(v[1] <= 64)
            if v[1] <= 64:
                self.f.int(0, 64, v[1], 32)
            else:
                self.f.u64(v[1])
        elif v in ("y", "n", ""):
            self.f.int(0, 6, ["y", "n", ""].index(v), 32)
        elif v == "y\0":
            self.f.int(0, 6, 5, 32)
        elif v == "Y":
            self.f.int(0, 6, 6, 32)
        else:
            self.f.int(0, 6, 4, 32)
            self.f.string(v)

    def _xattrs(self, xattrs):
        self.f.int(0, 2, len(xattrs), 32)
        for name, value in xattrs:
            self.f.pick(OV_XATTRS, name)
            self._value(value)

    def _build(self):
        self.built = True
        self.f.int(0, 24, len(self.entries), 32)
        for layer, path, kind, arg, xattrs in self.entries:
            parent, name = path.rsplit("/", 1)
            self.f.int(0, self.n - 1, layer)
            self.f.int(0, len(self.dirs[layer]) - 1,
                       self.dirs[layer].index(parent))
            self.f.pick(OV_NAMES, name)
            self.f.int(0, 7, kind, 32)
            if kind == DIR:
                self.dirs[layer].append(path)
            elif kind == FILE:
                self.f.string(arg or "")
                self.files[layer].append(path)
            elif kind == SYMLINK:
                self.f.pick(OV_TARGETS, arg)
            elif kind == HARDLINK:
                self.f.int(0, len(self.files[layer]) - 1,
                           self.files[layer].index(arg))
            self._xattrs(xattrs)

    def op(self, op, path, *extra):
        if not self.built:
            self._build()
        names = path.strip("/").split("/")
        self.f.int(1, 3, len(names), 32)
        for n in names:
            self.f.pick(OV_NAMES, n)
        self.f.int(0, 17, op, 32)
        if op == GETXATTR:
            self.f.pick(OV_XATTRS, extra[0])
        elif op == WRITE:
            self.f.bool(extra[0])  # True: O_RDWR, False: O_WRONLY|O_TRUNC
        elif op == SETXATTR:
            self.f.pick(OV_USER_XATTRS, extra[0])
            self._value(extra[1])
        elif op == RMXATTR:
            self.f.pick(OV_USER_XATTRS, extra[0])
        elif op in (RENAME, LINK):
            to = extra[0].strip("/").split("/")
            self.f.int(1, 3, len(to), 32)
            for n in to:
                self.f.pick(OV_NAMES, n)
            if op == RENAME:
                self.f.pick([0, 1, 2, 4], extra[1] if len(extra) > 1 else 0)
        elif op == TRUNCATE:
            self.f.int(0, 8192, extra[0], 32)

    def data(self):
        if not self.built:
            self._build()
        return self.f.data()


def overlay_layers_seeds():
    seeds = {}
    OPAQUE = ("trusted.overlay.opaque", "y")

    o = Overlay()  # Whiteouts and an opaque directory over a lower tree.
    o.entry(1, "/a", FILE, "lower a")
    o.entry(1, "/b", DIR)
    o.entry(1, "/b/c", FILE, "lower c")
    o.entry(1, "/c", DIR)
    o.entry(1, "/c/d", FILE, "d")
    o.entry(0, "/a", WHITEOUT)
    o.entry(0, "/b", DIR, xattrs=[OPAQUE])
    o.entry(0, "/c", DIR)
    o.entry(0, "/c/d", WHITEOUT)
    o.op(READDIR, "/b")
    o.op(READDIR, "/c")
    o.op(LSTAT, "/a")
    o.op(CREATE, "/a")
    o.op(MKDIR, "/c/d")
    o.op(RMDIR, "/c")
    seeds["whiteout"] = o.data()

    o = Overlay()  # Origins, well-formed and not.
    o.entry(1, "/a", FILE, "a")
    o.entry(1, "/b", FILE, "b")
    o.entry(1, "/c", DIR)
    o.entry(0, "/a", FILE, "a", [("trusted.overlay.veil.origin",
                                  ("origin", 5))])
    o.entry(0, "/b", FILE, "b", [("trusted.overlay.veil.origin", "1234567")])
    o.entry(0, "/c", DIR, xattrs=[("trusted.overlay.veil.origin",
                                   ("origin", 0xff00000000000001)),
                                  ("trusted.overlay.impure", "y")])
    o.entry(0, "/c/d", FILE, "d", [("trusted.overlay.veil.origin",
                                    ("origin", 3))])
    o.op(STAT, "/a")
    o.op(CHMOD, "/b")
    o.op(READDIR, "/c")
    o.op(LSTAT, "/c/d")
    o.op(RENAME, "/c/d", "/e")
    seeds["origin"] = o.data()

    o = Overlay()  # Escaped and private xattr names.
    o.entry(0, "/a", FILE, "a", [("trusted.overlay.overlay.x", "y"),
                                 ("trusted.overlay.x", "private")])
    o.entry(1, "/b", FILE, "b", [("trusted.overlay.overlay.opaque", "y"),
                                 ("user.a", "u")])
    o.op(LISTXATTR, "/a")
    o.op(GETXATTR, "/a", "trusted.overlay.x")
    o.op(SETXATTR, "/b", "trusted.overlay.x", "v")
    o.op(LISTXATTR, "/b")
    o.op(RMXATTR, "/b", "user.a")
    o.op(SETXATTR, "/b", "trusted.overlay.opaque", "y")
    seeds["xattr_names"] = o.data()

    o = Overlay(lowers=2)  # Three layers merged, whiteouts between.
    o.entry(2, "/a", DIR)
    o.entry(2, "/a/c", FILE, "c")
    o.entry(2, "/a/d", FILE, "d")
    o.entry(1, "/a", DIR)
    o.entry(1, "/a/b", FILE, "b")
    o.entry(1, "/a/d", WHITEOUT)
    o.entry(0, "/a", DIR)
    o.entry(0, "/a/e", FILE, "e")
    o.op(READDIR, "/a")
    o.op(RENAME, "/a/b", "/a/e")
    o.op(UNLINK, "/a/c")
    o.op(RMDIR, "/a")
    o.op(MKDIR, "/a/c")
    o.op(RENAME, "/a", "/b")
    seeds["three_layers"] = o.data()

    o = Overlay()  # A name of different types in different layers.
    o.entry(1, "/a", DIR)
    o.entry(1, "/a/b", FILE, "b")
    o.entry(0, "/a", FILE, "upper a")
    o.entry(1, "/b", FILE, "b")
    o.entry(0, "/b", DIR)
    o.entry(1, "/c", FIFO)
    o.entry(1, "/d", CHARDEV)
    o.entry(1, "/e", SYMLINK, "../a")
    o.op(STAT, "/a")
    o.op(WRITE, "/c", True)
    o.op(TRUNCATE, "/a", 3)
    o.op(READ, "/d")
    o.op(STAT, "/e")
    seeds["types"] = o.data()

    o = Overlay()  # Lower hard links and copy-up.
    o.entry(1, "/a", FILE, "shared")
    o.entry(1, "/b", HARDLINK, "/a")
    o.op(WRITE, "/a", True)
    o.op(CHMOD, "/b")
    o.op(LINK, "/a", "/c")
    o.op(RENAME, "/b", "/c", 2)
    seeds["hardlinks"] = o.data()

    o = Overlay()  # Redirects (not followed by default) and odd opaques.
    o.entry(1, "/c", DIR)
    o.entry(1, "/c/a", FILE, "a")
    o.entry(0, "/c", DIR, xattrs=[("trusted.overlay.redirect", ""),
                                  ("trusted.overlay.impure", "y")])
    o.entry(1, "/d", DIR)
    o.entry(1, "/d/a", FILE, "a")
    o.entry(0, "/d", DIR, xattrs=[("trusted.overlay.opaque", "y\0")])
    o.entry(0, "/e", DIR, xattrs=[("trusted.overlay.redirect", "/d")])
    o.op(LSTAT, "/c")
    o.op(READDIR, "/d")
    o.op(READDIR, "/e")
    o.op(MKWHITEOUT, "/b")
    seeds["redirect"] = o.data()

    write_corpus("overlay_layers", seeds)


if __name__ == "__main__":
    which = sys.argv[1:] or ["lisafs_server", "overlay_layers"]
    for target in which:
        fn = globals().get(target + "_seeds")
        if fn:
            fn()
