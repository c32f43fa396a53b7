// SPDX-License-Identifier: Apache-2.0
//
// vfs_concurrency_bench: how file I/O scales from one thread to two.
//
//   vfs_concurrency_bench --vfs            veil's Vfs over a tmpfs, in process
//   vfs_concurrency_bench --dir DIR        plain syscalls on files in DIR (a
//                                          host tmpfs, a `veil fuse` mount,
//                                          gVisor's /tmp)
//
// Four measurements, each the best of --rounds runs of --seconds:
//   rw1  one thread, pread and pwrite in turn on one file
//   rw2  two threads, the same, each on a file of its own
//   rd1  one thread, pread on one file
//   rd2  two threads, pread on the same file (each through its own open)
// Requests are 4, 8, 16, 32 or 64 KiB at a page-aligned offset, both drawn
// from a fixed pseudo-random sequence per thread; files are --file-kib
// KiB, written in full before the clock starts. Throughput counts the
// bytes read and written by all threads, in MB/s (10^6 bytes).
//
// In --dir mode files are opened with O_DIRECT (--no-direct turns it off)
// so that a FUSE mount's page cache does not answer the reads in the
// kernel: every request reaches the file server. A host tmpfs accepts
// O_DIRECT since Linux 6.6 and serves it from its pages as before; where
// the open is refused (EINVAL) the bench says so and opens without it.
//
// The last line, "RESULT rw1=... rw2=... rd1=... rd2=...", is for
// bench/vfs_concurrency/run.sh.
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "vfs/tmpfs/tmpfs.h"
#include "vfs/vfs.h"

namespace {

using veil::Ref;
using veil::UniqueFd;

constexpr uint64_t kPage = 4096;
constexpr uint64_t kMaxRequest = 64 * 1024;

struct Options {
  bool in_process = false;
  std::string dir;
  double seconds = 1.0;
  int rounds = 3;
  uint64_t file_bytes = 512 * 1024;  // below tmpfs's memfd threshold
  bool direct = true;
};

// One open file the workload does positional I/O on.
class File {
 public:
  virtual ~File() = default;
  // Bytes transferred, or -1.
  virtual int64_t PRead(uint8_t* buf, size_t n, uint64_t off) = 0;
  virtual int64_t PWrite(const uint8_t* buf, size_t n, uint64_t off) = 0;
};

class HostFile final : public File {
 public:
  explicit HostFile(UniqueFd fd) : fd_(std::move(fd)) {}
  int64_t PRead(uint8_t* buf, size_t n, uint64_t off) override {
    return pread(fd_.get(), buf, n, static_cast<off_t>(off));
  }
  int64_t PWrite(const uint8_t* buf, size_t n, uint64_t off) override {
    return pwrite(fd_.get(), buf, n, static_cast<off_t>(off));
  }

 private:
  UniqueFd fd_;
};

class VfsFile final : public File {
 public:
  explicit VfsFile(Ref<veil::vfs::FileDescription> file)
      : file_(std::move(file)) {}
  int64_t PRead(uint8_t* buf, size_t n, uint64_t off) override {
    auto r =
        file_->PRead(std::span<uint8_t>(buf, n), static_cast<int64_t>(off));
    return r ? static_cast<int64_t>(*r) : -1;
  }
  int64_t PWrite(const uint8_t* buf, size_t n, uint64_t off) override {
    auto r = file_->PWrite(std::span<const uint8_t>(buf, n),
                           static_cast<int64_t>(off));
    return r ? static_cast<int64_t>(*r) : -1;
  }

