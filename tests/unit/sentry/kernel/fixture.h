// SPDX-License-Identifier: Apache-2.0
//
// A task over FakePlatform and a Vfs with a tmpfs root, for the handler
// tests: Call(nr, args...) dispatches one trapped call as the platform
// would hand it over and returns what the task would see (the value, or
// -errno). Task memory is one mapped scratch region; Put* place bytes
// in it and return their address.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/syscall.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "sentry/kernel/fd_table.h"
#include "sentry/kernel/fs_context.h"
#include "sentry/kernel/syscall_table.h"
#include "sentry/kernel/task.h"
#include "sentry/platform/fake_platform.h"
#include "vfs/tmpfs/tmpfs.h"
#include "vfs/vfs.h"

namespace veil::sentry::testing {

inline constexpr pid_t kTid = 100;
inline constexpr uint64_t kScratch = 0x10000;
inline constexpr size_t kScratchSize = 1 << 20;

class KernelTest : public ::testing::Test {
 protected:
  KernelTest()
      : vfs_(vfs::tmpfs::Tmpfs::Create(vfs::tmpfs::TmpfsOptions{0755, 0, 0})),
        task_(
            platform_, vfs_, kTid, kTid, vfs::Credentials::Root(),
            FdTable::Create(),
            FsContext::Create(vfs_.RootLocation(), vfs_.RootLocation(), 022)) {
    platform_.Map(kTid, kScratch, kScratchSize);
  }

  // One trapped call; the task's view of its result.
  template <typename... Args>
  int64_t Call(int nr, Args... args) {
    SyscallRequest req;
    req.id = ++next_id_;
    req.tid = kTid;
    req.nr = nr;
    uint64_t raw[] = {static_cast<uint64_t>(args)..., 0};
    for (size_t i = 0; i < sizeof...(Args); ++i) req.args[i] = raw[i];
    std::optional<SyscallAnswer> a = Dispatch(task_, req);
    if (!a) return kNoAnswer;
    switch (a->kind()) {
      case SyscallAnswer::Kind::kValue:
        return a->value();
      case SyscallAnswer::Kind::kError:
        return -a->error();
      case SyscallAnswer::Kind::kInstallFd:
        return a->number();
      case SyscallAnswer::Kind::kContinue:
        return kNoAnswer;  // the kernel part never continues a call
    }
    return kNoAnswer;
  }
  static constexpr int64_t kNoAnswer = INT64_MIN;

  // Scratch memory: bump allocation, 16-aligned.
  uint64_t Alloc(size_t n) {
    uint64_t at = kScratch + used_;
    used_ += (n + 15) & ~size_t{15};
    EXPECT_LE(used_, kScratchSize);
    return at;
  }
  uint64_t PutBytes(const void* data, size_t n) {
    uint64_t at = Alloc(n);
    EXPECT_TRUE(platform_.Poke(
        kTid, at,
        std::span<const uint8_t>(static_cast<const uint8_t*>(data), n)));
    return at;
  }
  uint64_t Str(std::string_view s) {
    std::string z(s);
    return PutBytes(z.c_str(), z.size() + 1);
  }
  template <typename T>
  uint64_t Put(const T& value) {
    return PutBytes(&value, sizeof(T));
  }
  template <typename T>
  T Get(uint64_t addr) {
    T value{};
    EXPECT_TRUE(platform_.Peek(
        kTid, addr,
        std::span<uint8_t>(reinterpret_cast<uint8_t*>(&value), sizeof(T))));
    return value;
  }
  std::string GetString(uint64_t addr, size_t n) {
    std::string s(n, '\0');
    EXPECT_TRUE(platform_.Peek(
        kTid, addr,
        std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), n)));
    return s;
  }

  // Creates `path` with `content` through the handlers.
  void WriteFile(std::string_view path, std::string_view content) {
    int64_t fd = Call(SYS_openat, AT_FDCWD, Str(path),
                      O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    uint64_t buf = PutBytes(content.data(), content.size());
    ASSERT_EQ(Call(SYS_write, fd, buf, content.size()),
              static_cast<int64_t>(content.size()));
    ASSERT_EQ(Call(SYS_close, fd), 0);
  }

  FakePlatform platform_;
  vfs::Vfs vfs_;
  Task task_;
  uint64_t next_id_ = 0;
  size_t used_ = 0;
};

}  // namespace veil::sentry::testing
