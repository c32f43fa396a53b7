// SPDX-License-Identifier: Apache-2.0
//
// Runs the helper program under Launch with the tests' filter (openat and
// getppid notified, execve traced, the rest allowed) and records what the
// tracer reports.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/mutex.h"
#include "sentry/platform/launcher.h"

namespace veil::sentry::testing {

struct Event {
  enum Kind { kClone, kExecStop, kExec, kExit } kind;
  pid_t a = 0;
  int64_t b = 0;
  int c = 0;
  friend bool operator==(const Event&, const Event&) = default;
};

class RecordingObserver final : public TaskObserver {
 public:
  void OnClone(pid_t parent, pid_t child, CloneKind kind) override {
    Add({Event::kClone, parent, child, static_cast<int>(kind)});
  }
  void OnExecStop(ExecStop& stop) override {
    Result<Registers> regs = stop.GetRegisters();
    Add({Event::kExecStop, stop.tid(), regs ? regs->syscall_nr() : -1,
         stop.data()});
    if (regs && !redirect_later_execs.empty() && exec_stops_++ > 0) {
      std::vector<std::string> argv = {"helper", "env", "redirected"};
      if (!stop.RedirectExec(redirect_later_execs, argv)) {
        Add({Event::kExecStop, -1, -1, -1});
      }
      return;
    }
    // Every exec but the first fails with deny_later_execs (skipped: the
    // number set to -1, the result in rax).
    if (regs && deny_later_execs != 0 && exec_stops_++ > 0) {
      regs->set_syscall_nr(-1);
      regs->set_return_value(-deny_later_execs);
      if (!stop.SetRegisters(*regs)) Add({Event::kExecStop, -1, -1, -1});
    }
  }
  void OnExec(pid_t tid, pid_t former) override {
    Add({Event::kExec, tid, former, 0});
  }
  void OnExit(pid_t tid, int status) override {
    Add({Event::kExit, tid, 0, status});
  }
  bool TakeRestartAnswer(pid_t) override {
    return restart_answered.exchange(false);
  }
  // What TakeRestartAnswer answers (once): "the sentry answered
  // -ERESTARTSYS itself".
  std::atomic<bool> restart_answered{false};
  // Blocks until `tid`'s exit has been reported.
  void WaitForExit(pid_t tid) {
    MutexLock lock(mu_);
    for (;;) {
      for (const Event& e : events_) {
        if (e.kind == Event::kExit && e.a == tid) return;
      }
      cv_.Wait(mu_);
    }
  }
  // Blocks until a clone has been reported; the child's tid.
  pid_t WaitForClone() {
    MutexLock lock(mu_);
    for (;;) {
      for (const Event& e : events_) {
        if (e.kind == Event::kClone) return static_cast<pid_t>(e.b);
      }
      cv_.Wait(mu_);
    }
  }
  // Set before Start; read on the tracer thread only.
  int deny_later_execs = 0;
  // Every exec but the first becomes "helper env redirected" of this path.
  std::string redirect_later_execs;

  std::vector<Event> events() {
    MutexLock lock(mu_);
    return events_;
  }

 private:
  void Add(Event e) {
    MutexLock lock(mu_);
    events_.push_back(e);
    cv_.SignalAll();
  }
  int exec_stops_ = 0;  // tracer thread only
  Mutex mu_;
  CondVar cv_;
  std::vector<Event> events_ VEIL_GUARDED_BY(mu_);
};

inline SeccompFilter TestFilter() {
  std::vector<SeccompRule> rules = {
      {SYS_openat, SeccompAction::Notify()},
      {SYS_getppid, SeccompAction::Notify()},
      {SYS_execve, SeccompAction::Trace(SYS_execve)},
  };
  return *SeccompFilter::Create(rules, SeccompAction::Allow());
}

class LaunchTest : public ::testing::Test {
 protected:
  // Starts the helper in `mode`; its stdout goes to a pipe Output() reads.
  // kEmptyRoot: in a root of its own holding only the helper, as /helper.
  void Start(const char* mode, std::vector<std::string> more_args = {},
             std::vector<std::string> envp = {},
             MountNamespace mounts = MountNamespace::kShared) {
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    out_read_.reset(p[0]);
    UniqueFd out_write(p[1]);
    LaunchSpec spec;
    spec.path = VEIL_PLATFORM_HELPER;
    spec.argv = {"helper", mode};
    spec.argv.insert(spec.argv.end(), more_args.begin(), more_args.end());
    spec.envp = std::move(envp);
    spec.stdio = {-1, out_write.get(), -1};
    UniqueFd program;
    if (mounts == MountNamespace::kEmptyRoot) {
      program.reset(open(VEIL_PLATFORM_HELPER, O_RDONLY | O_CLOEXEC));
      ASSERT_TRUE(program);
      spec.path = "/helper";
      spec.mount_namespace = mounts;
      spec.program_fd = program.get();
    }
    Result<Launched> launched =
        Launch(TestFilter(), spec, observer_, SyncWakeUp::kOn);
    ASSERT_TRUE(launched) << launched.error().code();
    task_ = std::move(*launched);
  }
  // Waits for every task to end; the helper's output.
  std::string Finish(int* status) {
    *status = task_.tracer->Wait();
    std::string out;
    char buf[256];
    ssize_t n;
    while ((n = read(out_read_.get(), buf, sizeof buf)) > 0) {
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  Platform& platform() { return *task_.platform; }

  RecordingObserver observer_;
  UniqueFd out_read_;
  Launched task_;
};

// A host memfd holding `text`, read from its start.
inline UniqueFd MemfdWith(const std::string& text) {
  UniqueFd fd(memfd_create("platform-test", MFD_CLOEXEC));
  if (write(fd.get(), text.data(), text.size()) !=
          static_cast<ssize_t>(text.size()) ||
      lseek(fd.get(), 0, SEEK_SET) != 0) {
    return UniqueFd();
  }
  return fd;
}

}  // namespace veil::sentry::testing
