// SPDX-License-Identifier: Apache-2.0
//
// Sockets in the default mode: host sockets of the sandbox's own network
// namespace (loopback only), made by the sentry and installed at the
// task's numbers, so send, recv, listen, shutdown, poll and the options
// run natively (socket_file.h says what the sentry keeps of each).
//  - socket(2): AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK (route and
//    sock_diag: what getaddrinfo, ip and ss ask); other families
//    EAFNOSUPPORT; SOCK_RAW needs CAP_NET_RAW in the task's emulated
//    capabilities (the sentry has it in its namespace, a task may not).
//  - bind and connect copy the address in once and run on the task's
//    socket (Platform::GetTaskFd); a unix path is the VFS's (socket_file.h),
//    never the host's; a port below 1024 needs CAP_NET_BIND_SERVICE.
//  - accept and accept4 wait in the sentry (the task's waiter, so a
//    signal ends the wait as Linux's inet_csk_wait_for_connect) and
//    install the new socket at the lowest free number.
//  - getsockname and getpeername translate the private names back.
//  - sendto naming an address is trapped (a seccomp guard on its pointer,
//    in the default mode): a datagram to a unix path goes to the socket
//    the VFS's node names; anything else continues natively.
//  - socketpair(2): a host pair installed at the task's numbers.
// Descriptors cannot travel over unix sockets: SO_PASSRIGHTS (Linux
// 6.16+) is off on every unix socket the sentry makes or accepts, so an
// SCM_RIGHTS message is refused (EPERM) and no fd ever reaches a task
// behind the sentry's fd table; setsockopt(SO_PASSRIGHTS) is trapped to
// keep it off. Under --strict no socket is served (ENOSYS).
//
// Not Linux yet: a blocking connect (or sendto a full datagram
// receiver) waits in the sentry's thread, where a signal cannot end it (loopback connects finish at once; a unix
// listener's full backlog makes it wait for the server's accept).
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>

#include "base/blocking.h"
#include "base/unique_fd.h"
#include "sentry/kernel/anon_fs.h"
#include "sentry/kernel/file_ops.h"
#include "sentry/kernel/handlers.h"
#include "sentry/kernel/socket_file.h"
#include "sentry/kernel/task.h"
#include "sentry/kernel/task_memory.h"

