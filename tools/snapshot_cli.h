// SPDX-License-Identifier: Apache-2.0
//
// What the verbs that read or write snapshot images share at the command
// line (`veil fuse --rootfs/--image`, and `veil snapshot`/`restore` once
// they move over): progress on a terminal, the descriptor limit a veil
// tmpfs needs, and image files that are either whole or absent.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "overlay/snapshot/error.h"
#include "overlay/snapshot/snapshot.h"
#include "vfs/vfs.h"

namespace veil::tools {

// Prints "\rveil VERB: STAGE: 12.3 MiB, 456 files" to a terminal stderr,
// at most ten times a second; silent when stderr is not a terminal (a
// detached `veil fuse` has /dev/null there).
class TtyProgress final {
 public:
  TtyProgress(const char* verb, const char* stage);
  ~TtyProgress() { Finish(); }
  TtyProgress(const TtyProgress&) = delete;
  TtyProgress& operator=(const TtyProgress&) = delete;

  // A callback for the snapshot functions; borrows *this.
  snapshot::ProgressFn Fn() {
    return [this](const snapshot::Progress& p) { Update(p, false); };
  }
  // Prints the final numbers and ends the line (if anything was shown).
  void Finish();

 private:
  void Update(const snapshot::Progress& p, bool force);

  const char* verb_;
  const char* stage_;
  const bool enabled_;
  bool shown_ = false;
  double last_print_ = 0;
  snapshot::Progress last_;
};

// Restores hold a host descriptor per directory until its metadata is set
// at the end, and the veil tmpfs holds memfds: raises the soft limit to
// the hard one, and as root the hard one to the kernel's maximum
// (fs.nr_open).
void RaiseFdLimit();

// The error's message, with a hint when the descriptor limit was the cause.
std::string Explain(const snapshot::SnapshotError& error);

inline double MiB(uint64_t bytes) {
  return static_cast<double>(bytes) / (1 << 20);
}

// SIZE as given to --max-expanded: bytes, or a number with a K, M, G or T
// suffix (powers of 1024). std::nullopt if malformed or out of range.
std::optional<uint64_t> ParseSize(std::string_view text);

// The limits for unpacking an image into a veil tmpfs (`veil fuse
// --image`, `--restore`): file data at most `max_expanded` if given (the
// --max-expanded option), else, in memory, half of the physical memory,
// and with a self-backed store (`self_backed_dir` not empty), the free
// space of that directory's filesystem. The data limit's source names
// the options that change it, for the refusal's message.
snapshot::ImageLimits TmpfsLimits(std::optional<uint64_t> max_expanded,
                                  const std::string& self_backed_dir);

// How RestoreLimits treats the target's free space.
enum class SpaceCheck { kRefuseBeyondFreeSpace, kIgnore };

// The limits for restoring into the host directory open as `dir_fd`
// (`veil restore`; `dir` names it in messages): file data at most the
// free space of its filesystem (fstatvfs; unless kIgnore), files no
// larger than that filesystem's largest (ext4's 16 TiB with 4 KiB blocks,
// else Linux's MAX_LFS_FILESIZE), and no more directories (nor deeper)
// than the descriptor limit allows, less a reserve of 64 (call
// RaiseFdLimit first).
snapshot::ImageLimits RestoreLimits(int dir_fd, const std::string& dir,
                                    SpaceCheck space);

// Opens the image file `img`, checks it against `limits`, verifies every
// byte of it (showing progress as "veil VERB: verifying"), then applies it
// into the empty directory `target`. A damaged image, or one past the
// limits, is refused before anything is created; the error message starts
// with `img` and names the damaged part or the limit.
snapshot::SnapshotResult<snapshot::RestoreStats> RestoreImageFile(
    const std::string& img, vfs::Vfs& vfs, const vfs::Location& target,
    const char* verb, const snapshot::ImageLimits& limits);

// The same from an open image file (named `img` in messages).
snapshot::SnapshotResult<snapshot::RestoreStats> RestoreImageFd(
    int fd, const std::string& img, vfs::Vfs& vfs, const vfs::Location& target,
    const char* verb, const snapshot::ImageLimits& limits);

struct ImageFileOptions {
  snapshot::WriteOptions write;  // chunk size, progress
  // Checked between writes: once true, writing stops with EINTR and
  // nothing is left at the image's path. May be null. Set it from a
  // signal handler (a lock-free atomic is async-signal-safe).
  const std::atomic<bool>* cancel = nullptr;
  // The new file's mode (before the umask).
  mode_t mode = 0600;
};

// Writes an image of the tree `source` to the file `img`: under a
// temporary name in img's directory (PartialName, O_EXCL), fsync'd,
// renamed over img, and the directory fsync'd, so that img is always
// either the old file, or absent, or the whole new image. On failure
// (cancel included) the temporary file is removed and img is left as it
// was; temporary files of writers that died (SweepStalePartials) are
// removed first.
snapshot::SnapshotResult<snapshot::WriteStats> WriteImageFile(
    snapshot::SourceDir& source, const std::string& img,
    const ImageFileOptions& options);
// The same of the tree under `root` in `vfs`.
snapshot::SnapshotResult<snapshot::WriteStats> WriteImageFile(
    vfs::Vfs& vfs, const vfs::Location& root, const std::string& img,
    const ImageFileOptions& options);

// Whether `img` can be created later (by WriteImageFile): img is not a
// directory, and the temporary file can be created in its directory
// (tried, then removed: permission bits alone would pass /proc or a
// read-only filesystem). A check made up front, so that an hour's work is
// not lost at the end for a typo. The message names img and the reason.
snapshot::SnapshotResult<void> CheckImageWritable(const std::string& img);

// Checks that the open file `fd` holds a whole image (header, manifest
// and every chunk verified), named `img` in the message.
snapshot::SnapshotResult<void> VerifyImageFd(int fd, const std::string& img);

// img's directory ("." for a bare name).
std::string DirOf(const std::string& img);

// "IMG.partial.PID": where this process writes img before renaming it.
std::string PartialName(const std::string& img);

// Removes the "IMG.partial.PID" files in img's directory whose PID is no
// longer a process (a writer killed by SIGKILL or a crash) and which the
// caller owns. Best effort: errors are ignored.
void SweepStalePartials(const std::string& img);

}  // namespace veil::tools
