// SPDX-License-Identifier: Apache-2.0
//
// ScratchTree: the host directories the lisafs_server fuzzer serves, on
// tmpfs (/dev/shm), laid out as the gofer escape tests do:
//
//   base/root/      the export, rebuilt before every input (Reset)
//   base/outside/   canaries next to it: a file and a directory that
//                   symlinks in root/ point at
//
// Fingerprint() condenses everything that must not change outside the
// export into a few statx fields: ctime moves on any change to an inode
// (data, mode, owner, xattrs, links) and the directories' mtime on any
// entry added or removed, so four statx calls per input are enough.
//
// Not thread-safe; one per fuzzer process.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include "base/unique_fd.h"

namespace veil::fuzz {

class ScratchTree final {
 public:
  // Creates base/ under /dev/shm; false (with a message) if that fails,
  // e.g. in a container without /dev/shm.
  bool Init() {
    base_ = "/dev/shm/veil-fuzz-lisafs-server-" + std::to_string(::getpid());
    RemoveAll(base_);
    if (::mkdir(base_.c_str(), 0755) != 0 ||
        ::mkdir(Outside().c_str(), 0755) != 0 ||
        ::mkdir((Outside() + "/sub").c_str(), 0755) != 0 ||
        !WriteFile(Outside() + "/secret", "CANARY")) {
      std::perror(("lisafs_server fuzzer: cannot set up " + base_ +
                   " (tmpfs is needed); skipping")
                      .c_str());
      return false;
    }
    return true;
  }

  ~ScratchTree() {
    if (!base_.empty()) RemoveAll(base_);
  }

  // Rebuilds root/ from scratch and returns an O_PATH descriptor of it
  // (invalid on failure). The tree holds one of each kind the backend
  // treats differently, and symlinks that lead out of the export.
  UniqueFd Reset() {
    RemoveAll(Root());
    const std::string r = Root() + "/";
    if (::mkdir(Root().c_str(), 0755) != 0) return UniqueFd();
    bool ok = WriteFile(r + "file", "hello\n") &&
              ::mkdir((r + "dir").c_str(), 0755) == 0 &&
              WriteFile(r + "dir/inner", "inner") &&
              ::symlink("../outside/secret", (r + "esc").c_str()) == 0 &&
              ::symlink("../outside", (r + "escdir").c_str()) == 0 &&
              ::symlink(Outside().c_str(), (r + "abs").c_str()) == 0 &&
              ::symlink("..", (r + "dotdot").c_str()) == 0 &&
              ::mkfifo((r + "fifo").c_str(), 0644) == 0;
    // Best effort: not every tmpfs takes user xattrs.
    (void)::setxattr((r + "file").c_str(), "user.x", "1", 1, 0);
    if (!ok) return UniqueFd();
    return UniqueFd(::open(Root().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  }

  using Print = std::array<std::tuple<uint64_t, uint32_t, int64_t, uint32_t,
                                      int64_t, uint32_t, uint64_t>,
                           4>;
  // (ino, nlink, mtime, ctime ...) of base/, outside/, outside/sub and
  // outside/secret.
  Print Fingerprint() const {
    Print print{};
    const std::string paths[] = {base_, Outside(), Outside() + "/sub",
                                 Outside() + "/secret"};
    for (size_t i = 0; i < print.size(); ++i) {
      struct statx st = {};
      if (::statx(AT_FDCWD, paths[i].c_str(), AT_SYMLINK_NOFOLLOW,
                  STATX_BASIC_STATS, &st) != 0) {
        continue;  // All zero: differs from any real fingerprint.
      }
      print[i] = {st.stx_ino,
                  st.stx_nlink,
                  st.stx_mtime.tv_sec,
                  st.stx_mtime.tv_nsec,
                  st.stx_ctime.tv_sec,
                  st.stx_ctime.tv_nsec,
                  (uint64_t{st.stx_mode} << 32) | st.stx_uid};
    }
    return print;
  }

  std::string Root() const { return base_ + "/root"; }
  std::string Outside() const { return base_ + "/outside"; }

 private:
  // rm -rf, also when the session left directories without permissions
  // (which only stops a non-root run: root bypasses them).
  static void RemoveAll(const std::string& path) {
    Flatten(path);
    std::error_code ec;
    if (std::filesystem::remove_all(path, ec) != static_cast<uintmax_t>(-1))
      return;
    MakeWritable(path);
    std::filesystem::remove_all(path, ec);
  }
  // Moves every directory below `dir`'s children up into `dir` itself
  // (as "flat.N"), so that what is left is at most two levels deep: a
  // chain of directories as deep as a session made (thousands of levels,
  // past PATH_MAX) is then removed without long paths or a descriptor per
  // level. O(directories): each is moved at most once.
  static void Flatten(const std::string& dir) {
    UniqueFd top(
        ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!top) return;
    uint64_t moved = 0;
    std::vector<std::string> queue = Subdirs(top.get());
    while (!queue.empty()) {
      const std::string name = std::move(queue.back());
      queue.pop_back();
      UniqueFd sub(::openat(top.get(), name.c_str(),
                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) continue;
      for (const std::string& child : Subdirs(sub.get())) {
        std::string flat = "flat." + std::to_string(moved++);
        if (::renameat(sub.get(), child.c_str(), top.get(), flat.c_str()) == 0)
          queue.push_back(std::move(flat));
      }
    }
  }
  // The names of the directories in the directory `fd` is open on.
  static std::vector<std::string> Subdirs(int fd) {
    std::vector<std::string> names;
    const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    DIR* d = copy < 0 ? nullptr : ::fdopendir(copy);
    if (d == nullptr) {
      if (copy >= 0) ::close(copy);
      return names;
    }
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st;
      if (::fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          S_ISDIR(st.st_mode))
        names.push_back(name);
    }
    ::closedir(d);
    return names;
  }
  static void MakeWritable(const std::string& dir) {
    struct stat st;
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return;
    (void)::chmod(dir.c_str(), 0700);
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
      MakeWritable(entry.path().string());
  }

  static bool WriteFile(const std::string& path, const std::string& data) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                       0644));
    return fd.valid() &&
           ::write(fd.get(), data.data(), data.size()) ==
               static_cast<ssize_t>(data.size());
  }

  std::string base_;
};

// Open descriptors of this process, to show a session leaked none.
inline int CountOpenFds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int n = 0;
  while (::readdir(dir) != nullptr) ++n;
  ::closedir(dir);
  return n;
}

}  // namespace veil::fuzz
