// SPDX-License-Identifier: Apache-2.0
//
// `veil fuse --gofer DIR MNT` over a DIR the host changes meanwhile (the
// gofer client's shared mode, #11 item 8): a file created, removed,
// renamed or replaced in DIR shows up in MNT at once through stat, open
// and readdir, with the host's content and inode number, while a file
// opened in MNT before the host replaced its name still reads what it
// opened. Every change is made after MNT has looked the names up, so that
// a cached name is what the test is about.
//
// Needs root (the gofer), /dev/fuse and a kernel that lets us mount;
// skips otherwise.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/shell_util.h"

#ifndef VEIL_BINARY
#error "VEIL_BINARY must name the veil executable"
#endif

namespace {

using veil::integration::IsFuseMount;
using veil::integration::ReadFile;
using veil::integration::Shell;
using veil::integration::StartVeilFuse;
using veil::integration::VeilFuse;

constexpr auto kMountTimeout = std::chrono::seconds(10);
constexpr auto kExitTimeout = std::chrono::seconds(10);

class FuseRevalidateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (the gofer)";
    if (access("/dev/fuse", R_OK | W_OK) != 0)
      GTEST_SKIP() << "/dev/fuse is not usable: " << strerror(errno);
    char tmpl[] = "/tmp/veil-fuse-revalidate.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << strerror(errno);
    base_ = tmpl;
    mnt_ = base_ + "/mnt";
    dir_ = base_ + "/served";
    ASSERT_EQ(mkdir(mnt_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir(dir_.c_str(), 0755), 0);
    log_ = base_ + "/veil.log";
    VeilFuse child = StartVeilFuse(VEIL_BINARY, {"--gofer", dir_}, mnt_, log_,
                                   kMountTimeout);
    pid_ = child.pid;
    if (child.cannot_mount())
      GTEST_SKIP() << "veil fuse could not mount: " << ReadFile(log_);
    ASSERT_FALSE(child.exited) << "veil fuse died before mounting (status "
                               << child.status << "): " << ReadFile(log_);
    ASSERT_FALSE(child.timed_out)
        << "no FUSE mount on " << mnt_ << " after 10 s: " << ReadFile(log_);
  }

