// SPDX-License-Identifier: Apache-2.0
#include "tests/difftest/tree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <set>

#include "tests/difftest/op.h"

namespace veil::difftest {
namespace {

std::string Child(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

void ReadFull(Backend& b, const std::string& path, Node* node) {
  if (S_ISLNK(node->st.mode)) {
    node->readlink_rc = b.Readlink(path, &node->target);
    node->perturbed = true;  // readlink updates the link's atime
  }
  std::vector<std::string> names;
  node->xattr_rc = b.ListXattr(path, &names);
  if (node->xattr_rc >= 0) {
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      std::string value;
      int rc = b.GetXattr(path, name, &value);
      node->xattrs.emplace_back(name,
                                rc < 0 ? "<" + FormatResult(rc) + ">" : value);
    }
  }
  if (S_ISREG(node->st.mode)) {
    node->perturbed = true;  // reading updates atime
    int fd = b.Open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);
    if (fd < 0) {
      node->content_rc = fd;
      return;
    }
    while (node->contents.size() < kMaxContents) {
      std::string chunk;
      int n =
          b.Pread(fd, 65536, static_cast<off_t>(node->contents.size()), &chunk);
      if (n <= 0) {
        node->content_rc = n;
        break;
      }
      node->contents += chunk;
    }
    b.Close(fd);
  }
}

std::string Octal(uint64_t v) {
  char buf[32];
  snprintf(buf, sizeof(buf), "0%" PRIo64, v);
  return buf;
}

std::string TimeText(int64_t sec, int64_t nsec, int64_t now) {
  if (IsRecent(sec, now)) return "recent";
  char buf[64];
  snprintf(buf, sizeof(buf), "%" PRId64 ".%09" PRId64, sec, nsec);
  return buf;
}

bool SameTimeClass(int64_t es, int64_t en, int64_t as, int64_t an,
                   int64_t now) {
  bool er = IsRecent(es, now), ar = IsRecent(as, now);
  if (er || ar) return er && ar;
  return es == as && en == an;
}

std::string DiffBytes(const char* what, const std::string& e,
                      const std::string& a) {
  if (e == a) return "";
  size_t at = 0;
  while (at < e.size() && at < a.size() && e[at] == a[at]) ++at;
  return std::string(what) + " differ at byte " + std::to_string(at) +
         " (sizes " + std::to_string(e.size()) + " vs " +
         std::to_string(a.size()) + "): expected " + Quote(e.substr(at, 32)) +
         ", actual " + Quote(a.substr(at, 32));
}

}  // namespace

void WalkTree(Backend& b, WalkDepth depth, Tree* out) {
  out->clear();
  Node& root = (*out)["/"];
  root.stat_rc = b.Stat("/", AT_SYMLINK_NOFOLLOW, &root.st);
  if (root.stat_rc == 0 && depth == WalkDepth::kFull) ReadFull(b, "/", &root);
  std::vector<std::string> dirs;
  if (root.stat_rc == 0) dirs.push_back("/");
  for (size_t i = 0; i < dirs.size(); ++i) {
    const std::string dir = dirs[i];
    Node& node = (*out)[dir];
    node.perturbed = true;  // getdents updates the directory's atime
    int fd = b.Open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK, 0);
    if (fd < 0) {
      node.list_rc = fd;
      continue;
    }
    std::vector<DirEntry> entries;
    node.list_rc = b.Getdents(fd, &entries);
    b.Close(fd);
    std::sort(
        entries.begin(), entries.end(),
        [](const DirEntry& x, const DirEntry& y) { return x.name < y.name; });
    for (const DirEntry& entry : entries) {
      if (entry.name == "." || entry.name == "..") continue;
      std::string path = Child(dir, entry.name);
      Node& child = (*out)[path];
      child.stat_rc = b.Stat(path, AT_SYMLINK_NOFOLLOW, &child.st);
      child.dirent_type = entry.type;
      if (child.stat_rc != 0) continue;
      child.dirent_ino_matches = entry.ino == child.st.ino;
      if (depth == WalkDepth::kFull) ReadFull(b, path, &child);
      if (S_ISDIR(child.st.mode)) dirs.push_back(path);
    }
  }
}

bool InodeMatch::Pair(uint64_t e, uint64_t a, std::string* why) {
  auto ie = e2a_.find(e);
  auto ia = a2e_.find(a);
  if (ie != e2a_.end() && ie->second != a) {
    *why = "expected inode #" + std::to_string(e) +
           " is already matched to another actual inode";
    return false;
  }
  if (ia != a2e_.end() && ia->second != e) {
    *why = "actual inode #" + std::to_string(a) +
           " is already matched to another expected inode (the sides "
           "disagree on which names share an inode)";
    return false;
  }
  e2a_[e] = a;
  a2e_[a] = e;
  return true;
}

uint64_t InodeMatch::ActualFor(uint64_t e) const {
  auto it = e2a_.find(e);
  return it == e2a_.end() ? 0 : it->second;
}