namespace veil::sentry {
namespace {

constexpr int kSoPassRights = 83;  // asm-generic/socket.h, Linux 6.16
constexpr int kSockTypeMask = 0xf;  // SOCK_TYPE_MASK
constexpr int kNetlinkSockDiag = 4;  // NETLINK_SOCK_DIAG

// Turns SCM_RIGHTS off on a unix socket the sentry made or accepted.
Result<void> NoPassRights(int fd) {
  const int off = 0;
  if (::setsockopt(fd, SOL_SOCKET, kSoPassRights, &off, sizeof off) != 0)
    return Errno(ENOSYS);  // a kernel without SO_PASSRIGHTS: not served
  return Ok();
}

// A socket address from the task (move_addr_to_kernel: EINVAL for a
// length past sockaddr_storage or negative, EFAULT).
Result<SockAddr> CopyInSockAddr(TaskMemory& mem, TaskAddr at, int len) {
  if (len < 0 || static_cast<size_t>(len) > sizeof(sockaddr_storage))
    return Errno(EINVAL);
  SockAddr addr;
  addr.len = static_cast<socklen_t>(len);
  if (len > 0) {
    VEIL_TRY_VOID(mem.Read(
        at, std::span<uint8_t>(reinterpret_cast<uint8_t*>(&addr.storage),
                               static_cast<size_t>(len))));
  }
  return addr;
}

// move_addr_to_user: at most the task's *len bytes of `addr`, then its
// full length into *len. EINVAL for a negative *len, EFAULT.
Result<void> CopyOutSockAddr(TaskMemory& mem, TaskAddr at, TaskAddr len_at,
                             const SockAddr& addr) {
  const int ulen = VEIL_TRY(CopyIn<int>(mem, len_at));
  const int len = std::min(ulen, static_cast<int>(addr.len));
  if (len < 0) return Errno(EINVAL);
  if (len > 0) {
    VEIL_TRY_VOID(mem.Write(
        at, std::span<const uint8_t>(
                reinterpret_cast<const uint8_t*>(&addr.storage),
                static_cast<size_t>(len))));
  }
  return CopyOut(mem, len_at, static_cast<int>(addr.len));
}

// The task's socket at `fd`: the sentry's description and the host
// socket behind the task's number. EBADF, ENOTSOCK.
struct TaskSocket {
  Ref<vfs::FileDescription> file;
  SocketImpl* impl;
  UniqueFd host;
};

Result<TaskSocket> GetSocket(Task& task, SyscallArgs& args, int fd) {
  Ref<vfs::FileDescription> file = VEIL_TRY(task.fds().Get(fd));
  SocketImpl* impl = SocketOf(*file);
  if (!impl) return Errno(ENOTSOCK);
  UniqueFd host =
      VEIL_TRY(task.platform().GetTaskFd(args.mem.request(), fd));
  // The number holds the host socket the sentry made for it (a native
  // close may have raced this call): the same family, or nothing to act
  // on.
  int domain = 0;
  socklen_t len = sizeof domain;
  if (::getsockopt(host.get(), SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 ||
      domain != impl->domain()) {
    return Errno(EBADF);
  }
  return TaskSocket{std::move(file), impl, std::move(host)};
}

// Where the path of a unix address lies, and how long it is
// (unix_mkname_bsd: up to the first NUL or the end of the address).
std::string UnixPath(const SockAddr& addr) {
  const auto* un = reinterpret_cast<const sockaddr_un*>(&addr.storage);
  const size_t max = addr.len - offsetof(sockaddr_un, sun_path);
  return std::string(un->sun_path, strnlen(un->sun_path, max));
}

// unix_validate_addr.
Result<void> ValidateUnixAddr(const SockAddr& addr) {
  if (addr.len <= offsetof(sockaddr_un, sun_path) ||
      addr.len > sizeof(sockaddr_un))
    return Errno(EINVAL);
  if (addr.family() != AF_UNIX) return Errno(EINVAL);
  return Ok();
}

bool IsAbstract(const SockAddr& addr) {
  return reinterpret_cast<const sockaddr_un*>(&addr.storage)->sun_path[0] ==
         '\0';
}

// Installs `host` at the reserved `fd` with the sentry's description of
// it; `flags`: SOCK_CLOEXEC and SOCK_NONBLOCK as socket(2)'s. Returns
// the number.
int InstallSocket(Task& task, FdReservation fd, UniqueFd host, int flags,
                  std::unique_ptr<SocketImpl> impl) {
  const CloseOnExec cloexec =
      (flags & SOCK_CLOEXEC) ? CloseOnExec::kYes : CloseOnExec::kNo;
  const int number = fd.fd();
  task.effects().installs.push_back({std::move(host), number, cloexec});
  std::move(fd).Install(
      MakeSocketFile(task.creds(),
                     O_RDWR | ((flags & SOCK_NONBLOCK) ? O_NONBLOCK : 0),
                     std::move(impl)),
      cloexec);
  return number;
}

// A call about to run on `host` that waits when the socket blocks (a
// connect's handshake or full backlog, a datagram to a full receiver):
// another thread serves the sandbox meanwhile (base/blocking.h). A
// non-blocking socket's call returns at once and hands nothing on.
void MayBlockOn(int host) {
  const int flags = ::fcntl(host, F_GETFL);
  if (flags < 0 || !(flags & O_NONBLOCK)) MayBlock();
}

Result<int64_t> HostCall(int rc) {
  if (rc != 0) return Errno::FromErrno();
  return 0;
}

// unix_bind_bsd: the node in the VFS, then the host socket bound to the
// private name registered for it.
Result<int64_t> BindUnixPath(Task& task, TaskSocket& sock,
                             const std::string& path) {
  vfs::Context ctx = task.Context();
  vfs::Location dir = VEIL_TRY(StartDir(task, ctx, AT_FDCWD, path));
  Result<void> made =
      task.vfs().MknodAt(ctx, dir, path, S_IFSOCK | 0777, 0);
  if (!made) {
    // unix_bind_bsd: an existing name is EADDRINUSE.
    if (made.error().code() == EEXIST) return Errno(EADDRINUSE);
    return made.error();
  }
  auto unlink_node = [&] {
    (void)task.vfs().UnlinkAt(ctx, dir, path, 0);
  };
  Result<vfs::Attr> attr =
      task.vfs().StatAt(ctx, dir, path, AT_SYMLINK_NOFOLLOW);
  if (!attr) {
    unlink_node();
    return attr.error();
  }
  // unix_bind_bsd: a socket that has a name already (u->addr) is EINVAL,
  // found after the node was made, which goes again.
  sockaddr_storage have{};
  socklen_t have_len = sizeof have;
  if (sock.impl->bound() ||
      (::getsockname(sock.host.get(), reinterpret_cast<sockaddr*>(&have),
                     &have_len) == 0 &&
       have_len > sizeof(sa_family_t))) {
    unlink_node();
    return Errno(EINVAL);
  }
  auto binding = std::make_unique<UnixBinding>(attr->dev, attr->ino, path);
  if (::bind(sock.host.get(), binding->host_addr().get(),
             binding->host_addr().len) != 0) {
    Errno error = Errno::FromErrno();
    unlink_node();
    return error;
  }
  sock.impl->set_binding(std::move(binding));
  return 0;
}

// unix_find_bsd: the socket bound at `path`, for connect. Write
// permission on the node; ECONNREFUSED for a node that is not a socket
// or has none bound.
Result<SockAddr> FindUnixPath(Task& task, const std::string& path) {
  vfs::Context ctx = task.Context();
  vfs::Location dir = VEIL_TRY(StartDir(task, ctx, AT_FDCWD, path));
  VEIL_TRY_VOID(task.vfs().AccessAt(ctx, dir, path, W_OK, 0));
  vfs::Attr attr = VEIL_TRY(task.vfs().StatAt(ctx, dir, path, 0));
  if (!S_ISSOCK(attr.mode)) return Errno(ECONNREFUSED);
  std::optional<SockAddr> host = FindUnixBinding(attr.dev, attr.ino);
  if (!host) return Errno(ECONNREFUSED);
  return *host;
}

// inet_bind_sk/inet6_bind_sk: a port below ip_unprivileged_port_start
// (1024 in a new network namespace) needs CAP_NET_BIND_SERVICE.
bool NeedsBindService(const SockAddr& addr) {
  uint16_t port = 0;
  if (addr.family() == AF_INET && addr.len >= sizeof(sockaddr_in)) {
    port = ntohs(reinterpret_cast<const sockaddr_in*>(&addr.storage)->sin_port);
  } else if (addr.family() == AF_INET6 && addr.len >= 24 /* SIN6_LEN_RFC2133 */) {
    port =
        ntohs(reinterpret_cast<const sockaddr_in6*>(&addr.storage)->sin6_port);
  }
  return port != 0 && port < 1024;
}

// The name the task sees for `addr`, a name the host reported for a
// socket of family `domain`.
SockAddr SandboxAddr(int domain, const SockAddr& addr,
                     const std::optional<std::string>& fallback) {
  if (domain != AF_UNIX) return addr;
  return SandboxUnixAddr(addr, fallback);
}

// getsockname/getpeername's shared part.
using NameCall = int (*)(int, sockaddr*, socklen_t*);
Result<int64_t> GetName(Task& task, SyscallArgs& args, NameCall call,
                        bool peer) {
  if (!task.twins()) return Errno(ENOSYS);
  TaskSocket sock = VEIL_TRY(GetSocket(task, args, args.Int(0)));
  SockAddr addr;
  addr.len = sizeof addr.storage;
  if (call(sock.host.get(), addr.get(), &addr.len) != 0)
    return Errno::FromErrno();
  const std::optional<std::string> fallback =
      peer ? sock.impl->peer_path() : sock.impl->local_path();
  VEIL_TRY_VOID(CopyOutSockAddr(args.mem, args.Addr(1), args.Addr(2),
                                SandboxAddr(sock.impl->domain(), addr,
                                            fallback)));
  return 0;
}

// accept4(2) (__sys_accept4 and do_accept).
Result<int64_t> Accept(Task& task, SyscallArgs& args, int flags) {
  if (!task.twins()) return Errno(ENOSYS);
  if (flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) return Errno(EINVAL);
  TaskSocket sock = VEIL_TRY(GetSocket(task, args, args.Int(0)));
  FdReservation fd = VEIL_TRY(task.fds().Allocate(0, task.nofile_limit()));
  // sock_no_accept: datagram sockets; a socket that is not listening
  // (inet_accept, unix_accept): EINVAL.
  const int kind = sock.impl->type();
  if (kind != SOCK_STREAM && kind != SOCK_SEQPACKET) return Errno(EOPNOTSUPP);
  int listening = 0;
  socklen_t optlen = sizeof listening;
  if (::getsockopt(sock.host.get(), SOL_SOCKET, SO_ACCEPTCONN, &listening,
                   &optlen) != 0)
    return Errno::FromErrno();
  if (!listening) return Errno(EINVAL);
  const int host_flags = ::fcntl(sock.host.get(), F_GETFL);
  const bool nonblocking = host_flags >= 0 && (host_flags & O_NONBLOCK);
  SockAddr peer;
  UniqueFd conn;
  for (;;) {
    VEIL_TRY_VOID(args.mem.CheckStillPending());
    {
      // Only the sentry accepts: under the lock a pending connection
      // seen by poll is still there for accept4, which cannot block.
      MutexLock lock(sock.impl->accept_mu());
      pollfd p{sock.host.get(), POLLIN, 0};
      if (nonblocking || ::poll(&p, 1, 0) > 0) {
        peer.len = sizeof peer.storage;
        conn.reset(::accept4(sock.host.get(), peer.get(), &peer.len,
                             SOCK_CLOEXEC | (flags & SOCK_NONBLOCK)));
        if (!conn) return Errno::FromErrno();
        break;
      }
    }
    // inet_csk_wait_for_connect: sleeps until a connection comes or a
    // signal (EINTR here; the dispatcher answers -ERESTARTSYS).
    task.waiter().ResetNotification();
    vfs::HostPoll wait{sock.host.get(), POLLIN};
    VEIL_TRY_VOID(task.waiter().Wait(std::span<const vfs::HostPoll>(&wait, 1)));
  }
  if (sock.impl->domain() == AF_UNIX) VEIL_TRY_VOID(NoPassRights(conn.get()));
  auto impl = std::make_unique<SocketImpl>(
      sock.impl->domain(), sock.impl->type(), sock.impl->protocol());
  if (std::optional<std::string> local = sock.impl->local_path())
    impl->set_local_path(*local);
  const SockAddr named = SandboxAddr(sock.impl->domain(), peer, std::nullopt);
  if (sock.impl->domain() == AF_UNIX && named.len > sizeof(sa_family_t))
    impl->set_peer_path(UnixPath(named));
  if (args.ULong(1) != 0) {
    // do_accept: a failed copy of the peer's name loses the connection.
    VEIL_TRY_VOID(
        CopyOutSockAddr(args.mem, args.Addr(1), args.Addr(2), named));
  }
  return InstallSocket(task, std::move(fd), std::move(conn), flags,
                       std::move(impl));
}

}  // namespace

Result<int64_t> SysSocket(Task& task, SyscallArgs& args) {
  const int domain = args.Int(0);
  const int type = args.Int(1);
  const int protocol = args.Int(2);
  if (!task.twins()) return Errno(ENOSYS);
  // __sys_socket: the flags in `type` first.
  if (type & ~(kSockTypeMask | SOCK_CLOEXEC | SOCK_NONBLOCK))
    return Errno(EINVAL);
  const int kind = type & kSockTypeMask;
  switch (domain) {
    case AF_UNIX:
      break;
    case AF_INET:
    case AF_INET6:
      // inet_create: raw sockets need CAP_NET_RAW.
      if (kind == SOCK_RAW && !task.task_creds().Capable(CAP_NET_RAW))
        return Errno(EPERM);
      break;
    case AF_NETLINK:
      if (protocol != NETLINK_ROUTE && protocol != kNetlinkSockDiag)
        return Errno(EPROTONOSUPPORT);
      break;
    default:
      return Errno(EAFNOSUPPORT);  // a family this sandbox does not offer
  }
  FdReservation fd = VEIL_TRY(task.fds().Allocate(0, task.nofile_limit()));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  UniqueFd host(::socket(domain, type | SOCK_CLOEXEC, protocol));
  if (!host) return Errno::FromErrno();
  if (domain == AF_UNIX) VEIL_TRY_VOID(NoPassRights(host.get()));
  return InstallSocket(task, std::move(fd), std::move(host), type,
                       std::make_unique<SocketImpl>(domain, kind, protocol));
}

Result<int64_t> SysBind(Task& task, SyscallArgs& args) {
  if (!task.twins()) return Errno(ENOSYS);
  TaskSocket sock = VEIL_TRY(GetSocket(task, args, args.Int(0)));
  SockAddr addr =
      VEIL_TRY(CopyInSockAddr(args.mem, args.Addr(1), args.Int(2)));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  switch (sock.impl->domain()) {
    case AF_UNIX:
      // unix_bind: the family alone asks for an autobind name.
      if (addr.len == offsetof(sockaddr_un, sun_path) &&
          addr.family() == AF_UNIX)
        break;
      VEIL_TRY_VOID(ValidateUnixAddr(addr));
      if (IsAbstract(addr)) {
        if (IsPrivateUnixName(addr)) return Errno(EADDRINUSE);
        break;
      }
      return BindUnixPath(task, sock, UnixPath(addr));
    case AF_INET:
    case AF_INET6:
      if (NeedsBindService(addr) &&
          !task.task_creds().Capable(CAP_NET_BIND_SERVICE))
        return Errno(EACCES);
      break;
    default:
      break;
  }
  return HostCall(::bind(sock.host.get(), addr.get(), addr.len));
}

Result<int64_t> SysConnect(Task& task, SyscallArgs& args) {
  if (!task.twins()) return Errno(ENOSYS);
  TaskSocket sock = VEIL_TRY(GetSocket(task, args, args.Int(0)));
  SockAddr addr =
      VEIL_TRY(CopyInSockAddr(args.mem, args.Addr(1), args.Int(2)));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  MayBlockOn(sock.host.get());
  if (sock.impl->domain() != AF_UNIX)
    return HostCall(::connect(sock.host.get(), addr.get(), addr.len));
  // unix_dgram_connect: AF_UNSPEC dissolves the association.
  if (sock.impl->type() == SOCK_DGRAM &&
      addr.len >= offsetof(sockaddr, sa_data) && addr.family() == AF_UNSPEC)
    return HostCall(::connect(sock.host.get(), addr.get(), addr.len));
  VEIL_TRY_VOID(ValidateUnixAddr(addr));
  if (IsAbstract(addr)) {
    if (IsPrivateUnixName(addr)) return Errno(ECONNREFUSED);
    return HostCall(::connect(sock.host.get(), addr.get(), addr.len));
  }
  const SockAddr host = VEIL_TRY(FindUnixPath(task, UnixPath(addr)));
  VEIL_TRY(HostCall(::connect(sock.host.get(), host.get(), host.len)));
  // getpeername names the path the peer was bound to, whatever link
  // reached it.
  sock.impl->set_peer_path(UnixPath(SandboxUnixAddr(host, UnixPath(addr))));
  return 0;
}

Result<int64_t> SysAccept(Task& task, SyscallArgs& args) {
  return Accept(task, args, 0);
}

Result<int64_t> SysAccept4(Task& task, SyscallArgs& args) {
  return Accept(task, args, args.Int(3));
}

Result<int64_t> SysSendto(Task& task, SyscallArgs& args) {
  if (!task.twins()) return Errno(ENOSYS);
  TaskSocket sock = VEIL_TRY(GetSocket(task, args, args.Int(0)));
  // Only a datagram to a unix path needs the sentry (a stream or
  // seqpacket socket answers EISCONN or EOPNOTSUPP, or ignores the
  // name, whatever it says): anything else runs natively, on the task's
  // own socket, and no address it gives reaches a host socket.
  if (sock.impl->domain() != AF_UNIX || sock.impl->type() != SOCK_DGRAM ||
      args.ULong(4) == 0) {
    task.effects().continue_natively = true;
    return 0;
  }
  SockAddr addr =
      VEIL_TRY(CopyInSockAddr(args.mem, args.Addr(4), args.Int(5)));
  if (addr.len < offsetof(sockaddr_un, sun_path) + 1 ||
      addr.family() != AF_UNIX || IsAbstract(addr)) {
    if (IsPrivateUnixName(addr))
      return Errno(ECONNREFUSED);
    task.effects().continue_natively = true;
    return 0;
  }
  VEIL_TRY_VOID(ValidateUnixAddr(addr));
  // unix_dgram_sendmsg: a datagram larger than the send buffer is
  // EMSGSIZE before anything else; the buffer is at most wmem_max here.
  const uint64_t len = args.ULong(2);
  int sndbuf = 0;
  socklen_t optlen = sizeof sndbuf;
  if (::getsockopt(sock.host.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, &optlen) !=
      0)
    return Errno::FromErrno();
  if (len > static_cast<uint64_t>(sndbuf)) return Errno(EMSGSIZE);
  std::vector<uint8_t> data(len);
  if (len > 0) VEIL_TRY_VOID(args.mem.Read(args.Addr(1), data));
  const SockAddr host = VEIL_TRY(FindUnixPath(task, UnixPath(addr)));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  MayBlockOn(sock.host.get());
  const ssize_t sent =
      ::sendto(sock.host.get(), data.data(), data.size(),
               args.Int(3) | MSG_NOSIGNAL, host.get(), host.len);
  if (sent < 0) return Errno::FromErrno();
  return sent;
}

Result<int64_t> SysGetsockname(Task& task, SyscallArgs& args) {
  return GetName(task, args, ::getsockname, false);
}

Result<int64_t> SysGetpeername(Task& task, SyscallArgs& args) {
  return GetName(task, args, ::getpeername, true);
}

Result<int64_t> SysSocketpair(Task& task, SyscallArgs& args) {
  const int domain = args.Int(0);
  const int type = args.Int(1);
  const int protocol = args.Int(2);
  if (!task.twins()) return Errno(ENOSYS);
  // __sys_socketpair: the flags in `type`, then the family's own checks
  // (made by the host's socketpair below).
  if (type & ~(kSockTypeMask | SOCK_CLOEXEC | SOCK_NONBLOCK))
    return Errno(EINVAL);
  if (domain != AF_UNIX) return Errno(EOPNOTSUPP);  // the only family here
  FdReservation fd0 = VEIL_TRY(task.fds().Allocate(0, task.nofile_limit()));
  FdReservation fd1 = VEIL_TRY(task.fds().Allocate(0, task.nofile_limit()));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  int sv[2];
  if (::socketpair(domain, type | SOCK_CLOEXEC, protocol, sv) != 0)
    return Errno::FromErrno();
  UniqueFd end0(sv[0]), end1(sv[1]);
  for (int end : sv) VEIL_TRY_VOID(NoPassRights(end));
  int numbers[2] = {fd0.fd(), fd1.fd()};
  // __sys_socketpair: copy_to_user fails -> EFAULT, nothing installed.
  VEIL_TRY_VOID(CopyOut(args.mem, args.Addr(3), numbers));
  const int kind = type & kSockTypeMask;
  InstallSocket(task, std::move(fd0), std::move(end0), type,
                std::make_unique<SocketImpl>(domain, kind, protocol));
  InstallSocket(task, std::move(fd1), std::move(end1), type,
                std::make_unique<SocketImpl>(domain, kind, protocol));
  return 0;
}

Result<int64_t> SysSetsockopt(Task& task, SyscallArgs& args) {
  if (!task.twins()) return Errno(ENOSYS);
  const int level = args.Int(1);
  const int name = args.Int(2);
  if (level == SOL_SOCKET && name == kSoPassRights) {
    // Off may be asked again; on would let descriptors in behind the
    // sentry's table.
    if (args.UInt(4) < sizeof(int)) return Errno(EINVAL);
    const int value = VEIL_TRY(CopyIn<int>(args.mem, args.Addr(3)));
    if (value != 0) return Errno(EPERM);
    return 0;
  }
  // Every other option: the task's own socket, natively (the values
  // checked here are registers).
  task.effects().continue_natively = true;
  return 0;
}

}  // namespace veil::sentry
