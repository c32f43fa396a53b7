// SPDX-License-Identifier: Apache-2.0
#include "tools/sandbox_registry.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <sstream>
#include <thread>
#include <utility>

#include "base/fd_passing.h"
#include "sentry/control/control_protocol.h"

namespace veil::tools {
namespace {

constexpr char kStateFile[] = "state";
constexpr char kControlSocket[] = "control";
constexpr char kStateHeader[] = "veil-sandbox 1";

// A value on one line: backslash and newline escaped.
std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      out += s[i + 1] == 'n' ? '\n' : s[i + 1];
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string Format(const SandboxRecord& r) {
  std::string out = std::string(kStateHeader) + "\n";
  out += "name " + Escape(r.name) + "\n";
  out += "veil_pid " + std::to_string(r.veil_pid) + "\n";
  out += "veil_start " + std::to_string(r.veil_start) + "\n";
  out += "sentry_pid " + std::to_string(r.sentry_pid) + "\n";
  out += "owner " + std::to_string(r.owner) + "\n";
  out += "created " + std::to_string(r.created) + "\n";
  out += "rootfs " + Escape(r.rootfs) + "\n";
  for (const std::string& arg : r.command) out += "arg " + Escape(arg) + "\n";
  return out;
}

Result<SandboxRecord> Parse(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != kStateHeader) return Errno(EPROTO);
  SandboxRecord r;
  while (std::getline(in, line)) {
    const size_t space = line.find(' ');
    if (space == std::string::npos) return Errno(EPROTO);
    const std::string key = line.substr(0, space);
    const std::string value = Unescape(line.substr(space + 1));
    auto number = [&]() -> long long {
      return std::strtoll(value.c_str(), nullptr, 10);
    };
    if (key == "name") r.name = value;
    else if (key == "veil_pid") r.veil_pid = static_cast<pid_t>(number());
    else if (key == "veil_start") r.veil_start = std::strtoull(value.c_str(), nullptr, 10);
    else if (key == "sentry_pid") r.sentry_pid = static_cast<pid_t>(number());
    else if (key == "owner") r.owner = static_cast<uid_t>(number());
    else if (key == "created") r.created = number();
    else if (key == "rootfs") r.rootfs = value;
    else if (key == "arg") r.command.push_back(value);
    // Unknown keys: a later veil's; skipped.
  }
  return r;
}

// A small regular file's contents: never through a symlink, never
// waiting on a FIFO.
Result<std::string> ReadFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(),
                     O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return Errno::FromErrno();
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Errno::FromErrno();
  if (!S_ISREG(st.st_mode)) return Errno(EINVAL);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno::FromErrno();
    }
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1 << 20)) return Errno(EFBIG);
  }
}

