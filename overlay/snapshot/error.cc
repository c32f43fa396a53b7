// SPDX-License-Identifier: Apache-2.0
#include "overlay/snapshot/error.h"

#include <cstdint>

namespace veil::snapshot {
namespace {

void AppendHex(std::string& out, uint8_t byte) {
  static constexpr char kDigits[] = "0123456789abcdef";
  out += "\\x";
  out += kDigits[byte >> 4];
  out += kDigits[byte & 15];
}

// The length of the well-formed UTF-8 sequence at the start of `s` whose
// code point is printable (not a C1 control, U+0080..U+009F, which some
// terminals obey as escapes), or 0. Overlong forms, surrogates and code
// points past U+10FFFF are not well formed (RFC 3629).
size_t PrintableUtf8(std::string_view s) {
  const auto b0 = static_cast<uint8_t>(s[0]);
  size_t len = b0 >= 0xf0 ? 4 : b0 >= 0xe0 ? 3 : b0 >= 0xc0 ? 2 : 0;
  if (len == 0 || b0 > 0xf4 || s.size() < len) return 0;
  uint32_t cp = b0 & (0x7f >> len);
  for (size_t i = 1; i < len; ++i) {
    const auto b = static_cast<uint8_t>(s[i]);
    if ((b & 0xc0) != 0x80) return 0;
    cp = cp << 6 | (b & 0x3f);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  if (cp <= 0x9f) return 0;  // C1 controls
  return len;
}

}  // namespace

std::string Escape(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  while (!bytes.empty()) {
    const auto b = static_cast<uint8_t>(bytes[0]);
    size_t n = 1;
    if (b == '\\') {
      out += "\\\\";
    } else if (b >= 0x20 && b < 0x7f) {
      out += static_cast<char>(b);
    } else if (b >= 0x80 && (n = PrintableUtf8(bytes)) != 0) {
      out.append(bytes.substr(0, n));
    } else {
      n = 1;
      AppendHex(out, b);
    }
    bytes.remove_prefix(n);
  }
  return out;
}

std::string MessagePath(std::string_view path) {
  if (path.size() <= kMessagePathMax) return Escape(path);
  std::string_view tail = path.substr(path.size() - kMessagePathMax);
  // Do not start inside a UTF-8 sequence: its remainder would print as
  // \xNN bytes that were never in the name.
  for (int i = 0;
       i < 3 && !tail.empty() && (static_cast<uint8_t>(tail[0]) & 0xc0) == 0x80;
       ++i)
    tail.remove_prefix(1);
  return "…" + Escape(tail);
}

}  // namespace veil::snapshot
