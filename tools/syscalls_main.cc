// SPDX-License-Identifier: Apache-2.0
//
// `veil syscalls [--strict]`: prints the sentry's syscall table, one line
// per x86-64 syscall number: what happens to the call (served by the
// sentry, native in the host kernel, denied with an errno, or not served
// yet), its errno if it has one, and why. With --strict the data-plane
// calls show as served (trapped) rather than native.
#include <cstdio>
#include <cstring>
#include <string_view>

#include "sentry/kernel/syscall_table.h"
#include "tools/verbs.h"

namespace veil::tools {

int RunSyscalls(int argc, char** argv) {
  using sentry::Mode;
  using sentry::SyscallEntry;
  using sentry::SyscallKind;
  Mode mode = Mode::kDefault;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--strict") {
      mode = Mode::kStrict;
    } else if (arg == "-h" || arg == "--help") {
      std::printf("usage: veil syscalls [--strict]\n");
      return 0;
    } else {
      std::fprintf(stderr, "veil syscalls: unknown argument '%s'\n", argv[i]);
      return 2;
    }
  }
  std::printf("%-4s %-24s %-8s %-12s %s\n", "NR", "NAME", "KIND", "ERRNO",
              "REASON");
  int counts[4] = {};
  for (const SyscallEntry& e : sentry::SyscallTable()) {
    const char* kind = "served";
    int index = 0;
    switch (e.kind) {
      case SyscallKind::kHandler:
        if (!e.handler) {
          kind = "todo", index = 3;
        } else if (!sentry::Trapped(e, mode)) {
          kind = "native", index = 1;
        }
        break;
      case SyscallKind::kNative:
        kind = "native", index = 1;
        break;
      case SyscallKind::kDenied:
        kind = "denied", index = 2;
        break;
    }
    ++counts[index];
    const char* error = e.error ? strerrorname_np(e.error) : "-";
    std::printf("%-4d %-24s %-8s %-12s %s\n", e.nr, e.name, kind,
                error ? error : "?", e.reason);
  }
  std::printf("\nsummary: %d served, %d native, %d denied, %d todo (%s)\n",
              counts[0], counts[1], counts[2], counts[3],
              mode == Mode::kStrict ? "--strict" : "default mode");
  return 0;
}

}  // namespace veil::tools
