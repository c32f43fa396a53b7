// SPDX-License-Identifier: Apache-2.0
//
// Mutexes the compiler can check: veil::Mutex, SharedMutex and CondVar wrap
// the standard ones and carry Clang's thread-safety attributes, so a field
// declared `VEIL_GUARDED_BY(mu_)` or a method declared `VEIL_REQUIRES(mu_)`
// is checked at every use by `tools/thread_safety.sh` (clang
// -Wthread-safety; CI runs it). Under GCC the attributes are no-ops.
//
// Use the scoped holders (MutexLock, ReaderMutexLock, WriterMutexLock),
// never Lock()/Unlock() pairs by hand, except where a lock's extent is not
// a scope (and then say why). A condition wait is a loop written out at the
// call site (`while (!ready_) cv_.Wait(mu_);`), so the analysis sees the
// guarded reads happen under the lock, which it cannot in a predicate
// lambda.
//
// Linux analogue: lockdep's annotations (`__must_hold`, `lockdep_assert_held`),
// checked at build time instead of at run time.
#pragma once

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define VEIL_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define VEIL_THREAD_ANNOTATION(x)
#endif

#define VEIL_CAPABILITY(x) VEIL_THREAD_ANNOTATION(capability(x))
#define VEIL_SCOPED_CAPABILITY VEIL_THREAD_ANNOTATION(scoped_lockable)
#define VEIL_GUARDED_BY(x) VEIL_THREAD_ANNOTATION(guarded_by(x))
#define VEIL_PT_GUARDED_BY(x) VEIL_THREAD_ANNOTATION(pt_guarded_by(x))
#define VEIL_ACQUIRED_BEFORE(...) \
  VEIL_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define VEIL_ACQUIRED_AFTER(...) \
  VEIL_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define VEIL_REQUIRES(...) \
  VEIL_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define VEIL_REQUIRES_SHARED(...) \
  VEIL_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define VEIL_ACQUIRE(...) \
  VEIL_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define VEIL_ACQUIRE_SHARED(...) \
  VEIL_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define VEIL_RELEASE(...) \
  VEIL_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define VEIL_RELEASE_SHARED(...) \
  VEIL_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define VEIL_RELEASE_GENERIC(...) \
  VEIL_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define VEIL_TRY_ACQUIRE(...) \
  VEIL_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define VEIL_EXCLUDES(...) VEIL_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define VEIL_ASSERT_CAPABILITY(x) VEIL_THREAD_ANNOTATION(assert_capability(x))
#define VEIL_ASSERT_SHARED_CAPABILITY(x) \
  VEIL_THREAD_ANNOTATION(assert_shared_capability(x))
