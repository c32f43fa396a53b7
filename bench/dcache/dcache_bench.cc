// SPDX-License-Identifier: Apache-2.0
//
// dcache_bench: what cached names cost, walking a tree through the gofer
// client in this process (bench/dcache/run.sh drives it).
//
//   dcache_bench generate DIR NAMES
//       makes a tree of at least NAMES names under DIR (empty files in
//       nested directories: 40 top directories, 25 below each, files in
//       those), and prints how many it made.
//   dcache_bench walk --veil BIN --tree DIR [--walks N] [--budget N]
//                     [--immutable]
//       starts `BIN gofer --ro` serving DIR (a real confined gofer
//       process, as tests/unit/gofer_client/gofer_process_test.cc does),
//       mounts it with the gofer client as a Vfs's root (dentry cache
//       budget N names, default the filesystem's), and walks the whole
//       tree N times (default 2) as find does: every directory opened and
//       listed, every name stat'ed with AT_SYMLINK_NOFOLLOW. After each
//       walk it prints the heap in use (mallinfo2), the names cached and
//       this process's RSS; at the end the peak RSS and the gofer's RSS.
//   dcache_bench tmpfs --names N [--budget N]
//       the same walk over a tree of N names made in a veil tmpfs in this
//       process (its inodes exist before the walk, so what the walk adds
//       is the VFS's own cost: dentries and the cache's index).
//
// Memory per cached name = (heap in use after the walk - heap in use
// before it) / names cached after it: measured, not estimated.
#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gofer/client/gofer_fs.h"
#include "gofer/client/gofer_process.h"
#include "lisafs/channel.h"
#include "lisafs/client.h"
#include "vfs/tmpfs/tmpfs.h"
#include "vfs/vfs.h"

namespace veil::bench {
namespace {

// "VmRSS" or "VmHWM" of /proc/PID/status, in KiB (0 if unreadable).
long StatusKb(const std::string& pid, const char* field) {
  std::ifstream in("/proc/" + pid + "/status");
  std::string line;
  const size_t n = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':')
      return std::strtol(line.c_str() + n + 1, nullptr, 10);
  }
  return 0;
}

size_t HeapInUse() {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

int Generate(const std::string& dir, long names) {
  constexpr int kTop = 40, kMid = 25;
  const long dirs = kTop + kTop * kMid;
  const long files_per_leaf = (names - dirs + kTop * kMid - 1) / (kTop * kMid);
  long made = 0;
  char path[4096];
  for (int t = 0; t < kTop; ++t) {
    std::snprintf(path, sizeof path, "%s/dir%02d", dir.c_str(), t);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) return perror(path), 1;
    ++made;
    for (int m = 0; m < kMid; ++m) {
      std::snprintf(path, sizeof path, "%s/dir%02d/sub%02d", dir.c_str(), t, m);
      if (mkdir(path, 0755) != 0 && errno != EEXIST) return perror(path), 1;
      ++made;
      for (long f = 0; f < files_per_leaf; ++f) {
        std::snprintf(path, sizeof path, "%s/dir%02d/sub%02d/file-%06ld.txt",
                      dir.c_str(), t, m, f);
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) return perror(path), 1;
        close(fd);
        ++made;
      }
    }
  }
  std::printf("%ld\n", made);
  return 0;
}

// Lists `dir` (a directory description) and stats each entry by name in
// `loc`; recurses into directories. Returns the names seen.
long WalkDir(vfs::Vfs& vfs, const vfs::Context& ctx, const vfs::Location& loc,
             vfs::FileDescription& dir) {
  long seen = 0;
  std::vector<uint8_t> buf(64 * 1024);
  std::vector<std::pair<std::string, bool>> entries;
  for (;;) {
    Result<size_t> n = dir.Getdents64(buf);
    if (!n || *n == 0) break;
    for (size_t pos = 0; pos < *n;) {
      uint16_t reclen;
      std::memcpy(&reclen, buf.data() + pos + 16, 2);
      const uint8_t type = buf[pos + 18];
      std::string name(reinterpret_cast<char*>(buf.data() + pos + 19));
      pos += reclen;
      if (name == "." || name == "..") continue;
      entries.emplace_back(std::move(name), type == DT_DIR);
    }
  }
  for (const auto& [name, is_dir] : entries) {
    Result<vfs::Attr> st = vfs.StatAt(ctx, loc, name, AT_SYMLINK_NOFOLLOW);
    if (!st) {
      std::fprintf(stderr, "stat %s: errno %d\n", name.c_str(),
                   st.error().code());
      continue;
    }
    ++seen;
    if (!is_dir) continue;
    auto sub = vfs.OpenAt(ctx, loc, name,
                          vfs::OpenHow{O_RDONLY | O_DIRECTORY | O_NOFOLLOW});
    if (!sub) {
      std::fprintf(stderr, "open %s: errno %d\n", name.c_str(),
                   sub.error().code());
      continue;
    }
    vfs::Location sub_loc = (*sub)->location();
    seen += WalkDir(vfs, ctx, sub_loc, **sub);
  }
  return seen;
}