 private:
  Ref<veil::vfs::FileDescription> file_;
};

// Where the files live: veil's Vfs in this process, or a host directory.
class Place {
 public:
  virtual ~Place() = default;
  // Opens `name` for reading and writing, creating it.
  virtual std::unique_ptr<File> Open(const std::string& name) = 0;
};

class VfsPlace final : public Place {
 public:
  VfsPlace() : vfs_(veil::vfs::tmpfs::Tmpfs::Create()) {}
  std::unique_ptr<File> Open(const std::string& name) override {
    veil::vfs::Context ctx = vfs_.RootContext();
    auto f = vfs_.OpenAt(ctx, ctx.cwd, "/" + name,
                         veil::vfs::OpenHow{O_RDWR | O_CREAT, 0644, 0});
    if (!f) {
      std::fprintf(stderr, "open %s in the Vfs: %s\n", name.c_str(),
                   std::strerror(f.error().code()));
      std::exit(1);
    }
    return std::make_unique<VfsFile>(std::move(*f));
  }

 private:
  veil::vfs::Vfs vfs_;
};

class DirPlace final : public Place {
 public:
  DirPlace(std::string dir, bool direct)
      : dir_(std::move(dir)), direct_(direct) {}
  ~DirPlace() override {
    for (const std::string& p : made_) unlink(p.c_str());
  }
  std::unique_ptr<File> Open(const std::string& name) override {
    std::string path = dir_ + "/vfs-concurrency-" + name;
    int flags = O_RDWR | O_CREAT | O_CLOEXEC;
    int fd = open(path.c_str(), flags | (direct_ ? O_DIRECT : 0), 0644);
    if (fd < 0 && direct_ && errno == EINVAL) {
      std::printf("# O_DIRECT refused in %s: page cache on\n", dir_.c_str());
      direct_ = false;
      fd = open(path.c_str(), flags, 0644);
    }
    if (fd < 0) {
      std::fprintf(stderr, "open %s: %s\n", path.c_str(), std::strerror(errno));
      std::exit(1);
    }
    made_.push_back(path);
    return std::make_unique<HostFile>(UniqueFd(fd));
  }

 private:
  const std::string dir_;
  bool direct_;
  std::vector<std::string> made_;
};

// A page-aligned buffer (O_DIRECT wants one).
struct Buffer {
  Buffer()
      : data(static_cast<uint8_t*>(std::aligned_alloc(kPage, kMaxRequest))) {
    std::memset(data, 0x5a, kMaxRequest);
  }
  ~Buffer() { std::free(data); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  uint8_t* data;
};

void Fill(File& f, uint64_t bytes) {
  Buffer buf;
  for (uint64_t off = 0; off < bytes; off += kMaxRequest) {
    size_t n = static_cast<size_t>(std::min(kMaxRequest, bytes - off));
    if (f.PWrite(buf.data, n, off) != static_cast<int64_t>(n)) {
      std::fprintf(stderr, "filling a file failed: %s\n", std::strerror(errno));
      std::exit(1);
    }
  }
}

enum class Work { kReadWrite, kRead };

// One thread's loop: requests until `stop`; returns the bytes moved.
uint64_t Loop(File& f, Work work, uint64_t file_bytes, uint64_t seed,
              const std::atomic<bool>& stop) {
  Buffer buf;
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;  // xorshift64
  uint64_t bytes = 0;
  bool write = true;
  const uint64_t pages = file_bytes / kPage;
  while (!stop.load(std::memory_order_relaxed)) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    uint64_t n = kPage << (x % 5);  // 4 .. 64 KiB
    uint64_t slots = pages - n / kPage + 1;
    uint64_t off = ((x >> 8) % slots) * kPage;
    int64_t done = (work == Work::kReadWrite && write)
                       ? f.PWrite(buf.data, n, off)
                       : f.PRead(buf.data, n, off);
    if (done < 0) {
      std::fprintf(stderr, "I/O failed: %s\n", std::strerror(errno));
      std::exit(1);
    }
    bytes += static_cast<uint64_t>(done);
    write = !write;
  }
  return bytes;
}

// Runs one thread per file in `files` for `seconds`; MB/s of them all.
double RunOnce(const std::vector<File*>& files, Work work, const Options& opt) {
  std::atomic<bool> stop{false};
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<uint64_t> bytes(files.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < files.size(); ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (!go.load()) sched_yield();
      bytes[i] = Loop(*files[i], work, opt.file_bytes, i + 1, stop);
    });
  }
  while (ready.load() < static_cast<int>(files.size())) sched_yield();
  auto start = std::chrono::steady_clock::now();
  go.store(true);
  std::this_thread::sleep_for(std::chrono::duration<double>(opt.seconds));
  stop.store(true);
  for (std::thread& t : threads) t.join();
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  uint64_t total = 0;
  for (uint64_t b : bytes) total += b;
  return static_cast<double>(total) / secs / 1e6;
}

