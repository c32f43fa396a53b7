// SPDX-License-Identifier: Apache-2.0
//
// Command-line helpers for snapshot images (see snapshot_cli.h).
#include "tools/snapshot_cli.h"

#include <dirent.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "base/unique_fd.h"
#include "overlay/snapshot/io.h"
#include "overlay/snapshot/tree.h"

namespace veil::tools {
namespace {

// Forwards to another sink until `cancel` becomes true, then fails with
// EINTR: how a second SIGINT stops a long image write.
class CancellableSink final : public snapshot::ByteSink {
 public:
  // Both borrowed; they outlive the sink (WriteImageFile's locals).
  CancellableSink(snapshot::ByteSink& out, const std::atomic<bool>* cancel)
      : out_(out), cancel_(cancel) {}
  snapshot::SnapshotResult<void> Write(
      std::span<const uint8_t> bytes) override {
    if (cancel_ != nullptr && cancel_->load(std::memory_order_relaxed))
      return snapshot::SnapshotError{EINTR, "interrupted by a signal"};
    return out_.Write(bytes);
  }

 private:
  snapshot::ByteSink& out_;
  const std::atomic<bool>* const cancel_;
};

constexpr char kPartialInfix[] = ".partial.";

}  // namespace

std::string DirOf(const std::string& img) {
  std::string copy = img;
  return dirname(copy.data());
}

TtyProgress::TtyProgress(const char* verb, const char* stage)
    : verb_(verb), stage_(stage), enabled_(isatty(STDERR_FILENO)) {}

void TtyProgress::Finish() {
  if (shown_) Update(last_, true), std::fputc('\n', stderr);
  shown_ = false;
}

void TtyProgress::Update(const snapshot::Progress& p, bool force) {
  last_ = p;
  if (!enabled_) return;
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  double t = static_cast<double>(now.tv_sec) + now.tv_nsec / 1e9;
  if (!force && t - last_print_ < 0.1) return;
  last_print_ = t;
  shown_ = true;
  std::fprintf(stderr, "\r\033[Kveil %s: %s: %.1f MiB", verb_, stage_,
               MiB(p.bytes));
  if (p.total_bytes) std::fprintf(stderr, " of %.1f MiB", MiB(p.total_bytes));
  std::fprintf(stderr, ", %llu files",
               static_cast<unsigned long long>(p.files));
  if (p.total_files)
    std::fprintf(stderr, " of %llu",
                 static_cast<unsigned long long>(p.total_files));
}

void RaiseFdLimit() {
  rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (FILE* f = std::fopen("/proc/sys/fs/nr_open", "r")) {
    unsigned long long nr_open = 0;
    if (std::fscanf(f, "%llu", &nr_open) == 1 && nr_open > limit.rlim_max) {
      rlimit raised{nr_open, nr_open};
      if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
    }
    std::fclose(f);
  }
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
}

std::string Explain(const snapshot::SnapshotError& error) {
  if (error.code != EMFILE && error.code != ENFILE) return error.message;
  return error.message +
         " (veil ran out of host descriptors: a restore holds one per "
         "directory of the image until it ends, and the veil tmpfs one per "
         "large file; raise the limit with `ulimit -n`)";
}

std::optional<uint64_t> ParseSize(std::string_view text) {
  uint64_t value = 0;
  size_t i = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i)
    if (__builtin_mul_overflow(value, 10, &value) ||
        __builtin_add_overflow(value, text[i] - '0', &value))
      return std::nullopt;
  if (i == 0) return std::nullopt;
  std::string_view suffix = text.substr(i);
  int shift = 0;
  if (suffix.size() == 1 || (suffix.size() == 3 && suffix.substr(1) == "iB")) {
    switch (suffix[0]) {
      case 'K':
      case 'k':
        shift = 10;
        break;
      case 'M':
      case 'm':
        shift = 20;
        break;
      case 'G':
      case 'g':
        shift = 30;
        break;
      case 'T':
      case 't':
        shift = 40;
        break;
      default:
        return std::nullopt;
    }
  } else if (!suffix.empty()) {
    return std::nullopt;
  }
  if (shift != 0 && value > (UINT64_MAX >> shift)) return std::nullopt;
  return value << shift;
}

namespace {

// Bytes the caller may still write on the filesystem of `dir`, or nullopt
// if statvfs fails. f_bavail even for root: the blocks ext4 reserves for
// root are not always there to be written (on a development VM f_bfree
// said 234 GiB where writes failed with ENOSPC after 78 GiB, f_bavail).
std::optional<uint64_t> FreeSpace(int dir_fd) {
  struct statvfs st;
  if (fstatvfs(dir_fd, &st) != 0) return std::nullopt;
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}
std::optional<uint64_t> FreeSpace(const std::string& dir) {
  UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  return FreeSpace(fd.get());
}

std::string Size(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f GiB",
                static_cast<double>(bytes) / (1 << 30));
  return text;
}

}  // namespace