  void TearDown() override {
    if (pid_ > 0) {
      EXPECT_EQ(kill(pid_, SIGTERM), 0);
      int status = 0;
      auto deadline = std::chrono::steady_clock::now() + kExitTimeout;
      pid_t got = 0;
      while ((got = waitpid(pid_, &status, WNOHANG)) == 0 &&
             std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (got != pid_) {
        ADD_FAILURE() << "veil fuse did not exit after SIGTERM";
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
      } else {
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
            << "status " << status << ": " << ReadFile(log_);
      }
      if (IsFuseMount(mnt_)) umount2(mnt_.c_str(), MNT_DETACH);
    }
    if (!base_.empty()) Shell("rm -rf " + base_);
  }

  std::string Host(const std::string& rel) const { return dir_ + "/" + rel; }
  std::string Mnt(const std::string& rel) const { return mnt_ + "/" + rel; }

  static void Write(const std::string& path, const std::string& data) {
    std::ofstream out(path, std::ios::trunc);
    out << data;
  }
  // Errno of lstat(path), 0 on success; `st` gets the result.
  static int Lstat(const std::string& path, struct stat* st) {
    return lstat(path.c_str(), st) == 0 ? 0 : errno;
  }
  static int Errno(const std::string& path) {
    struct stat st;
    return Lstat(path, &st);
  }
  static ino_t Ino(const std::string& path) {
    struct stat st = {};
    EXPECT_EQ(Lstat(path, &st), 0) << path;
    return st.st_ino;
  }
  // The names readdir(3) lists in `dir`, sorted, without "." and "..".
  static std::vector<std::string> List(const std::string& dir) {
    std::vector<std::string> names;
    DIR* d = opendir(dir.c_str());
    EXPECT_NE(d, nullptr) << dir << ": " << strerror(errno);
    if (d == nullptr) return names;
    while (struct dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }
  // Looks `rel` up in MNT every way a program would, so that MNT has it
  // cached before the host changes it.
  void Touch(const std::string& rel) {
    struct stat st;
    EXPECT_EQ(Lstat(Mnt(rel), &st), 0) << rel;
    if (S_ISREG(st.st_mode)) (void)ReadFile(Mnt(rel));
    if (S_ISDIR(st.st_mode)) (void)List(Mnt(rel));
  }

  std::string base_, mnt_, dir_, log_;
  pid_t pid_ = -1;
};

TEST_F(FuseRevalidateTest, HostCreateShowsUp) {
  EXPECT_EQ(Errno(Mnt("new")), ENOENT);
  EXPECT_EQ(List(mnt_), std::vector<std::string>{});
  Write(Host("new"), "made on the host\n");
  EXPECT_EQ(Errno(Mnt("new")), 0);
  EXPECT_EQ(ReadFile(Mnt("new")), "made on the host\n");
  EXPECT_EQ(Ino(Mnt("new")), Ino(Host("new")));
  EXPECT_EQ(List(mnt_), std::vector<std::string>{"new"});
}

TEST_F(FuseRevalidateTest, HostDeleteShowsUp) {
  ASSERT_EQ(mkdir(Host("d").c_str(), 0755), 0);
  Write(Host("d/f"), "doomed");
  Write(Host("g"), "doomed too");
  Touch("d");
  Touch("d/f");
  Touch("g");
  ASSERT_EQ(unlink(Host("g").c_str()), 0);
  std::filesystem::remove_all(Host("d"));
  EXPECT_EQ(Errno(Mnt("g")), ENOENT);
  EXPECT_EQ(open(Mnt("g").c_str(), O_RDONLY), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(Errno(Mnt("d/f")), ENOENT);
  EXPECT_EQ(Errno(Mnt("d")), ENOENT);
  EXPECT_EQ(List(mnt_), std::vector<std::string>{});
  // And the name can be made again through MNT, exclusively.
  int fd = open(Mnt("g").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
  EXPECT_GE(fd, 0) << strerror(errno);
  if (fd >= 0) close(fd);
  EXPECT_EQ(Ino(Mnt("g")), Ino(Host("g")));
}

TEST_F(FuseRevalidateTest, HostRenameShowsUp) {
  ASSERT_EQ(mkdir(Host("d").c_str(), 0755), 0);
  Write(Host("d/a"), "content of a");
  Touch("d");
  Touch("d/a");
  const ino_t ino = Ino(Mnt("d/a"));
  ASSERT_EQ(rename(Host("d/a").c_str(), Host("b").c_str()), 0);
  ASSERT_EQ(rename(Host("d").c_str(), Host("e").c_str()), 0);
  EXPECT_EQ(Errno(Mnt("d/a")), ENOENT);
  EXPECT_EQ(Errno(Mnt("d")), ENOENT);
  EXPECT_EQ(ReadFile(Mnt("b")), "content of a");
  EXPECT_EQ(Ino(Mnt("b")), ino);  // the same file, under its new name
  EXPECT_EQ(Ino(Mnt("e")), Ino(Host("e")));
  EXPECT_EQ(List(mnt_), (std::vector<std::string>{"b", "e"}));
}

TEST_F(FuseRevalidateTest, HostReplaceShowsUpAndOpenFileKeepsOldContent) {
  Write(Host("f"), "old content\n");
  Touch("f");
  const ino_t old_ino = Ino(Mnt("f"));
  int fd = open(Mnt("f").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0) << strerror(errno);
  // A new file renamed over the name, as editors and dpkg do.
  Write(Host("f.tmp"), "the new content\n");
  ASSERT_EQ(rename(Host("f.tmp").c_str(), Host("f").c_str()), 0);
  EXPECT_EQ(ReadFile(Mnt("f")), "the new content\n");
  EXPECT_EQ(Ino(Mnt("f")), Ino(Host("f")));
  EXPECT_NE(Ino(Mnt("f")), old_ino);
  struct stat st = {};
  ASSERT_EQ(Lstat(Mnt("f"), &st), 0);
  EXPECT_EQ(st.st_size, 16);
  EXPECT_EQ(List(mnt_), std::vector<std::string>{"f"});
  // The descriptor opened before reads the file it opened.
  char buf[64] = {};
  ssize_t n = pread(fd, buf, sizeof buf, 0);
  EXPECT_EQ(std::string(buf, n > 0 ? n : 0), "old content\n");
  struct stat old_st = {};
  ASSERT_EQ(fstat(fd, &old_st), 0);
  EXPECT_EQ(old_st.st_ino, old_ino);
  close(fd);
}

TEST_F(FuseRevalidateTest, HostReplacesFileByDirectoryAndBack) {
  Write(Host("x"), "a file");
  Touch("x");
  ASSERT_EQ(unlink(Host("x").c_str()), 0);
  ASSERT_EQ(mkdir(Host("x").c_str(), 0750), 0);
  Write(Host("x/inside"), "inside");
  struct stat st = {};
  ASSERT_EQ(Lstat(Mnt("x"), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_ino, Ino(Host("x")));
  EXPECT_EQ(ReadFile(Mnt("x/inside")), "inside");
  EXPECT_EQ(List(Mnt("x")), std::vector<std::string>{"inside"});
  // And the directory (looked up, with a cached child) becomes a file.
  Touch("x/inside");
  std::filesystem::remove_all(Host("x"));
  Write(Host("x"), "a file again");
  EXPECT_EQ(Errno(Mnt("x/inside")), ENOTDIR);
  ASSERT_EQ(Lstat(Mnt("x"), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(ReadFile(Mnt("x")), "a file again");
}

TEST_F(FuseRevalidateTest, HostChmodAndWriteShowInAttributes) {
  Write(Host("f"), "12");
  Touch("f");
  Write(Host("f"), "1234567");
  ASSERT_EQ(chmod(Host("f").c_str(), 0600), 0);
  struct stat st = {};
  ASSERT_EQ(Lstat(Mnt("f"), &st), 0);
  EXPECT_EQ(st.st_size, 7);
  EXPECT_EQ(st.st_mode, S_IFREG | 0600u);
  EXPECT_EQ(ReadFile(Mnt("f")), "1234567");
}

}  // namespace
