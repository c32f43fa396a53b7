// SPDX-License-Identifier: Apache-2.0
//
// SnapshotResult<T>: a value or a SnapshotError, the error type at the
// snapshot/restore boundary.
//
// The core's Result<T> carries an errno and at most a static message. An
// image is a file a person hands to veil, and when it is damaged they need
// to know where ("chunk 17 at offset 123456: checksum mismatch"), so this
// boundary carries an owned message. The API mirrors Result<T> (has_value,
// operator bool, *, ->, value(), error()).
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

template <typename T>
class [[nodiscard]] SnapshotResult final {
  static_assert(!std::is_reference_v<T>);

 public:
  SnapshotResult(T value) : state_(std::in_place_index<0>, std::move(value)) {}
  SnapshotResult(SnapshotError error)
      : state_(std::in_place_index<1>, std::move(error)) {}

  bool has_value() const { return state_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & { return Check(), std::get<0>(state_); }
  const T& value() const& { return Check(), std::get<0>(state_); }
  T&& value() && { return Check(), std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  // Precondition: !has_value().
  const SnapshotError& error() const {
    if (has_value()) std::abort();
    return std::get<1>(state_);
  }

 private:
  void Check() const {
    if (!has_value()) std::abort();
  }
  std::variant<T, SnapshotError> state_;
};

template <>
class [[nodiscard]] SnapshotResult<void> final {
 public:
  SnapshotResult() = default;
  SnapshotResult(SnapshotError error) : error_(std::move(error)), ok_(false) {}

  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const SnapshotError& error() const {
    if (ok_) std::abort();
    return error_;
  }

 private:
  SnapshotError error_;
  bool ok_ = true;
};

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
