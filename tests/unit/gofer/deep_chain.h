// SPDX-License-Identifier: Apache-2.0
//
// Helpers for tests with very deep directory chains (dir/d/d/d/...): too
// deep for paths (PATH_MAX) and for std::filesystem::remove_all (which
// keeps a descriptor per level), so everything here is descriptor-relative
// and iterative.
#pragma once

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <string>

namespace veil::gofer::testing {

// Makes `name` in `dirfd`, then `depth - 1` more levels below it, each
// named "d". False on any error.
inline bool MakeDeepChain(int dirfd, const char* name, size_t depth) {
  if (::mkdirat(dirfd, name, 0755) != 0) return false;
  int at = ::openat(dirfd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
  for (size_t i = 1; at >= 0 && i < depth; ++i) {
    if (::mkdirat(at, "d", 0755) != 0) break;
    const int next = ::openat(at, "d", O_PATH | O_DIRECTORY | O_CLOEXEC);
    ::close(at);
    at = next;
    if (i + 1 == depth && at >= 0) {
      ::close(at);
      return true;
    }
  }
  if (at >= 0) ::close(at);
  return depth == 1;
}

// Removes the chain `name` in `dirfd` (every level holding at most one
// entry, "d"): each round moves the second level up in place of the
// first, so no descriptor or path grows with the depth.
inline void RemoveDeepChain(int dirfd, const char* name) {
  const std::string next = std::string(name) + ".next";
  while (true) {
    const int top = ::openat(dirfd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (top < 0) return;
    const bool more = ::renameat(top, "d", dirfd, next.c_str()) == 0;
    ::close(top);
    if (::unlinkat(dirfd, name, AT_REMOVEDIR) != 0) return;
    if (!more || ::renameat(dirfd, next.c_str(), dirfd, name) != 0) return;
  }
}

// Runs `fn` on a thread with a stack of `stack_bytes`, and waits for it:
// recursion as deep as a test's chain overflows it (and crashes the test)
// where the main thread's 8 MiB would only overflow at a much deeper one.
inline void RunOnSmallStack(size_t stack_bytes, std::function<void()> fn) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, stack_bytes);
  pthread_t thread;
  auto trampoline = [](void* arg) -> void* {
    (*static_cast<std::function<void()>*>(arg))();
    return nullptr;
  };
  if (pthread_create(&thread, &attr, trampoline, &fn) == 0) {
    pthread_join(thread, nullptr);
  }
  pthread_attr_destroy(&attr);
}

}  // namespace veil::gofer::testing
