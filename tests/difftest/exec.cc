// SPDX-License-Identifier: Apache-2.0
#include "tests/difftest/exec.h"

#include <algorithm>

namespace veil::difftest {

Outcome Execute(Backend& b, const Op& op, int fd) {
  Outcome out;
  switch (op.kind) {
    case OpKind::kSetCreds:
      break;
    case OpKind::kOpen:
      out.rc = b.Open(op.path, op.flags, op.mode);
      break;
    case OpKind::kClose:
      out.rc = b.Close(fd);
      break;
    case OpKind::kMkdir:
      out.rc = b.Mkdir(op.path, op.mode);
      break;
    case OpKind::kMknod:
      out.rc = b.Mknod(op.path, op.mode, op.dev);
      break;
    case OpKind::kSymlink:
      out.rc = b.Symlink(op.path2, op.path);
      break;
    case OpKind::kLink:
      out.rc = b.Link(op.path, op.path2, op.flags);
      break;
    case OpKind::kUnlink:
      out.rc = b.Unlink(op.path);
      break;
    case OpKind::kRmdir:
      out.rc = b.Rmdir(op.path);
      break;
    case OpKind::kRename:
      out.rc = b.Rename(op.path, op.path2, static_cast<unsigned>(op.flags));
      break;
    case OpKind::kStat:
      out.rc = b.Stat(op.path, op.flags, &out.st);
      break;
    case OpKind::kReadlink:
      out.rc = b.Readlink(op.path, &out.data);
      break;
    case OpKind::kChmod:
      out.rc = b.Chmod(op.path, op.mode);
      break;
    case OpKind::kChown:
      out.rc = b.Chown(op.path, op.uid, op.gid, op.flags);
      break;
    case OpKind::kUtimens:
      out.rc = b.Utimens(op.path, op.times, op.flags);
      break;
    case OpKind::kTruncate:
      out.rc = b.Truncate(op.path, op.offset);
      break;
    case OpKind::kAccess:
      out.rc = b.Access(op.path, op.flags, op.at_flags);
      break;
    case OpKind::kSetXattr:
      out.rc = b.SetXattr(op.path, op.name, op.data, op.flags);
      break;
    case OpKind::kGetXattr:
      out.rc = b.GetXattr(op.path, op.name, &out.data);
      break;
    case OpKind::kListXattr:
      out.rc = b.ListXattr(op.path, &out.names);
      std::sort(out.names.begin(), out.names.end());
      break;
    case OpKind::kRemoveXattr:
      out.rc = b.RemoveXattr(op.path, op.name);
      break;
    case OpKind::kRead:
      out.rc = b.Read(fd, op.count, &out.data);
      break;
    case OpKind::kPread:
      out.rc = b.Pread(fd, op.count, op.offset, &out.data);
      break;
    case OpKind::kWrite:
      out.rc = b.Write(fd, op.data);
      break;
    case OpKind::kPwrite:
      out.rc = b.Pwrite(fd, op.data, op.offset);
      break;
    case OpKind::kLseek:
      out.rc = b.Lseek(fd, op.offset, op.flags);
      break;
    case OpKind::kFtruncate:
      out.rc = b.Ftruncate(fd, op.offset);
      break;
    case OpKind::kFallocate:
      out.rc = b.Fallocate(fd, op.flags, op.offset, op.length);
      break;
    case OpKind::kFstat:
      out.rc = b.Fstat(fd, &out.st);
      break;
    case OpKind::kFchmod:
      out.rc = b.Fchmod(fd, op.mode);
      break;
    case OpKind::kGetdents:
      out.rc = b.Getdents(fd, &out.dents);
      std::sort(
          out.dents.begin(), out.dents.end(),
          [](const DirEntry& x, const DirEntry& y) { return x.name < y.name; });
      break;
  }
  return out;
}

std::string DiffOutcome(const Op& op, const Outcome& e, const Outcome& a,
                        const CompareOptions& options, InodeMatch* match) {
  if (op.kind == OpKind::kOpen) {
    if ((e.rc < 0 || a.rc < 0) && e.rc != a.rc) {
      return "returned " + FormatResult(e.rc) + " on expected, " +
             FormatResult(a.rc) + " on actual";
    }
    return "";
  }
  if (e.rc != a.rc) {
    return "returned " + FormatResult(e.rc) + " on expected, " +
           FormatResult(a.rc) + " on actual";
  }
  if (e.rc < 0) return "";
  if (e.data != a.data) {
    return "returned data " + Quote(e.data) + " on expected, " + Quote(a.data) +
           " on actual";
  }
  if (op.kind == OpKind::kStat || op.kind == OpKind::kFstat) {
    std::string d = DiffStat(e.st, a.st, NowSeconds(), options, match);
    if (!d.empty()) return "stat result: " + d;
  }
  if (e.names != a.names) {
    std::string ne, na;
    for (const std::string& n : e.names) ne += " " + Quote(n);
    for (const std::string& n : a.names) na += " " + Quote(n);
    return "xattr names {" + ne + " } on expected, {" + na + " } on actual";
  }
  if (e.dents.size() != a.dents.size()) {
    std::string ne, na;
    for (const DirEntry& d : e.dents) ne += " " + Quote(d.name);
    for (const DirEntry& d : a.dents) na += " " + Quote(d.name);
    return "entries {" + ne + " } on expected, {" + na + " } on actual";
  }
  for (size_t i = 0; i < e.dents.size(); ++i) {
    const DirEntry& de = e.dents[i];
    const DirEntry& da = a.dents[i];
    if (de.name != da.name) {
      return "entry " + Quote(de.name) + " on expected, " + Quote(da.name) +
             " on actual";
    }
    if (de.type != da.type) {
      return "entry " + Quote(de.name) + " has d_type " +
             std::to_string(de.type) + " on expected, " +
             std::to_string(da.type) + " on actual";
    }
    // The root's ".." is outside the tree on the host (the chroot's
    // parent), and itself in veil: it identifies nothing comparable.
    if (de.name == "..") continue;
    std::string why;
    if (!match->Pair(de.ino, da.ino, &why)) {
      return "entry " + Quote(de.name) + ": " + why;
    }
  }
  return "";
}

}  // namespace veil::difftest