snapshot::ImageLimits TmpfsLimits(std::optional<uint64_t> max_expanded,
                                  const std::string& self_backed_dir) {
  snapshot::ImageLimits limits;
  if (max_expanded) {
    limits.max_data_bytes = *max_expanded;
    limits.data_limit_source = "--max-expanded";
    return limits;
  }
  if (!self_backed_dir.empty()) {
    if (std::optional<uint64_t> free = FreeSpace(self_backed_dir)) {
      limits.max_data_bytes = *free;
      limits.data_limit_source =
          "the free space of --self-backed " + self_backed_dir +
          "'s filesystem; --max-expanded SIZE overrides it";
    }
    return limits;
  }
  // Unpacked into this process's memory: half of it leaves the host room.
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_size > 0) {
    const uint64_t memory = static_cast<uint64_t>(pages) * page_size;
    limits.max_data_bytes = memory / 2;
    limits.data_limit_source =
        "half of the " + Size(memory) +
        " of physical memory, the default in memory; raise it with "
        "--max-expanded SIZE, or keep the data on disk with --self-backed "
        "DIR";
  }
  return limits;
}

snapshot::ImageLimits RestoreLimits(int dir_fd, const std::string& dir,
                                    SpaceCheck space) {
  snapshot::ImageLimits limits;
  if (space == SpaceCheck::kRefuseBeyondFreeSpace) {
    if (std::optional<uint64_t> free = FreeSpace(dir_fd)) {
      limits.max_data_bytes = *free;
      limits.data_limit_source = "the free space of " + dir +
                                 "'s filesystem; --no-space-check restores "
                                 "anyway";
    }
  }
  struct statfs fs;
  // ext4 (and ext2/3, which ext4 serves): a 32-bit logical block number,
  // so (2^32 - 1) blocks (ext4_max_size); the others veil is used on
  // (tmpfs, xfs, btrfs) take Linux's MAX_LFS_FILESIZE.
  constexpr long kExt4SuperMagic = 0xEF53;
  if (fstatfs(dir_fd, &fs) == 0 && fs.f_type == kExt4SuperMagic &&
      fs.f_bsize > 0)
    limits.max_file_size =
        ((uint64_t{1} << 32) - 1) * static_cast<uint64_t>(fs.f_bsize);
  // A restore holds a descriptor per directory of the image until it ends
  // (and so, at least, per level); keep some for the image, stdio and the
  // library's own.
  rlimit nofile;
  constexpr rlim_t kReserved = 64;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
      nofile.rlim_cur != RLIM_INFINITY) {
    limits.max_directories = static_cast<uint32_t>(std::min<rlim_t>(
        nofile.rlim_cur > kReserved ? nofile.rlim_cur - kReserved : 1,
        UINT32_MAX - 1));
    limits.max_depth = limits.max_directories;
  }
  return limits;
}