uint64_t InodeMatch::ExpectedFor(uint64_t a) const {
  auto it = a2e_.find(a);
  return it == a2e_.end() ? 0 : it->second;
}

bool IsRecent(int64_t sec, int64_t now) {
  return sec > now - 3600 && sec < now + 3600;
}

int64_t NowSeconds() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec;
}

std::string DiffStat(const StatResult& e, const StatResult& a, int64_t now,
                     const CompareOptions& options, InodeMatch* match) {
  auto field = [](const char* name, const std::string& ev,
                  const std::string& av) {
    return std::string(name) + " expected " + ev + ", actual " + av;
  };
  if (e.mode != a.mode) return field("mode", Octal(e.mode), Octal(a.mode));
  if (e.nlink != a.nlink) {
    return field("nlink", std::to_string(e.nlink), std::to_string(a.nlink));
  }
  if (e.uid != a.uid) {
    return field("uid", std::to_string(e.uid), std::to_string(a.uid));
  }
  if (e.gid != a.gid) {
    return field("gid", std::to_string(e.gid), std::to_string(a.gid));
  }
  if (e.size != a.size) {
    return field("size", std::to_string(e.size), std::to_string(a.size));
  }
  if (options.blocks && e.blocks != a.blocks) {
    return field("blocks", std::to_string(e.blocks), std::to_string(a.blocks));
  }
  if ((S_ISCHR(e.mode) || S_ISBLK(e.mode)) && e.rdev != a.rdev) {
    return field("rdev", std::to_string(e.rdev), std::to_string(a.rdev));
  }
  if (options.times) {
    if (!SameTimeClass(e.atime_sec, e.atime_nsec, a.atime_sec, a.atime_nsec,
                       now)) {
      return field("atime", TimeText(e.atime_sec, e.atime_nsec, now),
                   TimeText(a.atime_sec, a.atime_nsec, now));
    }
    if (!SameTimeClass(e.mtime_sec, e.mtime_nsec, a.mtime_sec, a.mtime_nsec,
                       now)) {
      return field("mtime", TimeText(e.mtime_sec, e.mtime_nsec, now),
                   TimeText(a.mtime_sec, a.mtime_nsec, now));
    }
    if (!SameTimeClass(e.ctime_sec, e.ctime_nsec, a.ctime_sec, a.ctime_nsec,
                       now)) {
      return field("ctime", TimeText(e.ctime_sec, e.ctime_nsec, now),
                   TimeText(a.ctime_sec, a.ctime_nsec, now));
    }
  }
  std::string why;
  if (match != nullptr && !match->Pair(e.ino, a.ino, &why)) return why;
  return "";
}

std::string DiffTimeChanges(const StatResult& be, const StatResult& ae,
                            const StatResult& ba, const StatResult& aa,
                            int64_t now) {
  auto verdict = [&](const char* name, bool ce, bool ca) {
    auto span = [](int64_t s0, int64_t n0, int64_t s1, int64_t n1) {
      char buf[96];
      snprintf(buf, sizeof(buf),
               " (%" PRId64 ".%09" PRId64 " -> %" PRId64 ".%09" PRId64 ")", s0,
               n0, s1, n1);
      return std::string(buf);
    };
    std::string e, a;
    switch (name[0]) {
      case 'c':
        e = span(be.ctime_sec, be.ctime_nsec, ae.ctime_sec, ae.ctime_nsec);
        a = span(ba.ctime_sec, ba.ctime_nsec, aa.ctime_sec, aa.ctime_nsec);
        break;
      case 'm':
        e = span(be.mtime_sec, be.mtime_nsec, ae.mtime_sec, ae.mtime_nsec);
        a = span(ba.mtime_sec, ba.mtime_nsec, aa.mtime_sec, aa.mtime_nsec);
        break;
      default:
        e = span(be.atime_sec, be.atime_nsec, ae.atime_sec, ae.atime_nsec);
        a = span(ba.atime_sec, ba.atime_nsec, aa.atime_sec, aa.atime_nsec);
    }
    return std::string(name) + (ce ? " changed" : " did not change") + e +
           " on expected but" + (ca ? " changed" : " did not change") + a +
           " on actual";
  };
  bool ce = ae.ctime_sec != be.ctime_sec || ae.ctime_nsec != be.ctime_nsec;
  bool ca = aa.ctime_sec != ba.ctime_sec || aa.ctime_nsec != ba.ctime_nsec;
  if (ce != ca) return verdict("ctime", ce, ca);
  ce = ae.mtime_sec != be.mtime_sec || ae.mtime_nsec != be.mtime_nsec;
  ca = aa.mtime_sec != ba.mtime_sec || aa.mtime_nsec != ba.mtime_nsec;
  if (ce != ca) return verdict("mtime", ce, ca);
  if (!IsRecent(be.atime_sec, now) && !IsRecent(ba.atime_sec, now)) {
    ce = ae.atime_sec != be.atime_sec || ae.atime_nsec != be.atime_nsec;
    ca = aa.atime_sec != ba.atime_sec || aa.atime_nsec != ba.atime_nsec;
    if (ce != ca) return verdict("atime", ce, ca);
  }
  return "";
}

