#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Prints one line per path under DIR: type, mode, owner, mtime and atime
(ns), size, device number, hard-link group, xattrs, symlink target and a
content hash. Two trees are equal for snapshot/restore when their digests
are. Usage: tree_digest.py [--no-atime] DIR"""
import hashlib
import os
import stat
import sys


def main():
    args = sys.argv[1:]
    atime = "--no-atime" not in args
    root = [a for a in args if not a.startswith("--")][0]
    links = {}
    out = []
    # Not os.walk: it stats through symlinks, and following a symlink moves
    # its atime.
    pending = [(root, "/")]
    while pending:
        dirpath, dirrel = pending.pop(0)
        names = sorted(os.listdir(dirpath))
        entries = [(dirpath, dirrel)] if dirrel == "/" else []
        for name in names:
            rel = (dirrel if dirrel != "/" else "") + "/" + name
            entries.append((os.path.join(dirpath, name), rel))
        for path, rel in entries:
            st = os.lstat(path)
            line = [rel, oct(st.st_mode), str(st.st_uid), str(st.st_gid),
                    "m=%d" % st.st_mtime_ns]
            if atime and not stat.S_ISDIR(st.st_mode):
                line.append("a=%d" % st.st_atime_ns)
            if not stat.S_ISDIR(st.st_mode):
                line.append("size=%d" % st.st_size)
                if st.st_nlink > 1:
                    key = (st.st_dev, st.st_ino)
                    line.append("link=" + links.setdefault(key, rel))
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                line.append("rdev=%d:%d" % (os.major(st.st_rdev),
                                            os.minor(st.st_rdev)))
            try:
                for x in sorted(os.listxattr(path, follow_symlinks=False)):
                    v = os.getxattr(path, x, follow_symlinks=False)
                    line.append("x[%s]=%s" % (x, v.hex()))
            except OSError:
                pass
            if stat.S_ISLNK(st.st_mode):
                line.append("-> " + os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                h = hashlib.blake2b(digest_size=16)
                # O_NOATIME (owner or root): reading must not move the
                # atimes this digest reports.
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_NOATIME)
                except PermissionError:
                    fd = os.open(path, os.O_RDONLY)
                with os.fdopen(fd, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
                line.append(h.hexdigest())
            out.append(" ".join(line))
            if stat.S_ISDIR(st.st_mode) and rel != dirrel:
                pending.append((path, rel))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
