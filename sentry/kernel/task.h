// SPDX-License-Identifier: Apache-2.0
//
// Task: one thread of an app as the sentry keeps it (Linux: struct
// task_struct, the parts file syscalls need). The fields are grouped by
// who may touch them:
//  - immutable after creation: the ids and the VFS;
//  - owned by the thread serving the task's requests (one request at a
//    time per task, DESIGN.md "The sentry"): credentials, the limits, the
//    waiter its blocking calls sleep in;
//  - shared objects with their own locks: the fd table (shared under
//    CLONE_FILES) and the fs context (shared under CLONE_FS).
// Interrupt() is the one method another thread may call: it ends a
// blocking call of the task (a signal arrived) with EINTR.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "base/mutex.h"

#include "base/ref.h"
#include "base/unique_fd.h"
#include "sentry/kernel/creds.h"
#include "sentry/kernel/fd_table.h"
#include "sentry/kernel/fs_context.h"
#include "sentry/platform/platform.h"
#include "vfs/credentials.h"
#include "vfs/file_lock.h"
#include "vfs/vfs.h"
#include "vfs/wait.h"

namespace veil::sentry {

class HostTwins;

// What exec made of a thread group's image, as /proc shows it: the file
// it runs (exe), its name (comm: the file name's last component, 15
// bytes, as __set_task_comm) and where its argv and envp strings lie.
struct ExecImage {
  RefPtr<vfs::FileDescription> exe;  // null before the first exec
  std::string comm;
  uint64_t arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;
};

// A copy of what other threads may look at of a task (/proc): taken
// under the task's view lock, so it never races its serving thread.
struct TaskView {
  pid_t tid = 0, tgid = 0;
  vfs::Credentials creds;
  TaskCreds ids;
  RefPtr<FdTable> fds;     // never null in a View()
  RefPtr<FsContext> fs;    // never null in a View()
  ExecImage image;
};

// What a served call does besides its value (the data plane): host fds
// to install in the task at the numbers the sentry chose, or a native
// continuation of the call (close, lseek, F_SETFD ...: registers only,
// checked by the sentry first). Dispatch turns them into the answer.
struct CallEffects {
  struct Install {
    UniqueFd fd;
    int number;
    CloseOnExec cloexec;
  };
  std::vector<Install> installs;
  bool continue_natively = false;
};

class Task final {
 public:
  Task(Platform& platform, vfs::Vfs& vfs, pid_t tid, pid_t tgid,
       vfs::Credentials creds, Ref<FdTable> fds, Ref<FsContext> fs)
      : platform_(platform),
        vfs_(vfs),
        tid_(tid),
        tgid_(tgid),
        creds_(std::move(creds)),
        task_creds_(TaskCreds::From(creds_)),
        fds_(std::move(fds)),
        fs_(std::move(fs)) {}
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;

  // --- Immutable ---------------------------------------------------------
  Platform& platform() const { return platform_; }
  vfs::Vfs& vfs() const { return vfs_; }
  pid_t tid() const { return tid_; }
  pid_t tgid() const { return tgid_; }

  // --- Owned by the serving thread ----------------------------------------
  const vfs::Credentials& creds() const { return creds_; }
  // The ids and capabilities behind creds() (the id calls').
  const TaskCreds& task_creds() const { return task_creds_; }
  // Every id the fs id of `creds` (tests, and a task made as a user).
  void set_creds(const vfs::Credentials& creds) {
    set_task_creds(TaskCreds::From(creds));
  }
  void set_task_creds(TaskCreds creds) {
    MutexLock lock(view_mu_);
    creds_ = creds.Vfs();
    task_creds_ = std::move(creds);
  }
  // RLIMIT_NOFILE's soft limit (the fd table's EMFILE bound).
  int nofile_limit() const { return nofile_limit_; }
  void set_nofile_limit(int limit) { nofile_limit_ = limit; }
  // The waiter blocking calls of this task sleep in (vfs/blocking.h).
  vfs::ThreadWaiter& waiter() { return waiter_; }
  // The data plane's host side, or null under --strict (every call
  // trapped, no host fd in the task but its stdio).
  const HostTwins* twins() const { return twins_; }
  void set_twins(const HostTwins* twins) { twins_ = twins; }
  // The effects of the call being served (cleared before each).
  CallEffects& effects() { return effects_; }
  // Numbers a close kept reserved until the task closed its host fd
  // natively: freed when its next call comes (a task makes one call at
  // a time, so its native close has run by then) or when it exits.
  void KeepClosing(int fd) { closing_.emplace_back(fds_, fd); }
  void ReleaseClosing() {
    for (auto& [table, fd] : closing_) table->ReleaseReserved(fd);
    closing_.clear();
  }
  // The VFS context of a call: credentials, root, cwd, umask.
  vfs::Context Context() { return fs_->ContextFor(creds_); }
  // The owner of this task's POSIX record locks: its fd table (Linux:
  // fl_owner = current->files), reporting the thread group as l_pid.
  vfs::LockOwner PosixLockOwner() const {
    return vfs::LockOwner::Process(reinterpret_cast<uintptr_t>(fds_.get()),
                                   tgid_);
  }

  // --- Shared, each with its own lock --------------------------------------
  FdTable& fds() const { return *fds_; }
  const Ref<FdTable>& fds_ref() const { return fds_; }
  FsContext& fs() const { return *fs_; }
  const Ref<FsContext>& fs_ref() const { return fs_; }
  // unshare(CLONE_FILES)/exec replace the table; serving thread only.
  void set_fds(Ref<FdTable> fds) {
    MutexLock lock(view_mu_);
    fds_ = std::move(fds);
  }
  // exec's new image (the tracer or serving thread).
  void set_image(ExecImage image) {
    MutexLock lock(view_mu_);
    image_ = std::move(image);
  }

  // --- Any thread -----------------------------------------------------------
  // What /proc shows of the task, copied at once.
  TaskView View() const {
    MutexLock lock(view_mu_);
    return TaskView{tid_, tgid_, creds_, task_creds_, fds_, fs_, image_};
  }

  // --- Any thread -----------------------------------------------------------
  // Ends the task's current (or next) blocking wait with EINTR.
  void Interrupt() { waiter_.Interrupt(); }

 private:
  Platform& platform_;  // borrowed: serves the task for its whole life
  vfs::Vfs& vfs_;       // borrowed: the sandbox's VFS outlives its tasks
  const pid_t tid_;
  const pid_t tgid_;

  vfs::Credentials creds_;  // task_creds_.Vfs()
  TaskCreds task_creds_;
  int nofile_limit_ = 1024;  // Linux's default soft RLIMIT_NOFILE
  vfs::ThreadWaiter waiter_;
  const HostTwins* twins_ = nullptr;  // borrowed: the sandbox's
  CallEffects effects_;
  std::vector<std::pair<Ref<FdTable>, int>> closing_;

  // Written by the serving thread under view_mu_ (so it may read them
  // without it); read by other threads only through View().
  mutable Mutex view_mu_;
  Ref<FdTable> fds_;
  Ref<FsContext> fs_;
  ExecImage image_ VEIL_GUARDED_BY(view_mu_);
};

// The task whose call this thread is serving (Linux's `current`), or
// null: set by Dispatch around a handler, for what has no other way to
// learn its caller (/proc/self).
Task* CurrentTask();

}  // namespace veil::sentry