snapshot::SnapshotResult<snapshot::RestoreStats> RestoreImageFile(
    const std::string& img, vfs::Vfs& vfs, const vfs::Location& target,
    const char* verb, const snapshot::ImageLimits& limits) {
  UniqueFd fd(open(img.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return snapshot::FromErrno(Errno::FromErrno(), img);
  return RestoreImageFd(fd.get(), img, vfs, target, verb, limits);
}

snapshot::SnapshotResult<snapshot::RestoreStats> RestoreImageFd(
    int fd, const std::string& img, vfs::Vfs& vfs, const vfs::Location& target,
    const char* verb, const snapshot::ImageLimits& limits) {
  auto source = snapshot::FdSource::Create(fd);
  if (!source)
    return snapshot::SnapshotError{source.error().code,
                                   img + ": " + source.error().message};
  auto image = snapshot::Image::Open(*source, limits);
  if (!image)
    return snapshot::SnapshotError{image.error().code,
                                   img + ": " + image.error().message};
  {
    TtyProgress progress(verb, "verifying");
    auto verified = image->Verify(progress.Fn());
    if (!verified)
      return snapshot::SnapshotError{verified.error().code,
                                     img + ": " + verified.error().message};
  }
  TtyProgress progress(verb, "unpacking");
  auto applied = image->Apply(vfs, target, progress.Fn());
  if (!applied)
    return snapshot::SnapshotError{applied.error().code,
                                   img + ": " + Explain(applied.error())};
  return std::move(applied).value();
}

snapshot::SnapshotResult<void> VerifyImageFd(int fd, const std::string& img) {
  auto source = snapshot::FdSource::Create(fd);
  if (!source)
    return snapshot::SnapshotError{source.error().code,
                                   img + ": " + source.error().message};
  auto image = snapshot::Image::Open(*source);
  if (!image)
    return snapshot::SnapshotError{image.error().code,
                                   img + ": " + image.error().message};
  auto verified = image->Verify({});
  if (!verified)
    return snapshot::SnapshotError{verified.error().code,
                                   img + ": " + verified.error().message};
  return {};
}

snapshot::SnapshotResult<void> CheckImageWritable(const std::string& img) {
  struct stat st;
  if (stat(img.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    return snapshot::SnapshotError{EISDIR, img + ": is a directory"};
  std::string dir = DirOf(img);
  if (stat(dir.c_str(), &st) != 0)
    return snapshot::FromErrno(Errno::FromErrno(), img + ": directory " + dir);
  if (!S_ISDIR(st.st_mode))
    return snapshot::SnapshotError{ENOTDIR,
                                   img + ": " + dir + " is not a directory"};
  // Permission bits say too little (/proc, a read-only or full
  // filesystem, a FUSE mount that refuses creation): create the very
  // temporary file the write will, and remove it again.
  const std::string partial = PartialName(img);
  UniqueFd fd(open(partial.c_str(),
                   O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd)
    return snapshot::FromErrno(Errno::FromErrno(),
                               img + ": cannot create " + partial);
  unlink(partial.c_str());
  return snapshot::Done();
}

std::string PartialName(const std::string& img) {
  return img + kPartialInfix + std::to_string(getpid());
}

void SweepStalePartials(const std::string& img) {
  std::string copy = img;
  const std::string prefix = std::string(basename(copy.data())) + kPartialInfix;
  UniqueFd dir_fd(
      open(DirOf(img).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) return;
  DIR* dir = fdopendir(dup(dir_fd.get()));
  if (dir == nullptr) return;
  while (dirent* e = readdir(dir)) {
    std::string_view name = e->d_name;
    if (!name.starts_with(prefix)) continue;
    std::string_view digits = name.substr(prefix.size());
    if (digits.empty() || digits.size() > 9 ||
        digits.find_first_not_of("0123456789") != std::string_view::npos)
      continue;
    const pid_t pid = static_cast<pid_t>(std::stol(std::string(digits)));
    // Only a writer that no longer exists; a live process with that pid
    // (a reused one, at worst) keeps its file.
    if (pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH) continue;
    struct stat st;
    if (fstatat(dir_fd.get(), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(st.st_mode) && st.st_uid == geteuid())
      unlinkat(dir_fd.get(), e->d_name, 0);
  }
  closedir(dir);
}

snapshot::SnapshotResult<snapshot::WriteStats> WriteImageFile(
    snapshot::SourceDir& source, const std::string& img,
    const ImageFileOptions& options) {
  SweepStalePartials(img);
  // In img's directory, so that the rename cannot cross filesystems.
  const std::string partial = PartialName(img);
  UniqueFd fd(open(partial.c_str(),
                   O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
                   options.mode));
  if (!fd) return snapshot::FromErrno(Errno::FromErrno(), partial);
  snapshot::FdSink file_sink(fd.get());
  CancellableSink sink(file_sink, options.cancel);
  auto stats = snapshot::WriteImage(source, sink, options.write);
  if (!stats) {
    unlink(partial.c_str());
    return snapshot::SnapshotError{stats.error().code,
                                   img + ": " + Explain(stats.error())};
  }
  if (fsync(fd.get()) != 0 || rename(partial.c_str(), img.c_str()) != 0) {
    snapshot::SnapshotError error = snapshot::FromErrno(
        Errno::FromErrno(), img + ": completing " + partial);
    unlink(partial.c_str());
    return error;
  }
  // The new name is durable only once the directory is; until then a
  // crash may bring back the old file (still a whole image). A failure
  // here does not make the image less whole, so it is not an error.
  UniqueFd dir(open(DirOf(img).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir) (void)fsync(dir.get());
  return stats;
}

snapshot::SnapshotResult<snapshot::WriteStats> WriteImageFile(
    vfs::Vfs& vfs, const vfs::Location& root, const std::string& img,
    const ImageFileOptions& options) {
  return WriteImageFile(*snapshot::VfsSource(vfs, root), img, options);
}

}  // namespace veil::tools