double Best(const std::vector<File*>& files, Work work, const Options& opt) {
  double best = 0;
  for (int r = 0; r < opt.rounds; ++r)
    best = std::max(best, RunOnce(files, work, opt));
  return best;
}

[[noreturn]] void Usage() {
  std::fprintf(stderr,
               "usage: vfs_concurrency_bench (--vfs | --dir DIR) "
               "[--seconds S] [--rounds N] [--file-kib K] [--no-direct]\n");
  std::exit(2);
}

Options Parse(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) Usage();
      return argv[++i];
    };
    if (a == "--vfs") {
      opt.in_process = true;
    } else if (a == "--dir") {
      opt.dir = next();
    } else if (a == "--seconds") {
      opt.seconds = std::atof(next());
    } else if (a == "--rounds") {
      opt.rounds = std::atoi(next());
    } else if (a == "--file-kib") {
      opt.file_bytes = std::strtoull(next(), nullptr, 10) * 1024;
    } else if (a == "--no-direct") {
      opt.direct = false;
    } else {
      Usage();
    }
  }
  if (opt.in_process == !opt.dir.empty()) Usage();
  if (opt.seconds <= 0 || opt.rounds < 1 || opt.file_bytes < kMaxRequest ||
      opt.file_bytes % kPage != 0)
    Usage();
  return opt;
}

}  // namespace

int main(int argc, char** argv) {
  const Options opt = Parse(argc, argv);
  std::unique_ptr<Place> place;
  if (opt.in_process) {
    place = std::make_unique<VfsPlace>();
  } else {
    place = std::make_unique<DirPlace>(opt.dir, opt.direct);
  }
  // a, b: two files; a2: a second open of a (a reader of its own).
  std::unique_ptr<File> a = place->Open("a");
  std::unique_ptr<File> b = place->Open("b");
  Fill(*a, opt.file_bytes);
  Fill(*b, opt.file_bytes);
  std::unique_ptr<File> a2 = place->Open("a");

  std::printf(
      "# %s; files of %llu KiB; requests 4-64 KiB; best of %d x %.1f s\n",
      opt.in_process ? "veil Vfs over tmpfs, in process"
                     : ("syscalls in " + opt.dir).c_str(),
      static_cast<unsigned long long>(opt.file_bytes / 1024), opt.rounds,
      opt.seconds);
  const double rw1 = Best({a.get()}, Work::kReadWrite, opt);
  const double rw2 = Best({a.get(), b.get()}, Work::kReadWrite, opt);
  const double rd1 = Best({a.get()}, Work::kRead, opt);
  const double rd2 = Best({a.get(), a2.get()}, Work::kRead, opt);
  std::printf("%-44s %9.1f MB/s\n", "read+write, 1 thread, one file", rw1);
  std::printf("%-44s %9.1f MB/s  %.2fx\n", "read+write, 2 threads, a file each",
              rw2, rw2 / rw1);
  std::printf("%-44s %9.1f MB/s\n", "read, 1 thread", rd1);
  std::printf("%-44s %9.1f MB/s  %.2fx\n", "read, 2 threads, the same file",
              rd2, rd2 / rd1);
  std::printf("RESULT rw1=%.1f rw2=%.1f rd1=%.1f rd2=%.1f\n", rw1, rw2, rd1,
              rd2);
  return 0;
}
