// SPDX-License-Identifier: Apache-2.0
//
// FsContext: a task's root, working directory and umask (Linux: struct
// fs_struct). Shared by reference between tasks created with CLONE_FS;
// Fork() copies it for the others.
//
// Thread-safety: all methods may be called concurrently; one mutex.
#pragma once

#include <sys/types.h>

#include "base/mutex.h"
#include "base/ref.h"
#include "vfs/credentials.h"
#include "vfs/mount.h"
#include "vfs/vfs.h"

namespace veil::sentry {

class FsContext final : public RefCounted<FsContext> {
 public:
  static Ref<FsContext> Create(vfs::Location root, vfs::Location cwd,
                               mode_t umask) {
    return AdoptRef(*new FsContext(std::move(root), std::move(cwd), umask));
  }
  // copy_fs_struct.
  Ref<FsContext> Fork() {
    MutexLock lock(mu_);
    return Create(root_, cwd_, umask_);
  }

  // What a VFS call needs: `creds` plus this context, read at once.
  vfs::Context ContextFor(const vfs::Credentials& creds) {
    MutexLock lock(mu_);
    return vfs::Context{creds, root_, cwd_, umask_};
  }
  vfs::Location root() {
    MutexLock lock(mu_);
    return root_;
  }
  vfs::Location cwd() {
    MutexLock lock(mu_);
    return cwd_;
  }
  // set_fs_pwd / set_fs_root. The old Location is dropped after the lock.
  void SetCwd(vfs::Location cwd) {
    MutexLock lock(mu_);
    std::swap(cwd_, cwd);
  }
  void SetRoot(vfs::Location root) {
    MutexLock lock(mu_);
    std::swap(root_, root);
  }
  // umask(2): sets the mask (& 0777) and returns the old one.
  mode_t ExchangeUmask(mode_t mask) {
    MutexLock lock(mu_);
    mode_t old = umask_;
    umask_ = mask & 0777;
    return old;
  }
  mode_t umask() {
    MutexLock lock(mu_);
    return umask_;
  }

 private:
  friend class RefCounted<FsContext>;
  FsContext(vfs::Location root, vfs::Location cwd, mode_t umask)
      : root_(std::move(root)), cwd_(std::move(cwd)), umask_(umask & 0777) {}
  ~FsContext() = default;

  Mutex mu_;
  vfs::Location root_ VEIL_GUARDED_BY(mu_);
  vfs::Location cwd_ VEIL_GUARDED_BY(mu_);
  mode_t umask_ VEIL_GUARDED_BY(mu_);
};

}  // namespace veil::sentry
