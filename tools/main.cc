// SPDX-License-Identifier: Apache-2.0
//
// veil: the command-line entry point. One verb per job (DESIGN.md, "The
// CLI"); a verb that is not built yet says so and exits with status 2.
#include <cstdio>
#include <cstring>
#include <string_view>

#include "tools/verbs.h"

namespace veil::tools {
namespace {

struct Verb {
  const char* name;
  const char* usage;
  const char* summary;
  int (*run)(int argc, char** argv);  // nullptr: not built yet
  const char* issue;                  // where it is being built
};

constexpr Verb kVerbs[] = {
    {"do", "do [--rootfs DIR] [--env K=V] [--cwd DIR] [--strict] -- CMD...",
     "run CMD in a sandbox over an overlay of DIR (default: host /)", RunDo,
     "the sentry"},
    {"run", "run [OCI options] ID", "OCI: create and start a container",
     nullptr, "the sentry"},
    {"create", "create [OCI options] ID", "OCI: create a container", nullptr,
     "the sentry"},
    {"start", "start ID", "OCI: start a created container", nullptr,
     "the sentry"},
    {"state", "state ID", "OCI: print a container's state", nullptr,
     "the sentry"},
    {"kill", "kill ID [SIGNAL]", "OCI: signal a container", nullptr,
     "the sentry"},
    {"delete", "delete [--root DIR] NAME",
     "remove a stopped sandbox's leftover state", RunDelete, "issue #14"},
    {"spec", "spec", "OCI: write a default config.json", nullptr,
     "the sentry"},
    {"gofer", "gofer --root DIR --fd N [--ro]",
     "serve DIR over LISAFS on fd N", RunGofer, "issue #3"},
    {"fuse",
     "fuse --tmpfs MNT | --gofer DIR MNT | --rootfs DIR [--restore IMG] "
     "[--snapshot-out IMG] MNT | [--image] IMG MNT | [--rw] SANDBOX MNT",
     "mount a veil filesystem (a rootfs view, an image, or a running "
     "sandbox's live view) on MNT",
     RunFuse, "issue #3"},
    {"snapshot", "snapshot [--chunk-size BYTES] DIR IMG | SANDBOX IMG",
     "write a snapshot image of a directory tree, or of a running sandbox's "
     "changes",
     RunSnapshot, "issue #4"},
    {"restore", "restore IMG DIR | --verify IMG",
     "verify a snapshot image and unpack it into an empty directory",
     RunRestore, "issue #4"},
    {"syscalls", "syscalls [--strict]",
     "print the sandbox's syscall table (served, native, denied)",
     RunSyscalls, "issue #12"},
    {"ps", "ps [--format table|json] [--root DIR]", "list running sandboxes",
     RunPs, "issue #14"},
    {"exec", "exec [--env K=V] [--cwd DIR] [-t] SANDBOX -- CMD...",
     "run CMD as a new task of a running sandbox", nullptr, "issue #14"},
    {"bench", "bench [NAME]", "run benchmarks against native and runsc",
     nullptr, "the sentry"},
};

void PrintHelp(FILE* out) {
  std::fprintf(out,
               "usage: veil VERB [ARGS...]\n"
               "\n"
               "veil is an application kernel for containers: programs run "
               "in a sandbox whose\nfiles are served by veil's own VFS.\n"
               "\n"
               "verbs:\n");
  for (const Verb& v : kVerbs) {
    std::fprintf(out, "  %-9s %s%s\n", v.name, v.summary,
                 v.run ? "" : "  [not built yet]");
  }
  std::fprintf(out,
               "\n"
               "`veil VERB --help` shows a verb's usage. Environment: "
               "VEIL_LOG=error|warning|info|debug.\n");
}

}  // namespace
}  // namespace veil::tools

int main(int argc, char** argv) {
  using veil::tools::kVerbs;
  if (argc < 2) {
    veil::tools::PrintHelp(stderr);
    return 2;
  }
  std::string_view verb = argv[1];
  if (verb == "--help" || verb == "-h" || verb == "help") {
    veil::tools::PrintHelp(stdout);
    return 0;
  }
  for (const auto& v : kVerbs) {
    if (verb != v.name) continue;
    if (!v.run) {
      std::fprintf(stderr,
                   "veil %s: not built yet (planned with %s)\nusage: veil %s\n",
                   v.name, v.issue, v.usage);
      return 2;
    }
    return v.run(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "veil: unknown verb '%s' (see veil --help)\n",
               argv[1]);
  return 2;
}
