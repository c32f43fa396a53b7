// SPDX-License-Identifier: Apache-2.0
//
// notify_bench: the round trip of one seccomp-notified syscall through
// veil's platform (Launch + SeccompPlatform), next to a native getppid.
//
//   notify_bench [--no-sync] [--pin | --split] [ITERATIONS]
//
// The task (this program re-run as "notify_bench --task N") calls getuid,
// which the filter notifies, N times, then getppid (allowed) N times, and
// prints ns/op for each. The sentry side answers every getuid with a value
// on the main thread. --no-sync leaves out SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP;
// --pin puts the sentry and the task on CPU 0; --split puts the task on
// CPU 1 and the sentry's serving thread on CPU 0 (every hand-off crosses
// CPUs: what SYNC_WAKE_UP or pinning avoid).
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "sentry/platform/launcher.h"

namespace {

using veil::sentry::SeccompAction;
using veil::sentry::SeccompRule;

double NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int RunTask(long n) {
  double t0 = NowNs();
  for (long i = 0; i < n; ++i) syscall(SYS_getuid);
  double t1 = NowNs();
  for (long i = 0; i < n; ++i) syscall(SYS_getppid);
  double t2 = NowNs();
  printf("notified getuid: %8.0f ns/op\nnative getppid:  %8.0f ns/op\n",
         (t1 - t0) / n, (t2 - t1) / n);
  return 0;
}

void PinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) perror("sched_setaffinity");
}

class NoObserver final : public veil::sentry::TaskObserver {
 public:
  void OnClone(pid_t, pid_t, veil::sentry::CloneKind) override {}
  void OnExecStop(veil::sentry::ExecStop&) override {}
  void OnExec(pid_t, pid_t) override {}
  void OnExit(pid_t, int) override {}
};

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "--task") == 0) {
    return RunTask(atol(argv[2]));
  }
  bool sync = true;
  bool pin = false;
  bool split = false;
  long n = 100000;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--no-sync") == 0) {
      sync = false;
    } else if (strcmp(argv[i], "--pin") == 0) {
      pin = true;
    } else if (strcmp(argv[i], "--split") == 0) {
      split = true;
    } else {
      n = atol(argv[i]);
    }
  }
  // Before any thread: the tracer thread and the task inherit it.
  if (pin || split) PinTo(split ? 1 : 0);
  std::vector<SeccompRule> rules = {{SYS_getuid, SeccompAction::Notify()},
                                    {SYS_execve, SeccompAction::Trace(0)}};
  auto filter = veil::sentry::SeccompFilter::Create(rules, SeccompAction::Allow());
  if (!filter) return 1;
  veil::sentry::LaunchSpec spec;
  spec.path = "/proc/self/exe";
  char self[4096];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len > 0) spec.path.assign(self, static_cast<size_t>(len));
  spec.argv = {"notify_bench", "--task", std::to_string(n)};
  NoObserver observer;
  auto launched = veil::sentry::Launch(
      *filter, spec, observer,
      sync ? veil::sentry::SyncWakeUp::kOn : veil::sentry::SyncWakeUp::kOff);
  if (!launched) {
    fprintf(stderr, "notify_bench: launch: %s\n", strerror(launched.error().code()));
    return 1;
  }
  if (split) PinTo(0);  // this thread only: it serves the task
  printf("sync_wake_up=%d placement=%s iterations=%ld\n",
         launched->platform->sync_wake_up() ? 1 : 0,
         pin ? "cpu0" : split ? "split" : "free", n);
  fflush(stdout);
  for (;;) {
    auto req = launched->platform->Receive();
    if (!req) {
      if (req.error().code() == EINTR) continue;
      break;  // ECANCELED: the task is gone
    }
    (void)launched->platform->Answer(*req, veil::sentry::SyscallAnswer::Value(0));
  }
  return launched->tracer->Wait() == 0 ? 0 : 1;
}