// Walks the tree `walks` times, printing memory after each walk.
void Walks(vfs::Vfs& v, vfs::Filesystem& fs, int walks) {
  const vfs::Context ctx = v.RootContext();
  malloc_trim(0);
  const size_t heap0 = HeapInUse();
  const long rss0 = StatusKb("self", "VmRSS");
  std::printf("before: heap %zu B, rss %ld KiB, cached %zu, budget %zu\n",
              heap0, rss0, fs.CachedDentries(), [&] {
                std::lock_guard lock(fs.mutex());
                return fs.dentries().budget();
              }());
  long names = 0;
  for (int w = 1; w <= walks; ++w) {
    auto start = std::chrono::steady_clock::now();
    auto root =
        v.OpenAt(ctx, ctx.root, "/", vfs::OpenHow{O_RDONLY | O_DIRECTORY});
    if (!root) return;
    names = WalkDir(v, ctx, ctx.root, **root);
    root = Errno(EBADF);
    double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    const size_t heap = HeapInUse();
    const size_t cached = fs.CachedDentries();
    std::printf(
        "walk %d: %ld names, %.2f s, %zu cached, heap +%zu B (%.1f B per "
        "cached name), rss %ld KiB\n",
        w, names, secs, cached, heap - heap0,
        static_cast<double>(heap - heap0) /
            static_cast<double>(std::max<size_t>(cached, 1)),
        StatusKb("self", "VmRSS"));
  }
  std::printf("names %ld\n", names);
  std::printf("peak_rss_kb %ld\n", StatusKb("self", "VmHWM"));
  std::printf("base_rss_kb %ld\n", rss0);
}

int Walk(int argc, char** argv) {
  std::string veil, tree;
  int walks = 2;
  size_t budget = 0;
  gofer::GoferFsOptions options;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--veil")
      veil = next();
    else if (a == "--tree")
      tree = next();
    else if (a == "--walks")
      walks = std::atoi(next().c_str());
    else if (a == "--budget")
      budget = std::strtoul(next().c_str(), nullptr, 10);
    else if (a == "--immutable")
      options.access = gofer::FileAccess::kImmutable;
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (veil.empty() || tree.empty()) {
    std::fprintf(stderr, "walk needs --veil BIN and --tree DIR\n");
    return 2;
  }
  auto process = gofer::StartGofer(veil, tree, gofer::GoferAccess::kReadOnly);
  if (!process) {
    std::fprintf(stderr, "starting the gofer: errno %d\n",
                 process.error().code());
    return 1;
  }
  const std::string gofer_pid = std::to_string(process->pid());
  auto channel = lisafs::Channel::Adopt(process->TakeSocket());
  if (!channel) return 1;
  auto client = lisafs::Client::Create(std::move(*channel));
  if (!client) return 1;
  auto fs = gofer::GoferFs::Create(std::move(*client), options);
  if (!fs) return 1;
  if (budget != 0) (*fs)->SetDentryCacheBudget(budget);
  auto vfs = std::make_unique<vfs::Vfs>(*fs);
  Walks(*vfs, **fs, walks);
  std::printf("gofer_rss_kb %ld\n", StatusKb(gofer_pid, "VmRSS"));
  std::fflush(stdout);
  vfs.reset();
  return 0;
}

int Tmpfs(int argc, char** argv) {
  long names = 0;
  size_t budget = 0;
  for (int i = 0; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--names")
      names = std::atol(argv[i + 1]);
    else if (a == "--budget")
      budget = std::strtoul(argv[i + 1], nullptr, 10);
    else
      return 2;
  }
  Ref<vfs::tmpfs::Tmpfs> fs = vfs::tmpfs::Tmpfs::Create();
  vfs::Vfs v(fs);
  const vfs::Context ctx = v.RootContext();
  // Made with a budget of one name, so that the tree's inodes exist and
  // almost none of its names are cached when the walk starts.
  fs->SetDentryCacheBudget(1);
  constexpr int kTop = 40, kMid = 25;
  const long per_leaf = std::max(1L, names / (kTop * kMid));
  for (int t = 0; t < kTop; ++t) {
    const std::string top = "/dir" + std::to_string(t);
    (void)v.MkdirAt(ctx, ctx.root, top, 0755);
    for (int m = 0; m < kMid; ++m) {
      const std::string mid = top + "/sub" + std::to_string(m);
      (void)v.MkdirAt(ctx, ctx.root, mid, 0755);
      for (long f = 0; f < per_leaf; ++f) {
        char name[32];
        std::snprintf(name, sizeof name, "/file-%06ld.txt", f);
        (void)v.MknodAt(ctx, ctx.root, mid + name, S_IFREG | 0644, 0);
      }
    }
  }
  fs->SetDentryCacheBudget(budget != 0 ? budget
                                       : vfs::DentryCache::kDefaultBudget);
  Walks(v, *fs, 1);
  return 0;
}

}  // namespace
}  // namespace veil::bench

int main(int argc, char** argv) {
  if (argc >= 4 && std::strcmp(argv[1], "generate") == 0)
    return veil::bench::Generate(argv[2], std::atol(argv[3]));
  if (argc >= 2 && std::strcmp(argv[1], "walk") == 0)
    return veil::bench::Walk(argc - 2, argv + 2);
  if (argc >= 2 && std::strcmp(argv[1], "tmpfs") == 0)
    return veil::bench::Tmpfs(argc - 2, argv + 2);
  std::fprintf(stderr,
               "usage: dcache_bench generate DIR NAMES\n"
               "       dcache_bench walk --veil BIN --tree DIR [--walks N] "
               "[--budget N] [--immutable]\n"
               "       dcache_bench tmpfs --names N [--budget N]\n");
  return 2;
}