std::string DiffTrees(const TreeDiffInput& in, const CompareOptions& options,
                      InodeMatch* match) {
  const Tree& te = *in.expected;
  const Tree& ta = *in.actual;
  const int64_t now = NowSeconds();
  auto ie = te.begin();
  auto ia = ta.begin();
  // Names first: the first path present on one side only.
  while (ie != te.end() || ia != ta.end()) {
    if (ia == ta.end() || (ie != te.end() && ie->first < ia->first)) {
      return Quote(ie->first) + " exists only on the expected side";
    }
    if (ie == te.end() || ia->first < ie->first) {
      return Quote(ia->first) + " exists only on the actual side";
    }
    ++ie;
    ++ia;
  }
  // Inodes alive after the operation, per side, for the reuse rule below.
  std::set<uint64_t> alive_e, alive_a;
  for (const auto& [path, node] : te) {
    if (node.stat_rc == 0) alive_e.insert(node.st.ino);
  }
  for (const auto& [path, node] : ta) {
    if (node.stat_rc == 0) alive_a.insert(node.st.ino);
  }
  for (const auto& [path, e] : te) {
    const Node& a = ta.at(path);
    const std::string at = Quote(path) + ": ";
    if (e.stat_rc != a.stat_rc) {
      return at + "lstat expected " + FormatResult(e.stat_rc) + ", actual " +
             FormatResult(a.stat_rc);
    }
    if (e.dirent_type != a.dirent_type) {
      return at + "d_type expected " + std::to_string(e.dirent_type) +
             ", actual " + std::to_string(a.dirent_type);
    }
    if (e.stat_rc != 0) continue;
    if (e.dirent_ino_matches != a.dirent_ino_matches) {
      return at + "d_ino and st_ino disagree on one side only";
    }
    if (e.list_rc != a.list_rc) {
      return at + "listing expected " + FormatResult(e.list_rc) + ", actual " +
             FormatResult(a.list_rc);
    }
    if (std::string d = DiffStat(e.st, a.st, now, options, match); !d.empty()) {
      return at + d;
    }
    if (in.before_e != nullptr) {
      // Identity across the operation: the same object on both sides, or a
      // new one on both (a backend may recycle a freed inode number).
      auto be = in.before_e->find(e.st.ino);
      auto ba = in.before_a->find(a.st.ino);
      bool old_e = be != in.before_e->end(), old_a = ba != in.before_a->end();
      if (old_e && old_a) {
        if (in.before_match->ActualFor(e.st.ino) != a.st.ino) {
          return at + "names a different object than before on one side";
        }
        if (options.times) {
          std::string d =
              DiffTimeChanges(be->second, e.st, ba->second, a.st, now);
          if (!d.empty()) return at + d;
        }
      } else if (old_e != old_a) {
        uint64_t partner = old_e ? in.before_match->ActualFor(e.st.ino)
                                 : in.before_match->ExpectedFor(a.st.ino);
        bool partner_alive =
            old_e ? alive_a.count(partner) != 0 : alive_e.count(partner) != 0;
        if (partner_alive || old_e) {
          return at + "is the pre-existing object on the " +
                 (old_e ? "expected" : "actual") +
                 " side but a new one on the " +
                 (old_e ? "actual" : "expected") + " side";
        }
      }
    }
    if (e.readlink_rc != a.readlink_rc) {
      return at + "readlink expected " + FormatResult(e.readlink_rc) +
             ", actual " + FormatResult(a.readlink_rc);
    }
    if (std::string d = DiffBytes("symlink targets", e.target, a.target);
        !d.empty()) {
      return at + d;
    }
    if (e.xattr_rc != a.xattr_rc) {
      return at + "llistxattr expected " + FormatResult(e.xattr_rc) +
             ", actual " + FormatResult(a.xattr_rc);
    }
    if (e.xattrs != a.xattrs) {
      std::string list_e, list_a;
      for (const auto& [n, v] : e.xattrs) list_e += " " + n + "=" + Quote(v);
      for (const auto& [n, v] : a.xattrs) list_a += " " + n + "=" + Quote(v);
      return at + "xattrs expected {" + list_e + " }, actual {" + list_a + " }";
    }
    if (e.content_rc != a.content_rc) {
      return at + "reading contents expected " + FormatResult(e.content_rc) +
             ", actual " + FormatResult(a.content_rc);
    }
    if (std::string d = DiffBytes("contents", e.contents, a.contents);
        !d.empty()) {
      return at + d;
    }
  }
  return "";
}

}  // namespace veil::difftest
