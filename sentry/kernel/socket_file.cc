// SPDX-License-Identifier: Apache-2.0
#include "sentry/kernel/socket_file.h"

#include <sys/stat.h>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <map>
#include <string_view>
#include <utility>

#include "sentry/kernel/anon_fs.h"

namespace veil::sentry {
namespace {

// The private names: "\0veil/N", N never reused within a sentry.
constexpr std::string_view kPrivatePrefix{"\0veil/", 6};

struct Binding {
  std::string path;
  SockAddr host;
};

// The sandbox's path-bound unix sockets: by node, and by private name.
class UnixRegistry final {
 public:
  SockAddr Add(uint64_t dev, uint64_t ino, const std::string& path) {
    MutexLock lock(mu_);
    SockAddr addr;
    auto* un = reinterpret_cast<sockaddr_un*>(&addr.storage);
    un->sun_family = AF_UNIX;
    char name[32];
    const int n = std::snprintf(name, sizeof name, "veil/%llu",
                                static_cast<unsigned long long>(next_++));
    // sun_path[0] stays NUL: abstract. No terminator: the length says.
    std::memcpy(un->sun_path + 1, name, static_cast<size_t>(n));
    addr.len =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
    by_node_[{dev, ino}] = Binding{path, addr};
    by_name_[Key(addr)] = path;
    return addr;
  }

  void Remove(uint64_t dev, uint64_t ino, const SockAddr& addr) {
    MutexLock lock(mu_);
    auto it = by_node_.find({dev, ino});
    // A later bind of a node with the same numbers replaced this one.
    if (it != by_node_.end() && Key(it->second.host) == Key(addr))
      by_node_.erase(it);
    by_name_.erase(Key(addr));
  }

  std::optional<SockAddr> Find(uint64_t dev, uint64_t ino) {
    MutexLock lock(mu_);
    auto it = by_node_.find({dev, ino});
    if (it == by_node_.end()) return std::nullopt;
    return it->second.host;
  }

  std::optional<std::string> PathOf(const SockAddr& addr) {
    MutexLock lock(mu_);
    auto it = by_name_.find(Key(addr));
    if (it == by_name_.end()) return std::nullopt;
    return it->second;
  }

  static std::string Key(const SockAddr& addr) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&addr.storage);
    const size_t n = addr.len > offsetof(sockaddr_un, sun_path)
                         ? addr.len - offsetof(sockaddr_un, sun_path)
                         : 0;
    return std::string(un->sun_path, n);
  }

 private:
  Mutex mu_;
  uint64_t next_ VEIL_GUARDED_BY(mu_) = 1;
  std::map<std::pair<uint64_t, uint64_t>, Binding> by_node_
      VEIL_GUARDED_BY(mu_);
  std::map<std::string, std::string> by_name_ VEIL_GUARDED_BY(mu_);
};

UnixRegistry& Registry() {
  static UnixRegistry* registry = new UnixRegistry;
  return *registry;
}

}  // namespace

bool IsPrivateUnixName(const SockAddr& addr) {
  if (addr.family() != AF_UNIX) return false;
  return UnixRegistry::Key(addr).starts_with(kPrivatePrefix);
}

SockAddr UnixPathAddr(const std::string& path) {
  SockAddr addr;
  auto* un = reinterpret_cast<sockaddr_un*>(&addr.storage);
  un->sun_family = AF_UNIX;
  // A bound path is at most 107 bytes (bind checked it), so it and its
  // NUL fit sun_path.
  const size_t n = std::min(path.size(), sizeof un->sun_path - 1);
  std::memcpy(un->sun_path, path.data(), n);
  un->sun_path[n] = '\0';
  addr.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n + 1);
  return addr;
}

UnixBinding::UnixBinding(uint64_t dev, uint64_t ino, std::string path)
    : dev_(dev), ino_(ino), path_(std::move(path)) {
  host_addr_ = Registry().Add(dev_, ino_, path_);
}

UnixBinding::~UnixBinding() { Registry().Remove(dev_, ino_, host_addr_); }

std::optional<SockAddr> FindUnixBinding(uint64_t dev, uint64_t ino) {
  return Registry().Find(dev, ino);
}

SockAddr SandboxUnixAddr(const SockAddr& addr,
                         const std::optional<std::string>& fallback) {
  if (!IsPrivateUnixName(addr)) return addr;
  if (std::optional<std::string> path = Registry().PathOf(addr))
    return UnixPathAddr(*path);
  if (fallback) return UnixPathAddr(*fallback);
  // A name whose socket is gone and that nobody remembers: unnamed.
  SockAddr unnamed;
  unnamed.storage.ss_family = AF_UNIX;
  unnamed.len = sizeof(sa_family_t);
  return unnamed;
}

std::optional<std::string> SocketImpl::local_path() const {
  MutexLock lock(mu_);
  return local_path_;
}

std::optional<std::string> SocketImpl::peer_path() const {
  MutexLock lock(mu_);
  return peer_path_;
}

bool SocketImpl::bound() const {
  MutexLock lock(mu_);
  return binding_ != nullptr;
}

void SocketImpl::set_binding(std::unique_ptr<UnixBinding> binding) {
  MutexLock lock(mu_);
  local_path_ = binding->path();
  binding_ = std::move(binding);
}

void SocketImpl::set_local_path(std::string path) {
  MutexLock lock(mu_);
  local_path_ = std::move(path);
}

void SocketImpl::set_peer_path(std::string path) {
  MutexLock lock(mu_);
  peer_path_ = std::move(path);
}

Ref<vfs::FileDescription> MakeSocketFile(const vfs::Credentials& creds,
                                         int flags,
                                         std::unique_ptr<SocketImpl> impl) {
  return MakeTwinAnonFile(creds, flags, "socket", S_IFSOCK | 0777,
                          std::move(impl));
}

SocketImpl* SocketOf(vfs::FileDescription& file) {
  return dynamic_cast<SocketImpl*>(&file.impl());
}

}  // namespace veil::sentry
