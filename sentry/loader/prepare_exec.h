// SPDX-License-Identifier: Apache-2.0
//
// PrepareExec: from an execve(2) path to a LoadPlan, following `#!`
// interpreters as Linux's exec_binprm does (at most kMaxInterpreterDepth
// of them; ELOOP beyond). The caller opens each file by its own rules
// (path resolution in the task's root and cwd, MAY_EXEC, ETXTBSY, noexec
// mounts: the kernel part's), so this file knows nothing of tasks.
//
// Linux analogue: do_execveat_common from the first open_exec to
// load_elf_binary's point of no return. Thread-safety: a function; the
// opener is called on the calling thread only.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/ref.h"
#include "base/result.h"
#include "sentry/loader/load_plan.h"
#include "vfs/file_description.h"

namespace veil::sentry::loader {

// Opens `path` for exec as the task would (open_exec), or its errno.
using OpenExecFn =
    std::function<Result<Ref<vfs::FileDescription>>(std::string_view path)>;

struct ExecRequest {
  std::string path;  // as execve got it; AT_EXECFN
  std::vector<std::string> argv;
  std::vector<std::string> envp;
};

// Errors: the opener's; ENOEXEC for a file that is neither `#!` nor an
// ELF executable we can run; ELIBBAD for a dynamic program whose
// interpreter is not one (its open's errors as they are); ELOOP past the depth
// limit; the ElfFile and MakeLoadPlan errors; the reads' errors.
Result<LoadPlan> PrepareExec(const OpenExecFn& open, ExecRequest request,
                             const LoadOptions& options);

}  // namespace veil::sentry::loader
