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
#include <time.h>
#include <unistd.h>

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

// img's directory ("." for a bare name).
std::string DirOf(const std::string& img) {
  std::string copy = img;
  return dirname(copy.data());
}

}  // namespace

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
         " (veil ran out of host descriptors: it holds one per directory "
         "being restored, and the veil tmpfs one per large file; raise the "
         "limit with `ulimit -n`)";
}

snapshot::SnapshotResult<snapshot::RestoreStats> RestoreImageFile(
    const std::string& img, vfs::Vfs& vfs, const vfs::Location& target,
    const char* verb) {
  UniqueFd fd(open(img.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return snapshot::FromErrno(Errno::FromErrno(), img);
  auto source = snapshot::FdSource::Create(fd.get());
  if (!source)
    return snapshot::SnapshotError{source.error().code,
                                   img + ": " + source.error().message};
  auto image = snapshot::Image::Open(*source);
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
