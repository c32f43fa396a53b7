// SPDX-License-Identifier: Apache-2.0
//
// SnapshotResult<T>: a value or a SnapshotError, the error type at the
// snapshot/restore boundary.
//
// The core's Result<T> carries an errno and at most a static message. An
// image is a file a person hands to veil, and when it is damaged they need
// to know where ("chunk 17 at offset 123456: checksum mismatch"), so this
// boundary carries an owned message: Result<T, SnapshotError>.
#pragma once

#include <cerrno>
#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "base/result.h"

namespace veil::snapshot {

struct SnapshotError {
  // EINVAL: not an image or damaged; ENOTSUP: a format version we do not
  // read; ENOTEMPTY: the target is not empty; otherwise the errno of the
  // failed file operation.
  int code = EIO;
  std::string message;
};

// base/result.h's Result with this boundary's error type: the same API
// (has_value, operator bool, *, ->, value(), error()).
template <typename T>
using SnapshotResult = Result<T, SnapshotError>;

inline SnapshotResult<void> Done() { return {}; }

// A damaged or foreign image (EINVAL).
inline SnapshotError Damaged(std::string message) {
  return SnapshotError{EINVAL, std::move(message)};
}

// Bytes from an image (names, symlink targets, paths) made safe to print
// in a message: control bytes (C0, DEL and the C1 range, terminal escapes
// among them), bytes that are not UTF-8 and backslashes come out as \xNN
// (or \\); printable UTF-8 is kept as is. A hostile image cannot write to
// the terminal of whoever reads the message.
std::string Escape(std::string_view bytes);

// The longest path a message shows, in bytes, before escaping.
inline constexpr size_t kMessagePathMax = 200;

// For messages: `path` escaped (Escape), and if longer than
// kMessagePathMax bytes, only its last kMessagePathMax with a leading "…",
// so that a 200 KB path of a deep tree does not become a 200 KB message.
std::string MessagePath(std::string_view path);

// "context: strerror(code)[: static message]".
SnapshotError FromErrno(Errno error, std::string_view context);

// Lifts a core Result into a SnapshotResult; `context` (a callable
// returning std::string) is evaluated only on failure.
template <typename T, typename Context>
SnapshotResult<T> WithContext(Result<T> result, Context&& context) {
  if (!result.has_value()) return FromErrno(result.error(), context());
  if constexpr (std::is_void_v<T>) {
    return Done();
  } else {
    return std::move(result).value();
  }
}

}  // namespace veil::snapshot

// As VEIL_TRY / VEIL_TRY_VOID, for SnapshotResult.
#define VEIL_SNAP_TRY(expr)                                 \
  __extension__({                                           \
    auto _veil_snap = (expr);                               \
    if (!_veil_snap.has_value()) return _veil_snap.error(); \
    std::move(_veil_snap).value();                          \
  })
#define VEIL_SNAP_TRY_VOID(expr)                            \
  do {                                                      \
    auto _veil_snap = (expr);                               \
    if (!_veil_snap.has_value()) return _veil_snap.error(); \
  } while (0)
