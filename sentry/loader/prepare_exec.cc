// SPDX-License-Identifier: Apache-2.0
#include "sentry/loader/prepare_exec.h"

#include <algorithm>
#include <array>

#include "sentry/loader/elf.h"
#include "sentry/loader/shebang.h"

namespace veil::sentry::loader {

Result<LoadPlan> PrepareExec(const OpenExecFn& open, ExecRequest request,
                             const LoadOptions& options) {
  // do_execveat_common (5.18+): an empty argv becomes {""}, before any
  // binfmt sees it, so a script's remove_arg_zero has an argv[0] to drop.
  if (request.argv.empty()) request.argv.emplace_back();
  std::string comm = request.path.substr(request.path.rfind('/') + 1);
  comm.resize(std::min<size_t>(comm.size(), 15));
  std::string path = request.path;  // bprm->interp: this file's name
  Ref<vfs::FileDescription> file = VEIL_TRY(open(path));
  for (int depth = 0;; ++depth) {
    if (depth > kMaxInterpreterDepth) {
      return Errno(ELOOP);  // exec_binprm: too many interpreters
    }
    // prepare_binprm: the first BINPRM_BUF_SIZE bytes pick the format.
    std::array<uint8_t, kBinprmBufSize> head{};
    const size_t n = VEIL_TRY(ReadFully(*file, head, 0));
    if (IsShebang({head.data(), n})) {
      const Shebang shebang = VEIL_TRY(ParseShebang({head.data(), n}));
      request.argv = InterpreterArgv(shebang, path, request.argv);
      path = shebang.interpreter;  // bprm_change_interp
      file = VEIL_TRY(open(path));
      continue;
    }
    // Anything else is binfmt_elf's or nobody's: ENOEXEC either way.
    const ElfFile elf = VEIL_TRY(ElfFile::Read(*file));
    ExecArgs args{std::move(request.argv), std::move(request.envp),
                  std::move(request.path)};
    if (!elf.interpreter()) {
      LoadPlan plan = VEIL_TRY(MakeLoadPlan(elf, std::move(file), args, options));
      plan.comm = std::move(comm);
      return plan;
    }
    // load_elf_binary: the interpreter is opened with open_exec (so
    // MAY_EXEC and noexec apply) and must be an ELF this machine runs;
    // otherwise ELIBBAD. Its own PT_INTERP, if any, is ignored.
    Ref<vfs::FileDescription> interp_file =
        VEIL_TRY(open(*elf.interpreter()));
    Result<ElfFile> interp = ElfFile::Read(*interp_file);
    if (!interp) {
      if (interp.error().code() == ENOEXEC) return Errno(ELIBBAD);
      return interp.error();
    }
    const Interpreter with{*interp, std::move(interp_file)};
    LoadPlan plan =
        VEIL_TRY(MakeLoadPlan(elf, std::move(file), args, options, &with));
    plan.comm = std::move(comm);
    return plan;
  }
}

}  // namespace veil::sentry::loader
