// SPDX-License-Identifier: Apache-2.0
//
// A task's socket in the default mode (sys_socket.cc): a host socket of
// the sandbox's network namespace, made by the sentry and installed at
// the task's number, so send, recv, poll and the options run natively.
// The sentry keeps no host fd of it; its description in the fd table
// holds what the host socket cannot know: the family and type it was
// made with, the sandbox path it is bound to and the one its peer had.
//
// Unix sockets bound to a path (Linux: unix_bind_bsd) live in the VFS:
// bind makes the socket node there (mknod S_IFSOCK, with its permission
// checks and umask) and binds the host socket to a private abstract name
// of the sandbox's network namespace, registered under the node's
// (st_dev, st_ino); connect resolves the path in the VFS, checks write
// permission on the node (unix_find_bsd) and connects to the name
// registered for it. The host kernel never resolves a sandbox path, and
// a hard link or rename of the node reaches the same socket, as on Linux.
// The registration ends when the bound socket's last description goes,
// so a node left behind refuses connections (ECONNREFUSED) as Linux's
// does. Abstract names the tasks choose pass through unchanged: the
// network namespace, and so the abstract namespace, is the sandbox's own.
//
// Trust boundary: every name that reaches a task is translated back: a
// private name becomes the sandbox path it stands for (getsockname,
// getpeername, accept). Not translated yet: the sender's name recvfrom
// and recvmsg report for a datagram from a path-bound socket (they run
// natively), which shows the private name ("\0veil/N"): never a host
// path.
//
// Thread-safety: SocketImpl's names are guarded by its mutex; the
// registry is internally locked.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "base/mutex.h"
#include "base/ref.h"
#include "vfs/credentials.h"
#include "vfs/file_description.h"

namespace veil::sentry {

// A socket address as the kernel holds it after move_addr_to_kernel.
struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;

  const sockaddr* get() const {
    return reinterpret_cast<const sockaddr*>(&storage);
  }
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
  sa_family_t family() const { return storage.ss_family; }
};

// A sockaddr_un naming `path` (a bound socket's, as getsockname reports
// it: the path and its terminating NUL).
SockAddr UnixPathAddr(const std::string& path);

// The registration of a path-bound unix socket: the private abstract
// name its host socket is bound to, kept while the object lives.
class UnixBinding final {
 public:
  // Registers the socket node (`dev`, `ino`) bound at sandbox path
  // `path`; the host name to bind is host_addr().
  UnixBinding(uint64_t dev, uint64_t ino, std::string path);
  ~UnixBinding();
  UnixBinding(const UnixBinding&) = delete;
  UnixBinding& operator=(const UnixBinding&) = delete;

  const SockAddr& host_addr() const { return host_addr_; }
  const std::string& path() const { return path_; }

 private:
  uint64_t dev_, ino_;
  std::string path_;
  SockAddr host_addr_;
};

// Whether `addr` is one of the sentry's private names ("\0veil/N"):
// tasks reach those through the VFS's nodes only.
bool IsPrivateUnixName(const SockAddr& addr);

// The host address of the socket bound at node (`dev`, `ino`), or
// nullopt: nothing listens there (ECONNREFUSED).
std::optional<SockAddr> FindUnixBinding(uint64_t dev, uint64_t ino);

// `addr` (a unix address the host kernel reported) as the sandbox names
// it: a private name becomes its bound path (`fallback` if the binding is
// gone, e.g. a peer that closed); any other address is returned as is.
SockAddr SandboxUnixAddr(const SockAddr& addr,
                         const std::optional<std::string>& fallback);

class SocketImpl final : public vfs::FileImpl {
 public:
  SocketImpl(int domain, int type, int protocol)
      : domain_(domain), type_(type), protocol_(protocol) {}

  bool Positional() const override { return false; }

  int domain() const { return domain_; }
  int type() const { return type_; }  // SOCK_STREAM, ... (no flags)
  int protocol() const { return protocol_; }

  // Held while the sentry checks and takes a pending connection, so two
  // tasks accepting on one socket never find one connection both.
  Mutex& accept_mu() { return accept_mu_; }

  // The unix path names (nullopt: unnamed or not a path).
  std::optional<std::string> local_path() const;
  std::optional<std::string> peer_path() const;
  bool bound() const;
  void set_binding(std::unique_ptr<UnixBinding> binding);
  void set_local_path(std::string path);
  void set_peer_path(std::string path);

 private:
  const int domain_, type_, protocol_;
  Mutex accept_mu_;
  mutable Mutex mu_;
  std::unique_ptr<UnixBinding> binding_ VEIL_GUARDED_BY(mu_);
  std::optional<std::string> local_path_ VEIL_GUARDED_BY(mu_);
  std::optional<std::string> peer_path_ VEIL_GUARDED_BY(mu_);
};

// The description of a task's socket: an inode of the anonymous
// filesystem (S_IFSOCK | 0777, as sock_alloc_inode's) over `impl`.
Ref<vfs::FileDescription> MakeSocketFile(const vfs::Credentials& creds,
                                         int flags,
                                         std::unique_ptr<SocketImpl> impl);

// The socket behind `file`, or null (ENOTSOCK).
SocketImpl* SocketOf(vfs::FileDescription& file);

}  // namespace veil::sentry
