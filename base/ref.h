// SPDX-License-Identifier: Apache-2.0
//
// Intrusive reference counting for VFS objects (inodes, dentries, mounts,
// filesystems, open files).
//
// A type opts in by deriving from RefCounted<T>. Ref<T> is a non-null owning
// reference, RefPtr<T> a nullable one. The count lives in the object, so a
// raw T* can be turned back into an owning reference (AdoptRef / Ref(T&)),
// which the VFS needs when a cache hands out an object it only points at.
// Counting is atomic; destruction happens on the thread dropping the last
// reference.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <utility>

namespace veil {

template <typename T>
class RefCounted {
 public:
  RefCounted(const RefCounted&) = delete;
  RefCounted& operator=(const RefCounted&) = delete;

  void AddRef() const { refs_.fetch_add(1, std::memory_order_relaxed); }

  // Takes a reference only if the object is still alive (count > 0). Used
  // by caches that hold raw pointers to objects that may be dying.
  bool TryAddRef() const {
    uint64_t n = refs_.load(std::memory_order_relaxed);
    while (n != 0) {
      if (refs_.compare_exchange_weak(n, n + 1, std::memory_order_acquire,
                                      std::memory_order_relaxed))
        return true;
    }
    return false;
  }

  void Release() const {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
      delete static_cast<const T*>(this);
  }

  uint64_t RefCountForTesting() const { return RefCount(); }

 protected:
  RefCounted() = default;
  ~RefCounted() = default;

  // For a type's own busy checks (Linux: a mount's mnt_count), where the
  // type can say why no reference can appear meanwhile.
  uint64_t RefCount() const { return refs_.load(std::memory_order_acquire); }

 private:
  mutable std::atomic<uint64_t> refs_{1};
};

template <typename T>
class RefPtr;

// A non-null owning reference.
template <typename T>
class Ref final {
 public:
  // Takes a new reference on `object`.
  explicit Ref(T& object) : ptr_(&object) { ptr_->AddRef(); }
  Ref(const Ref& other) : ptr_(other.ptr_) { ptr_->AddRef(); }
  template <typename U>
  Ref(const Ref<U>& other) : ptr_(other.get()) {
    ptr_->AddRef();
  }
  Ref(Ref&& other) noexcept : ptr_(std::exchange(other.ptr_, nullptr)) {}
  template <typename U>
  Ref(Ref<U>&& other) noexcept : ptr_(other.LeakRef()) {}
  ~Ref() {
    if (ptr_) ptr_->Release();
  }
  Ref& operator=(Ref other) noexcept {
    std::swap(ptr_, other.ptr_);
    return *this;
  }

  T* get() const { return ptr_; }
  T& operator*() const { return *ptr_; }
  T* operator->() const { return ptr_; }

  // Gives up ownership without releasing; for AdoptRef round trips.
  T* LeakRef() { return std::exchange(ptr_, nullptr); }

  friend bool operator==(const Ref& a, const Ref& b) { return a.ptr_ == b.ptr_; }

 private:
  template <typename U>
  friend Ref<U> AdoptRef(U& object);
  struct AdoptTag {};
  Ref(T& object, AdoptTag) : ptr_(&object) {}

  T* ptr_;
};

// Wraps an object whose initial reference (from construction) the caller
// owns, without adding another.
template <typename U>
Ref<U> AdoptRef(U& object) {
  return Ref<U>(object, typename Ref<U>::AdoptTag{});
}

template <typename T, typename... Args>
Ref<T> MakeRef(Args&&... args) {
  return AdoptRef(*new T(std::forward<Args>(args)...));
}

// A nullable owning reference.
template <typename T>
class RefPtr final {
 public:
  RefPtr() = default;
  RefPtr(std::nullptr_t) {}
  explicit RefPtr(T* object) : ptr_(object) {
    if (ptr_) ptr_->AddRef();
  }
  template <typename U>
  RefPtr(const Ref<U>& ref) : ptr_(ref.get()) {
    ptr_->AddRef();
  }
  template <typename U>
  RefPtr(Ref<U>&& ref) : ptr_(ref.LeakRef()) {}
  RefPtr(const RefPtr& other) : RefPtr(other.ptr_) {}
  RefPtr(RefPtr&& other) noexcept : ptr_(std::exchange(other.ptr_, nullptr)) {}
  ~RefPtr() {
    if (ptr_) ptr_->Release();
  }
  RefPtr& operator=(RefPtr other) noexcept {
    std::swap(ptr_, other.ptr_);
    return *this;
  }

  T* get() const { return ptr_; }
  T& operator*() const { return *ptr_; }
  T* operator->() const { return ptr_; }
  explicit operator bool() const { return ptr_ != nullptr; }

  // Precondition: non-null.
  Ref<T> ToRef() const { return Ref<T>(*ptr_); }

  friend bool operator==(const RefPtr& a, const RefPtr& b) {
    return a.ptr_ == b.ptr_;
  }

 private:
  T* ptr_ = nullptr;
};

}  // namespace veil
