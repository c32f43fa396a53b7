// SPDX-License-Identifier: Apache-2.0
//
// Result<T>: a value or a Linux errno. Result<T, E>: a value or another
// error type, for the few boundaries whose errors carry owned context
// (snapshot images: overlay/snapshot/error.h's SnapshotResult).
//
// The core of veil (vfs, lisafs, overlay, sentry) reports failures as the
// errno Linux would return, nothing more: building one allocates nothing and
// is async-signal-safe (the gVisor PosixError model). A failure may carry a
// static human message for the CLI (`Errno(ENOENT, "no such image")`); the
// message is a string literal, never owned memory.
//
// The API mirrors the subset of std::expected that g++ 12 in C++20 mode lacks
// (has_value, operator bool, *, ->, value(), error()), so the type can become
// an alias once the toolchain allows it. Reference results are rejected, as
// AK::ErrorOr does: a Result never borrows.
#pragma once

#include <cerrno>
#include <cstdlib>
#include <type_traits>
#include <utility>
#include <variant>

namespace veil {

// A positive POSIX errno, with an optional static explanation for people.
class Errno final {
 public:
  constexpr explicit Errno(int code, const char* message = nullptr)
      : code_(code), message_(message) {}

  constexpr int code() const { return code_; }
  // A string literal or nullptr; never freed.
  constexpr const char* message() const { return message_; }

  friend constexpr bool operator==(Errno a, Errno b) {
    return a.code_ == b.code_;
  }

  // Errno from the calling thread's errno (after a failed libc call).
  static Errno FromErrno() { return Errno(errno); }

 private:
  int code_;
  const char* message_;
};

namespace internal {
// error() hands out small errors (Errno) by value and others by reference.
template <typename E>
using ErrorReturn =
    std::conditional_t<std::is_trivially_copyable_v<E>, E, const E&>;
}  // namespace internal

template <typename T, typename E = Errno>
class [[nodiscard]] Result final {
  static_assert(!std::is_reference_v<T>, "Result must not hold a reference");
  static_assert(!std::is_same_v<std::remove_cv_t<T>, E>,
                "Result<E, E> is ambiguous");

 public:
  // Implicit by design, so that `return value;` and `return Errno(E);` both
  // read naturally in a function returning Result<T>.
  Result(const T& value) : state_(std::in_place_index<0>, value) {}
  Result(T&& value) : state_(std::in_place_index<0>, std::move(value)) {}
  template <typename U,
            typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                        !std::is_same_v<std::decay_t<U>, T> &&
                                        !std::is_same_v<std::decay_t<U>, E>>>
  Result(U&& value) : state_(std::in_place_index<0>, std::forward<U>(value)) {}
  Result(E error) : state_(std::in_place_index<1>, std::move(error)) {}

  bool has_value() const { return state_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return Check(), std::get<0>(state_); }
  const T& value() const& { return Check(), std::get<0>(state_); }
  T&& value() && { return Check(), std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // Precondition: !has_value().
  internal::ErrorReturn<E> error() const {
    if (has_value()) std::abort();
    return std::get<1>(state_);
  }

  template <typename U>
  T value_or(U&& fallback) const& {
    return has_value() ? std::get<0>(state_)
                       : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  void Check() const {
    if (!has_value()) std::abort();
  }
  std::variant<T, E> state_;
};

template <typename E>
class [[nodiscard]] Result<void, E> final {
 public:
  Result() = default;
  Result(E error) : error_(std::move(error)), ok_(false) {}

  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  void value() const {
    if (!ok_) std::abort();
  }
  internal::ErrorReturn<E> error() const {
    if (ok_) std::abort();
    return error_;
  }

 private:
  static E NoError() {
    if constexpr (std::is_default_constructible_v<E>) {
      return E{};
    } else {
      return E(0);
    }
  }
  E error_ = NoError();
  bool ok_ = true;
};

// An empty success, for `return Ok();` in Result<void> functions.
inline Result<void> Ok() { return {}; }

// Result<void> from a libc-style return (-1 and errno on failure).
inline Result<void> FromSyscall(long rc) {
  if (rc < 0) return Errno::FromErrno();
  return Ok();
}

}  // namespace veil

// VEIL_TRY(expr): evaluates a Result<T>; on failure returns its Errno from
// the enclosing function, otherwise yields the value (moved out).
#define VEIL_TRY(expr)                                          \
  __extension__({                                               \
    auto _veil_result = (expr);                                 \
    static_assert(!std::is_lvalue_reference_v<decltype(expr)>, \
                  "VEIL_TRY on an lvalue would move from it");  \
    if (!_veil_result.has_value()) return _veil_result.error(); \
    std::move(_veil_result).value();                            \
  })

// VEIL_TRY_VOID(expr): as VEIL_TRY for Result<void>.
#define VEIL_TRY_VOID(expr)                                     \
  do {                                                          \
    auto _veil_result = (expr);                                 \
    if (!_veil_result.has_value()) return _veil_result.error(); \
  } while (0)

// VEIL_MUST(expr): yields the value; a failure is a bug in veil and aborts.
#define VEIL_MUST(expr)                          \
  __extension__({                                \
    auto _veil_result = (expr);                  \
    if (!_veil_result.has_value()) std::abort(); \
    std::move(_veil_result).value();             \
  })