#define VEIL_RETURN_CAPABILITY(x) VEIL_THREAD_ANNOTATION(lock_returned(x))
// Turns the analysis off for one function; say why next to it.
#define VEIL_NO_THREAD_SAFETY_ANALYSIS \
  VEIL_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace veil {

class CondVar;

class VEIL_CAPABILITY("mutex") Mutex final {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() VEIL_ACQUIRE() {
    mu_.lock();
    owner_.store(pthread_self(), std::memory_order_relaxed);
  }
  void Unlock() VEIL_RELEASE() {
    owner_.store(pthread_t{}, std::memory_order_relaxed);
    mu_.unlock();
  }
  bool TryLock() VEIL_TRY_ACQUIRE(true) {
    if (!mu_.try_lock()) return false;
    owner_.store(pthread_self(), std::memory_order_relaxed);
    return true;
  }
  // Tells the analysis the caller holds this mutex where it cannot see it
  // (a lock taken through another name for the same object, or in a
  // caller of a callback), and checks it: aborts if the calling thread
  // does not hold it (lockdep_assert_held).
  void AssertHeld() const VEIL_ASSERT_CAPABILITY(this) {
    if (!pthread_equal(owner_.load(std::memory_order_relaxed), pthread_self()))
      std::abort();
  }
  // BasicLockable, for the rare holder that is not a scope (a lock moved
  // out of a function); the analysis cannot follow those.
  void lock() VEIL_ACQUIRE() { Lock(); }
  void unlock() VEIL_RELEASE() { Unlock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
  // The holder, for AssertHeld. Only the holder writes it, and a thread
  // reading its own id back needs no ordering; another thread's id, or
  // the zero value, never equals the reader's own.
  std::atomic<pthread_t> owner_{};
};

class VEIL_CAPABILITY("shared_mutex") SharedMutex final {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void Lock() VEIL_ACQUIRE() { mu_.lock(); }
  void Unlock() VEIL_RELEASE() { mu_.unlock(); }
  void LockShared() VEIL_ACQUIRE_SHARED() { mu_.lock_shared(); }
  void UnlockShared() VEIL_RELEASE_SHARED() { mu_.unlock_shared(); }
  void AssertHeld() const VEIL_ASSERT_CAPABILITY(this) {}
  void AssertReaderHeld() const VEIL_ASSERT_SHARED_CAPABILITY(this) {}
  // SharedLockable, as Mutex's lock()/unlock().
  void lock() VEIL_ACQUIRE() { mu_.lock(); }
  void unlock() VEIL_RELEASE() { mu_.unlock(); }
  void lock_shared() VEIL_ACQUIRE_SHARED() { mu_.lock_shared(); }
  void unlock_shared() VEIL_RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

// Holds a Mutex for its scope (std::lock_guard, checked).
class VEIL_SCOPED_CAPABILITY MutexLock final {
 public:
  explicit MutexLock(Mutex& mu) VEIL_ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~MutexLock() VEIL_RELEASE() { mu_.Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

// Holds a SharedMutex shared (ReaderMutexLock) or exclusively
// (WriterMutexLock) for its scope.
class VEIL_SCOPED_CAPABILITY ReaderMutexLock final {
 public:
  explicit ReaderMutexLock(SharedMutex& mu) VEIL_ACQUIRE_SHARED(mu) : mu_(mu) {
    mu_.LockShared();
  }
  ~ReaderMutexLock() VEIL_RELEASE() { mu_.UnlockShared(); }
  ReaderMutexLock(const ReaderMutexLock&) = delete;
  ReaderMutexLock& operator=(const ReaderMutexLock&) = delete;

 private:
  SharedMutex& mu_;
};

class VEIL_SCOPED_CAPABILITY WriterMutexLock final {
 public:
  explicit WriterMutexLock(SharedMutex& mu) VEIL_ACQUIRE(mu) : mu_(mu) {
    mu_.Lock();
  }
  ~WriterMutexLock() VEIL_RELEASE() { mu_.Unlock(); }
  WriterMutexLock(const WriterMutexLock&) = delete;
  WriterMutexLock& operator=(const WriterMutexLock&) = delete;

 private:
  SharedMutex& mu_;
};

// A condition variable over a veil::Mutex. Wait* release the mutex while
// blocked and hold it again on return, as std::condition_variable does;
// spurious wake-ups happen, so callers wait in a loop on their condition.
class CondVar final {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  void Wait(Mutex& mu) VEIL_REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    mu.owner_.store(pthread_t{}, std::memory_order_relaxed);
    cv_.wait(lock);
    mu.owner_.store(pthread_self(), std::memory_order_relaxed);
    lock.release();
  }
  // False once `deadline` has passed.
  template <typename Clock, typename Duration>
  bool WaitUntil(Mutex& mu,
                 const std::chrono::time_point<Clock, Duration>& deadline)
      VEIL_REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu.mu_, std::adopt_lock);
    mu.owner_.store(pthread_t{}, std::memory_order_relaxed);
    bool in_time = cv_.wait_until(lock, deadline) == std::cv_status::no_timeout;
    mu.owner_.store(pthread_self(), std::memory_order_relaxed);
    lock.release();
    return in_time;
  }
  template <typename Rep, typename Period>
  bool WaitFor(Mutex& mu, const std::chrono::duration<Rep, Period>& timeout)
      VEIL_REQUIRES(mu) {
    return WaitUntil(mu, std::chrono::steady_clock::now() + timeout);
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace veil
