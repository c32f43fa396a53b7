// SPDX-License-Identifier: Apache-2.0
//
// The `veil fuse` modes that build more than one filesystem: --rootfs (an
// overlay over a read-only gofer tree, optionally restored from and saved
// to a snapshot image) and --image (a snapshot image's raw layer,
// read-only). fuse_main.cc parses the command line and calls these.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "base/ref.h"
#include "gofer/client/gofer_fs.h"
#include "gofer/client/gofer_process.h"
#include "overlay/snapshot/format.h"
#include "tools/fuse/fuse_serve.h"
#include "vfs/tmpfs/file_store.h"

namespace veil::tools {

// What the gofer child's stdio is.
enum class GoferStdio {
  kInherit,  // ours (in the foreground)
  // For a process that will detach (ReleaseParent): stdin and stdout are
  // /dev/null, and stderr a pipe that a thread of ours copies to our own
  // stderr, which ReleaseParent turns into /dev/null. Otherwise the gofer
  // would keep the caller's terminal or pipe open after we detached
  // (`out=$(veil fuse ...)` would wait for the unmount) and could write
  // to it later.
  kRelay,
};

// Starts a `veil gofer` child serving host directory `dir` (absolute)
// with `access`, and returns the GoferFs that sees it; `*process` gets the
// child, which must outlive the filesystem (declare it first). Errors are
// printed ("veil fuse: ...") and returned as std::nullopt.
std::optional<Ref<gofer::GoferFs>> ConnectGofer(
    const std::string& dir, gofer::GoferAccess access,
    const gofer::GoferFsOptions& options, GoferStdio stdio,
    std::optional<gofer::GoferProcess>* process,
    gofer::GoferDonation donation = gofer::GoferDonation::kReadOnlyFiles);

// --rootfs DIR [--restore IMG] [--snapshot-out IMG]. Paths are absolute
// and were checked by the caller; `restore` and `snapshot_out` may be
// empty.
struct RootfsOptions {
  std::string dir;
  std::string restore;
  std::string snapshot_out;
  // --self-backed: the upper tmpfs keeps its file data here (null: in
  // memory).
  std::shared_ptr<vfs::tmpfs::FileStore> store;
  // What `restore` may unpack into the tmpfs (TmpfsLimits).
  snapshot::ImageLimits limits;
};

// Serves the overlay of a fresh tmpfs (or IMG restored into one) over a
// read-only gofer tree of DIR; at a clean end writes the upper layer to
// snapshot_out. Returns the exit status.
int ServeRootfs(const ServeOptions& options, const RootfsOptions& rootfs,
                const std::string& mountpoint);

// --image IMG: checks IMG against `limits`, verifies it, applies it into
// a tmpfs (self-backed by `store` unless null) and serves that on a
// read-only mount. Returns the exit status.
int ServeImage(const ServeOptions& options, const std::string& img,
               std::shared_ptr<vfs::tmpfs::FileStore> store,
               const snapshot::ImageLimits& limits,
               const std::string& mountpoint);

}  // namespace veil::tools