// The runtime directory's lock (flock on it): held while a name is
// claimed, or a stopped sandbox's directory removed, so two veil
// processes never take or remove the same name at once.
class RuntimeLock final {
 public:
  explicit RuntimeLock(int root) : root_(root) {
    while (::flock(root_, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  ~RuntimeLock() { (void)::flock(root_, LOCK_UN); }
  RuntimeLock(const RuntimeLock&) = delete;
  RuntimeLock& operator=(const RuntimeLock&) = delete;

 private:
  const int root_;
};

// Writes the state into directory `dir` crash-safely. By descriptor: veil
// writes it again after its sentry changed the root of the mount
// namespace they share (pivot_root), when no path of the host resolves.
Result<void> WriteStateAt(int dir, const SandboxRecord& r) {
  const std::string tmp = std::string(".") + kStateFile + ".tmp";
  const std::string text = Format(r);
  (void)::unlinkat(dir, tmp.c_str(), 0);  // a leftover of a killed veil
  UniqueFd fd(::openat(dir, tmp.c_str(),
                       O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                       0644));
  if (!fd) return Errno::FromErrno();
  if (::write(fd.get(), text.data(), text.size()) !=
          static_cast<ssize_t>(text.size()) ||
      ::fsync(fd.get()) != 0) {
    const int error = errno ? errno : EIO;
    ::unlinkat(dir, tmp.c_str(), 0);
    return Errno(error);
  }
  fd.reset();
  if (::renameat(dir, tmp.c_str(), dir, kStateFile) != 0)
    return Errno::FromErrno();
  (void)::fsync(dir);
  return Ok();
}

// Removes directory `name` of `root` with what veil puts in it.
void RemoveDirAt(int root, const std::string& name) {
  // NOTE: best effort; what is left is reported stopped and removed later.
  UniqueFd dir(::openat(root, name.c_str(),
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dir) {
    for (const std::string& f : {std::string(kStateFile),
                                std::string(kControlSocket),
                                std::string(".") + kStateFile + ".tmp"})
      (void)::unlinkat(dir.get(), f.c_str(), 0);
  }
  (void)::unlinkat(root, name.c_str(), AT_REMOVEDIR);
}

void RemoveDir(int root, const std::string& name) { RemoveDirAt(root, name); }

bool Alive(pid_t pid, uint64_t start) {
  return pid > 0 && start != 0 && ProcessStartTime(pid) == start;
}

SandboxState StateOf(const SandboxRecord& r) {
  if (!Alive(r.veil_pid, r.veil_start)) return SandboxState::kStopped;
  if (r.sentry_pid != 0 && ProcessStartTime(r.sentry_pid) == 0)
    return SandboxState::kStopped;
  return SandboxState::kRunning;
}

Result<UniqueFd> Listen(const std::string& path, uid_t owner) {
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return Errno(ENAMETOOLONG);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(
      ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return Errno::FromErrno();
  if (::bind(fd.get(), reinterpret_cast<struct sockaddr*>(&addr),
             sizeof(addr)) != 0 ||
      ::chmod(path.c_str(), 0600) != 0 ||
      ::lchown(path.c_str(), owner, static_cast<gid_t>(-1)) != 0 ||
      ::listen(fd.get(), 16) != 0)
    return Errno::FromErrno();
  return fd;
}

}  // namespace

bool ValidSandboxName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '.' || name[0] == '-')
    return false;
  return name.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
         std::string::npos;
}

std::string GenerateSandboxName() {
  uint32_t r = 0;
  if (::getrandom(&r, sizeof r, 0) != sizeof r)
    r = static_cast<uint32_t>(::getpid()) ^ static_cast<uint32_t>(::time(nullptr));
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", r);
  return buf;
}

uint64_t ProcessStartTime(pid_t pid) {
  Result<std::string> stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return 0;
  // Field 22, counted after the command's closing parenthesis (the
  // command itself may hold spaces and parentheses).
  const size_t close = stat->rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(stat->substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22; ++i) {
    if (!(in >> field)) return 0;
  }
  return std::strtoull(field.c_str(), nullptr, 10);
}

Result<SandboxRegistration> SandboxRegistration::Create(
    const std::string& root, SandboxRecord record) {
  if (::mkdir(root.c_str(), 0711) != 0 && errno != EEXIST)
    return Errno(errno, "cannot make the runtime directory");
  UniqueFd root_fd(::open(root.c_str(),
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st;
  if (!root_fd || ::fstat(root_fd.get(), &st) != 0)
    return Errno(errno, "cannot open the runtime directory");
  if (st.st_uid != ::geteuid() || (st.st_mode & 022) != 0)
    return Errno(EPERM, "the runtime directory is writable by others");
  // A stopped sandbox's leftovers give the name back (under the lock, so
  // no other veil takes the name meanwhile).
  RuntimeLock lock(root_fd.get());
  if (Result<SandboxEntry> old = FindSandbox(root, record.name)) {
    if (old->state == SandboxState::kRunning) return Errno(EEXIST);
    RemoveDirAt(root_fd.get(), record.name);
  }
  std::string tmp = root + "/.new-XXXXXX";
  if (!::mkdtemp(tmp.data()))
    return Errno(errno, "cannot make the sandbox's directory");
  const std::string tmp_name = tmp.substr(root.size() + 1);
  auto fail = [&](Errno e) {
    RemoveDirAt(root_fd.get(), tmp_name);
    return e;
  };
  // Root's, mode 0711: only the socket is the owner's (a directory of the
  // owner's would let them replace the state or the socket root uses).
  UniqueFd dir_fd(::openat(root_fd.get(), tmp_name.c_str(),
                           O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir_fd || ::fchmod(dir_fd.get(), 0711) != 0)
    return fail(Errno(errno, "cannot make the sandbox's directory"));
  record.veil_pid = ::getpid();
  record.veil_start = ProcessStartTime(record.veil_pid);
  record.created = ::time(nullptr);
  Result<UniqueFd> listen = Listen(tmp + "/" + kControlSocket, record.owner);
  if (!listen) return fail(Errno(listen.error().code(),
                                 "cannot make the control socket"));
  if (Result<void> w = WriteStateAt(dir_fd.get(), record); !w)
    return fail(Errno(w.error().code(), "cannot write the sandbox's state"));
  // rename(2) onto an existing non-empty directory fails (ENOTEMPTY or
  // EEXIST): the name stays with whoever took it first.
  if (::renameat(root_fd.get(), tmp_name.c_str(), root_fd.get(),
                 record.name.c_str()) != 0) {
    const int error = errno == ENOTEMPTY ? EEXIST : errno;
    return fail(Errno(error));
  }
  SandboxRegistration made;
  made.root_ = std::move(root_fd);
  made.dir_ = std::move(dir_fd);
  made.record_ = std::move(record);
  made.listen_ = std::move(*listen);
  return made;
}

SandboxRegistration::~SandboxRegistration() {
  if (!root_ || !dir_) return;
  // Ours only: after a `veil ps` took us for stopped (the sentry gone,
  // veil not yet) another sandbox may have the name.
  RuntimeLock lock(root_.get());
  struct stat ours, named;
  if (::fstat(dir_.get(), &ours) == 0 &&
      ::fstatat(root_.get(), record_.name.c_str(), &named,
                AT_SYMLINK_NOFOLLOW) == 0 &&
      ours.st_dev == named.st_dev && ours.st_ino == named.st_ino)
    RemoveDirAt(root_.get(), record_.name);
}

Result<void> SandboxRegistration::SetSentry(pid_t sentry) {
  record_.sentry_pid = sentry;
  return WriteStateAt(dir_.get(), record_);
}

Result<SandboxEntry> FindSandbox(const std::string& root,
                                 const std::string& name) {
  if (!ValidSandboxName(name)) return Errno(EINVAL);
  const std::string dir = root + "/" + name;
  Result<std::string> text = ReadFile(dir + "/" + kStateFile);
  if (!text) {
    struct stat st;
    // A directory without its state (a veil killed while it wrote it):
    // stopped, so that delete and ps can clean it.
    if (::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      SandboxEntry e;
      e.record.name = name;
      return e;
    }
    return Errno(ENOENT);
  }
  SandboxEntry e;
  e.record = VEIL_TRY(Parse(*text));
  e.record.name = name;
  e.state = StateOf(e.record);
  return e;
}

Result<std::vector<SandboxEntry>> ListSandboxes(const std::string& root) {
  std::vector<SandboxEntry> out;
  DIR* d = ::opendir(root.c_str());
  if (!d) {
    if (errno == ENOENT) return out;
    return Errno::FromErrno();
  }
  while (struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (!ValidSandboxName(name)) continue;  // ".", "..", ".new-*"
    if (Result<SandboxEntry> entry = FindSandbox(root, name))
      out.push_back(std::move(*entry));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(),
            [](const SandboxEntry& a, const SandboxEntry& b) {
              return a.record.name < b.record.name;
            });
  return out;
}

Result<void> DeleteSandbox(const std::string& root, const std::string& name) {
  UniqueFd r(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!r) return Errno::FromErrno();
  RuntimeLock lock(r.get());
  SandboxEntry e = VEIL_TRY(FindSandbox(root, name));
  if (e.state == SandboxState::kRunning) return Errno(EBUSY);
  RemoveDir(r.get(), name);
  return Ok();
}

Result<std::string> AskSandbox(const std::string& root,
                               const std::string& name,
                               const std::string& request, UniqueFd* fd,
                               int send_fd, int timeout_ms) {
  if (!ValidSandboxName(name)) return Errno(EINVAL);
  const std::string path = root + "/" + name + "/" + kControlSocket;
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return Errno(ENAMETOOLONG);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd sock(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!sock) return Errno::FromErrno();
  if (::connect(sock.get(), reinterpret_cast<struct sockaddr*>(&addr),
                sizeof(addr)) != 0)
    return Errno::FromErrno();
  VEIL_TRY_VOID(SendWithFd(
      sock.get(), std::string(sentry::kControlVersion) + " " + request,
      send_fd));
  // A sentry that does not answer (stopped by a debugger, say) must not
  // hold `veil ps` for ever.
  if (timeout_ms >= 0) {
    struct pollfd p = {sock.get(), POLLIN, 0};
    int ready;
    do {
      ready = ::poll(&p, 1, timeout_ms);
    } while (ready < 0 && errno == EINTR);
    if (ready < 0) return Errno::FromErrno();
    if (ready == 0) return Errno(ETIMEDOUT);
  }
  std::string buffer(sentry::kMaxControlMessage, '\0');
  UniqueFd attached;
  const size_t n = VEIL_TRY(ReceiveWithFd(sock.get(), buffer, &attached));
  if (n == 0) return Errno(ECONNRESET);
  buffer.resize(n);
  const std::string ok = std::string(sentry::kControlVersion) + " OK";
  if (buffer.compare(0, ok.size(), ok) == 0) {
    if (fd) *fd = std::move(attached);
    return buffer.substr(ok.size());
  }
  const std::string err = std::string(sentry::kControlVersion) + " ERR ";
  if (buffer.compare(0, err.size(), err) == 0) {
    const int code = std::atoi(buffer.c_str() + err.size());
    return Errno(code > 0 ? code : EPROTO);
  }
  return Errno(EPROTO);
}

namespace {

// Accepts what is waiting on the (non-blocking) listener and hands on
// each connection whose peer may ask.
void RelayWaiting(int listen_fd, int link, uid_t owner) {
  for (;;) {
    UniqueFd conn(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;  // EAGAIN: nothing more
    }
    struct ucred cred = {};
    socklen_t len = sizeof cred;
    if (::getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
        (cred.uid != 0 && cred.uid != owner)) {
      // The request is read first (a moment at most): a unix socket
      // closed with unread data resets its peer, which would then never
      // see the refusal.
      struct pollfd p = {conn.get(), POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        char ignored[sentry::kMaxControlMessage];
        (void)::recv(conn.get(), ignored, sizeof ignored, MSG_DONTWAIT);
      }
      (void)SendWithFd(conn.get(),
                       sentry::ControlError(EACCES, "not the sandbox's owner"));
      continue;
    }
    // NOTE: a failure means the sentry is gone; the client sees its
    // connection close.
    (void)SendWithFd(link, "c", conn.get());
  }
}

}  // namespace

void RelayUntilExit(int listen_fd, int link, uid_t owner, pid_t sentry) {
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, sentry, 0)));
  if (!pidfd) return;  // the caller's wait still works
  for (;;) {
    struct pollfd p[2] = {{pidfd.get(), POLLIN, 0}, {listen_fd, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[0].revents != 0) return;  // the sentry exited
    if (p[1].revents != 0) RelayWaiting(listen_fd, link, owner);
  }
}

struct ControlRelay::Impl {
  int listen_fd;
  UniqueFd link;
  uid_t owner;
  std::atomic<bool> stop{false};
  std::thread thread;

  void Loop() {
    while (!stop.load()) {
      struct pollfd p = {listen_fd, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) RelayWaiting(listen_fd, link.get(), owner);
    }
  }
};

ControlRelay::ControlRelay(int listen_fd, UniqueFd link, uid_t owner)
    : impl_(std::make_unique<Impl>()) {
  impl_->listen_fd = listen_fd;
  impl_->link = std::move(link);
  impl_->owner = owner;
  impl_->thread = std::thread([impl = impl_.get()] { impl->Loop(); });
}

ControlRelay::~ControlRelay() {
  impl_->stop.store(true);
  impl_->thread.join();
}

}  // namespace veil::tools
