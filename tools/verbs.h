// SPDX-License-Identifier: Apache-2.0
//
// The verbs of the veil CLI that are built. Each takes the verb's own
// argc/argv (argv[0] is the verb) and returns the process exit status.
#pragma once

namespace veil::tools {

int RunFuse(int argc, char** argv);
// snapshot_main.cc: rootfs snapshot images of host directories.
int RunSnapshot(int argc, char** argv);
int RunRestore(int argc, char** argv);
int RunGofer(int argc, char** argv);
// do_main.cc: a command in a sandbox under the sentry.
int RunDo(int argc, char** argv);
// ps_main.cc: the running sandboxes, and a stopped one's leftovers.
int RunPs(int argc, char** argv);
int RunDelete(int argc, char** argv);
// syscalls_main.cc: the sentry's syscall table.
int RunSyscalls(int argc, char** argv);

}  // namespace veil::tools
