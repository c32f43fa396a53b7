// SPDX-License-Identifier: Apache-2.0
#include "tests/unit/snapshot/snapshot_fixture.h"

#include <cstring>
#include <sstream>

#include "overlay/snapshot/codec.h"

namespace veil::snapshot::testing {
namespace {

std::vector<std::string> List(vfs::Vfs& vfs, const vfs::Location& dir) {
  std::vector<std::string> names;
  auto f = vfs.OpenAt(vfs.RootContext(), dir, ".",
                      vfs::OpenHow{O_RDONLY | O_DIRECTORY, 0, 0});
  if (!f) return {"<error>"};
  std::vector<uint8_t> buf(4096);
  for (;;) {
    auto n = (*f)->Getdents64(buf);
    if (!n || *n == 0) break;
    for (size_t pos = 0; pos < *n;) {
      uint16_t reclen;
      std::memcpy(&reclen, buf.data() + pos + 16, 2);
      std::string name(reinterpret_cast<char*>(buf.data() + pos + 19));
      if (name != "." && name != "..") names.push_back(name);
      pos += reclen;
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string Time(const timespec& t) {
  return std::to_string(t.tv_sec) + "." + std::to_string(t.tv_nsec);
}

struct Describer {
  Describer(vfs::Vfs& v, int f) : vfs(v), fields(f), ctx(v.RootContext()) {}
  vfs::Vfs& vfs;
  int fields;
  vfs::Context ctx;
  std::map<uint64_t, std::string> first_path_of_ino;
  std::ostringstream out;

  void Entry(const vfs::Location& dir, const std::string& name,
             const std::string& path) {
    auto attr = vfs.StatAt(ctx, dir, name, AT_SYMLINK_NOFOLLOW);
    if (!attr) {
      out << path << " <stat error>\n";
      return;
    }
    out << path << " mode=" << std::oct << attr->mode << std::dec
        << " uid=" << attr->uid << " gid=" << attr->gid
        << " mtime=" << Time(attr->mtime) << " nlink=" << attr->nlink;
    if (fields & kAtime) out << " atime=" << Time(attr->atime);
    if (!attr->IsDir()) out << " size=" << attr->size;
    if (S_ISCHR(attr->mode) || S_ISBLK(attr->mode))
      out << " rdev=" << major(attr->rdev) << ":" << minor(attr->rdev);
    if (!attr->IsDir() && attr->nlink > 1) {
      auto [it, fresh] = first_path_of_ino.emplace(attr->ino, path);
      out << " link=" << it->second;
    }
    if (auto names = vfs.ListXattrAt(ctx, dir, name, AT_SYMLINK_NOFOLLOW)) {
      std::sort(names->begin(), names->end());
      for (const auto& x : *names) {
        auto v = vfs.GetXattrAt(ctx, dir, name, x, AT_SYMLINK_NOFOLLOW);
        out << " xattr[" << x << "]=" << (v ? *v : "<error>");
      }
    }
    if (attr->IsSymlink()) {
      auto t = vfs.ReadlinkAt(ctx, dir, name);
      out << " -> " << (t ? *t : "<error>");
    }
    if ((fields & kContent) && attr->IsRegular()) {
      auto f = vfs.OpenAt(ctx, dir, name, vfs::OpenHow{O_RDONLY, 0, 0});
      // Chained block hashes: content-sensitive without holding the file.
      uint64_t digest = 0;
      std::vector<uint8_t> buf(1 << 16);
      for (int64_t off = 0; f;) {
        auto n = (*f)->PRead(buf, off);
        if (!n || *n == 0) break;
        digest = digest * 31 + Checksum(std::span(buf).first(*n));
        off += static_cast<int64_t>(*n);
      }
      out << " data=" << std::hex << digest << std::dec;
    }
    out << "\n";
    if (attr->IsDir()) {
      auto child =
          vfs.OpenAt(ctx, dir, name, vfs::OpenHow{O_PATH | O_DIRECTORY, 0, 0});
      if (!child) return;
      vfs::Location loc = (*child)->location();
      for (const std::string& n : List(vfs, loc))
        Entry(loc, n, (path == "/" ? "" : path) + "/" + n);
    }
  }
};

}  // namespace

std::string DescribeTree(vfs::Vfs& vfs, int fields) {
  Describer d(vfs, fields);
  d.Entry(vfs.RootLocation(), ".", "/");
  return d.out.str();
}

std::vector<std::string> RootNames(vfs::Vfs& vfs) {
  return List(vfs, vfs.RootLocation());
}

void SnapshotTest::BuildMixedTree() {
  ASSERT_THAT(Mkdir("/etc", 0755), vfs::testing::IsOk());
  ASSERT_THAT(Mkdir("/etc/ssl", 0700), vfs::testing::IsOk());
  ASSERT_THAT(Mkdir("/opaque", 0755), vfs::testing::IsOk());
  ASSERT_THAT(Mkdir("/ro", 0555), vfs::testing::IsOk());
  WriteFile("/etc/hostname", "veil\n");
  WriteFile("/etc/ssl/key", RandomBytes(70000, 1), 0600);
  WriteFile("/etc/text", std::string(300000, 'a') + "tail", 0644);
  WriteFile("/empty", "");
  WriteFile("/suid", "#!/bin/sh\n", 04755);
  WriteFile("/ro/file", "x");
  PWriteAt("/sparse", "data in the middle", 1 << 20);
  ASSERT_THAT(vfs_.TruncateAt(root_, Root(), "/sparse", 8 << 20),
              vfs::testing::IsOk());
  ASSERT_THAT(vfs_.LinkAt(root_, Root(), "/etc/hostname", Root(),
                          "/opaque/hostname-link", 0),
              vfs::testing::IsOk());
  ASSERT_THAT(vfs_.LinkAt(root_, Root(), "/etc/hostname", Root(), "/hn", 0),
              vfs::testing::IsOk());
  ASSERT_THAT(Symlink("../etc/hostname", "/opaque/sym"), vfs::testing::IsOk());
  ASSERT_THAT(Symlink("/nonexistent/target", "/dangling"),
              vfs::testing::IsOk());
  Mknod("/opaque/whiteout", S_IFCHR | 0, makedev(0, 0));
  Mknod("/tty", S_IFCHR | 0620, makedev(4, 1));
  Mknod("/sda1", S_IFBLK | 0660, makedev(8, 1));
  Mknod("/fifo", S_IFIFO | 0640, 0);
  Mknod("/sock", S_IFSOCK | 0755, 0);
  SetXattr("/opaque", "trusted.overlay.opaque", "y");
  SetXattr("/etc/hostname", "user.comment", std::string("bin\0ary", 7));
  SetXattr("/etc/hostname", "security.selinux", "system_u:object_r:etc_t");
  SetXattr("/", "user.root", "rooted");
  Chown("/etc/ssl/key", 1000, 1001);
  Chown("/dangling", 7, 8);
  Chown("/tty", 0, 5);
  ASSERT_THAT(vfs_.ChmodAt(root_, Root(), "/", 0711, 0), vfs::testing::IsOk());
  // Times in the near future: relatime then never moves an atime when the
  // description or the writer reads a file, so two descriptions of the
  // same tree compare equal (past atimes are covered by their own test).
  const timespec now = vfs::Now();
  int64_t i = 0;
  for (const char* p :
       {"/etc/hostname", "/etc/ssl/key", "/etc/text", "/empty", "/suid",
        "/sparse", "/opaque/sym", "/dangling", "/opaque/whiteout", "/tty",
        "/sda1", "/fifo", "/sock", "/ro/file", "/etc/ssl", "/etc", "/opaque",
        "/ro", "/"}) {
    ++i;
    SetTimes(p, timespec{now.tv_sec + 3600 + i, 1000 * i + 7},
             timespec{1000000000 + i * 86400, 123456789 - i});
  }
}

}  // namespace veil::snapshot::testing
