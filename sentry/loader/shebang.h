// SPDX-License-Identifier: Apache-2.0
//
// `#!` scripts, as Linux's binfmt_script (load_script) reads them.
//
// Only the first kBinprmBufSize (256) bytes of the file are looked at. The
// interpreter line ends at the first '\n' in them; without one, the line
// is cut at the end of the buffer, but only if the interpreter path itself
// visibly ends (a space, tab or NUL follows it): otherwise ENOEXEC, so a
// truncated path is never run. Trailing spaces and tabs are dropped, and
// nothing else: a CR stays part of the line (so "#!/bin/sh\r\n" names the
// interpreter "/bin/sh\r", and exec then fails with ENOENT, as on Linux).
// After the interpreter path, everything from the next non-blank to the end
// of the line is ONE argument, spaces and all.
//
// The new argv is: the interpreter path, the argument if any, the script
// path the caller exec'd (Linux bprm->filename), then the original argv
// without its argv[0]. The caller then execs the interpreter, following at
// most kMaxInterpreterDepth interpreters in all (ELOOP beyond).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "sentry/loader/elf.h"  // kBinprmBufSize

namespace veil::sentry::loader {

// Linux exec_binprm: "if (depth > 5) return -ELOOP": a program may sit
// behind at most five interpreters (scripts or binfmt_misc).
inline constexpr int kMaxInterpreterDepth = 5;

struct Shebang {
  std::string interpreter;
  std::optional<std::string> argument;
};

// Whether `head` (the file's first bytes) starts with "#!".
bool IsShebang(std::span<const uint8_t> head);

// Parses the `#!` line in `head`, the file's first bytes (at most
// kBinprmBufSize are looked at). ENOEXEC if `head` is not a script, names
// no interpreter, or its interpreter path is cut by the buffer's end.
Result<Shebang> ParseShebang(std::span<const uint8_t> head);

// The argv the interpreter gets (see the file comment). `script_path` is
// the path the script was exec'd by.
std::vector<std::string> InterpreterArgv(const Shebang& shebang,
                                         std::string_view script_path,
                                         std::span<const std::string> argv);

}  // namespace veil::sentry::loader
