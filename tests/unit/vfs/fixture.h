// SPDX-License-Identifier: Apache-2.0
//
// A Vfs over a fresh tmpfs (root 0755 root:root, like a new host directory)
// with short helpers, for the vfs and tmpfs unit tests.
#pragma once

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include <string>
#include <string_view>

#include "tests/util/matchers.h"
#include "vfs/tmpfs/tmpfs.h"
#include "vfs/vfs.h"

namespace veil::vfs::testing {

using ::veil::testing::ErrnoIs;
using ::veil::testing::IsOk;
using ::veil::testing::IsOkAndHolds;

class VfsTest : public ::testing::Test {
 protected:
  VfsTest()
      : vfs_(tmpfs::Tmpfs::Create(tmpfs::TmpfsOptions{0755, 0, 0})),
        root_(vfs_.RootContext()),
        alice_(UserContext(1000, 1000, {1000})),
        bob_(UserContext(1001, 1001, {1001, 1000})) {}

  Context UserContext(uid_t uid, gid_t gid, std::vector<gid_t> groups) {
    Context ctx = vfs_.RootContext();
    ctx.creds = Credentials::User(uid, gid, std::move(groups));
    return ctx;
  }

  Location Root() { return vfs_.RootLocation(); }

  Result<Ref<FileDescription>> Open(std::string_view path, int flags,
                                    mode_t mode = 0644) {
    return OpenAs(root_, path, flags, mode);
  }
  Result<Ref<FileDescription>> OpenAs(const Context& ctx,
                                      std::string_view path, int flags,
                                      mode_t mode = 0644,
                                      uint64_t resolve = 0) {
    return vfs_.OpenAt(ctx, ctx.cwd, path, OpenHow{flags, mode, resolve});
  }
  Result<void> Mkdir(std::string_view path, mode_t mode = 0755) {
    return vfs_.MkdirAt(root_, Root(), path, mode);
  }
  Result<void> Symlink(std::string_view target, std::string_view path) {
    return vfs_.SymlinkAt(root_, target, Root(), path);
  }
  Result<Attr> Stat(std::string_view path, int flags = 0) {
    return vfs_.StatAt(root_, Root(), path, flags);
  }
  Result<Attr> Lstat(std::string_view path) {
    return Stat(path, AT_SYMLINK_NOFOLLOW);
  }
  // Creates a file holding `data`.
  void WriteFile(std::string_view path, std::string_view data,
                 mode_t mode = 0644) {
    auto f = Open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
    ASSERT_THAT(f, IsOk());
    auto n = (*f)->Write(std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(data.data()), data.size()));
    ASSERT_THAT(n, IsOkAndHolds(data.size()));
  }
  std::string ReadAll(FileDescription& f) {
    std::string out;
    uint8_t buf[4096];
    for (int64_t off = 0;;) {
      auto n = f.PRead(buf, off);
      if (!n || *n == 0) break;
      out.append(reinterpret_cast<char*>(buf), *n);
      off += static_cast<int64_t>(*n);
    }
    return out;
  }
  std::string ReadFile(std::string_view path) {
    auto f = Open(path, O_RDONLY);
    if (!f) return "<error>";
    return ReadAll(**f);
  }
  static std::span<const uint8_t> Bytes(std::string_view s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
  }
  // Names in a directory, without "." and "..".
  std::vector<std::string> List(std::string_view path) {
    std::vector<std::string> names;
    auto f = Open(path, O_RDONLY | O_DIRECTORY);
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

  Vfs vfs_;
  Context root_;
  Context alice_;  // uid 1000, groups {1000}
  Context bob_;    // uid 1001, groups {1001, 1000}
};

}  // namespace veil::vfs::testing
