// SPDX-License-Identifier: Apache-2.0
#include "sentry/loader/shebang.h"

#include <array>
#include <cstring>


namespace veil::sentry::loader {
namespace {

bool SpaceTab(char c) { return c == ' ' || c == '\t'; }

// The first position in [first, last] that is not a space or tab, or -1.
// Positions are indexes into the buffer; `last` is inclusive, as in
// binfmt_script's helpers.
int NextNonSpaceTab(const char* buf, int first, int last) {
  for (; first <= last; ++first) {
    if (!SpaceTab(buf[first])) return first;
  }
  return -1;
}

// The first space, tab or NUL in [first, last], or -1.
int NextTerminator(const char* buf, int first, int last) {
  for (; first <= last; ++first) {
    if (SpaceTab(buf[first]) || buf[first] == '\0') return first;
  }
  return -1;
}

}  // namespace

bool IsShebang(std::span<const uint8_t> head) {
  return head.size() >= 2 && head[0] == '#' && head[1] == '!';
}

Result<Shebang> ParseShebang(std::span<const uint8_t> head) {
  // bprm->buf: the first BINPRM_BUF_SIZE bytes, zero-padded.
  std::array<char, kBinprmBufSize> buf{};
  std::memcpy(buf.data(), head.data(), std::min(head.size(), buf.size()));
  if (buf[0] != '#' || buf[1] != '!') {
    return Errno(ENOEXEC);  // load_script: not "#!"
  }
  const int buf_end = static_cast<int>(buf.size()) - 1;  // inclusive
  int i_end;  // one past the line's last character
  if (const void* nl = std::memchr(buf.data(), '\n', buf.size())) {
    i_end = static_cast<int>(static_cast<const char*>(nl) - buf.data());
  } else {
    const int start = NextNonSpaceTab(buf.data(), 2, buf_end);
    if (start < 0) {
      return Errno(ENOEXEC);  // load_script: the buffer is all blanks
    }
    // No newline: the path must visibly end, or it may be truncated.
    if (NextTerminator(buf.data(), start, buf_end) < 0) {
      return Errno(ENOEXEC);  // load_script: interpreter path truncated
    }
    i_end = buf_end;
  }
  while (SpaceTab(buf[i_end - 1])) --i_end;

  const int i_name = NextNonSpaceTab(buf.data(), 2, i_end);
  if (i_name < 0 || i_name == i_end) {
    return Errno(ENOEXEC);  // load_script: no interpreter name
  }
  int i_arg = -1;
  const int i_sep = NextTerminator(buf.data(), i_name, i_end);
  if (i_sep >= 0 && buf[i_sep] != '\0') {
    i_arg = NextNonSpaceTab(buf.data(), i_sep, i_end);
  }
  // Linux writes NULs at i_end and (with an argument) at i_sep, and then
  // reads both as C strings: each stops at its first NUL.
  buf[i_end] = '\0';
  Shebang out;
  if (i_arg >= 0) {  // may be empty: a NUL right after the separator
    buf[i_sep] = '\0';
    out.argument = std::string(buf.data() + i_arg);
  }
  out.interpreter = std::string(buf.data() + i_name);
  return out;
}

std::vector<std::string> InterpreterArgv(const Shebang& shebang,
                                         std::string_view script_path,
                                         std::span<const std::string> argv) {
  std::vector<std::string> out;
  out.reserve(argv.size() + 2);
  out.push_back(shebang.interpreter);
  if (shebang.argument) out.push_back(*shebang.argument);
  out.emplace_back(script_path);
  // remove_arg_zero: argv[0] gives way to the script path.
  for (size_t i = 1; i < argv.size(); ++i) out.push_back(argv[i]);
  return out;
}

}  // namespace veil::sentry::loader
