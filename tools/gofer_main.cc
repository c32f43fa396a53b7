// SPDX-License-Identifier: Apache-2.0
//
// `veil gofer --root DIR --fd N [--ro]`: serve DIR over LISAFS on the
// already-connected socket N, confined (gofer/server/gofer.h).
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "base/unique_fd.h"
#include "gofer/server/gofer.h"
#include "tools/verbs.h"

namespace veil::tools {
namespace {

constexpr char kUsage[] =
    "usage: veil gofer --root DIR --fd N [--ro] [--max-node-fds N]\n"
    "                  [--donate-writable] [--allow-suid] [--ids FIRST:COUNT]\n"
    "                  [--send-timeout S] [--max-open-files N]\n"
    "\n"
    "Serves the host directory DIR over LISAFS on descriptor N, which must be\n"
    "a connected AF_UNIX SOCK_SEQPACKET socket inherited from the caller (one\n"
    "end of a socketpair; the other end goes to the client). One client\n"
    "connection is served; the gofer exits 0 when the client hangs up.\n"
    "\n"
    "Before serving, the gofer confines itself, so it must run as root:\n"
    "  - closes every inherited descriptor but 0, 1, 2 and N;\n"
    "  - enters a private mount namespace, bind-mounts DIR onto itself\n"
    "    recursively as nosuid,nodev, receiving the host's later mounts below\n"
    "    DIR (so that they can be neither moved nor removed: EBUSY; nor are\n"
    "    they served: EACCES), pivot_roots into it and detaches the old root;\n"
    "  - sets no_new_privs, keeps only the file capabilities it uses, and\n"
    "    installs a seccomp allowlist that kills it on any other system call.\n"
    "Every lookup is openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|\n"
    "RESOLVE_NO_MAGICLINKS|RESOLVE_NO_XDEV) of one name; symlinks are never\n"
    "followed, device nodes never opened, only user.* and trusted.overlay.*\n"
    "xattrs served. Regular files opened read-only are donated to the client\n"
    "(and those opened for writing with --donate-writable).\n"
    "\n"
    "options:\n"
    "  --root DIR   the directory to serve\n"
    "  --fd N       the connected SOCK_SEQPACKET socket to serve on\n"
    "  --ro         read-only: every change fails with EROFS (and DIR is\n"
    "               mounted read-only in the gofer's namespace)\n"
    "  --max-node-fds N  keep at most N descriptors of walked files open\n"
    "               (default: half of RLIMIT_NOFILE, which the gofer first\n"
    "               raises to its hard limit); past it, those of files not\n"
    "               in use are closed and opened again by name when needed,\n"
    "               checked to be the same inode (ESTALE if not)\n"
    "  --donate-writable  donate the descriptors of regular files opened for\n"
    "               writing too (veil do's read-write binds: the sandbox's\n"
    "               tasks write them natively)\n"
    "  --allow-suid apply set-user-ID and set-group-ID bits as the client\n"
    "               asks (default: never created on, and removed from, files\n"
    "               other than directories, which keep set-group-ID)\n"
    "  --ids FIRST:COUNT  the uids and gids the client may give files\n"
    "               (creating or chown); others fail with EPERM. Default: only\n"
    "               the owner and group of DIR. Give the range the sandbox's\n"
    "               users map to; 0:4294967296 trusts the client with every id\n"
    "  --send-timeout S  drop a client that has not read a reply for S\n"
    "               seconds (default 60)\n"
    "  --max-open-files N  at most N files open at once through the gofer\n"
    "               (default: a quarter of RLIMIT_NOFILE); past it an open\n"
    "               or create fails with ENFILE, never another request\n"
    "  --help       this text\n"
    "\n"
    "Exit status: 0 when the client disconnects, 1 on any error (the message\n"
    "names the step that failed), 2 for bad usage. Logging: VEIL_LOG.\n";

int UsageError(const char* message) {
  std::fprintf(stderr, "veil gofer: %s\n%s", message, kUsage);
  return 2;
}

int Fail(const std::string& what, int error) {
  std::fprintf(stderr, "veil gofer: %s: %s\n", what.c_str(),
               std::strerror(error));
  return 1;
}

// A clear message for each way DIR can be wrong.
bool CheckRootArg(const std::string& root) {
  struct stat st = {};
  if (::stat(root.c_str(), &st) != 0) {
    Fail("--root " + root, errno);
    return false;
  }
  if (!S_ISDIR(st.st_mode)) {
    std::fprintf(stderr, "veil gofer: --root %s: not a directory\n",
                 root.c_str());
    return false;
  }
  return true;
}

// A clear message for each way fd N can be wrong.
bool CheckFdArg(int fd) {
  struct stat st = {};
  if (::fstat(fd, &st) != 0) {
    std::fprintf(stderr, "veil gofer: --fd %d: not an open descriptor (%s)\n",
                 fd, std::strerror(errno));
    return false;
  }
  if (!S_ISSOCK(st.st_mode)) {
    std::fprintf(stderr, "veil gofer: --fd %d: not a socket\n", fd);
    return false;
  }
  int type = 0;
  int domain = 0;
  socklen_t len = sizeof(type);
  socklen_t domain_len = sizeof(domain);
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
      ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &domain_len) != 0) {
    Fail("--fd " + std::to_string(fd) + ": getsockopt", errno);
    return false;
  }
  if (domain != AF_UNIX || type != SOCK_SEQPACKET) {
    std::fprintf(stderr,
                 "veil gofer: --fd %d: not an AF_UNIX SOCK_SEQPACKET socket "
                 "(domain %d, type %d)\n",
                 fd, domain, type);
    return false;
  }
  return true;
}

// "FIRST:COUNT" with FIRST + COUNT <= 2^32 (ids are 32-bit).
std::optional<gofer::IdRange> ParseIds(std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  uint32_t first = 0;
  uint64_t count = 0;
  const char* a = text.data();
  const char* mid = a + colon;
  const char* z = a + text.size();
  auto [end1, ec1] = std::from_chars(a, mid, first);
  auto [end2, ec2] = std::from_chars(mid + 1, z, count);
  if (ec1 != std::errc() || end1 != mid || ec2 != std::errc() || end2 != z ||
      uint64_t{first} + count > (uint64_t{1} << 32)) {
    return std::nullopt;
  }
  return gofer::IdRange{first, count};
}

}  // namespace

int RunGofer(int argc, char** argv) {
  gofer::GoferOptions options;
  int fd = -1;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "--ro") {
      options.access = gofer::Access::kReadOnly;
    } else if (arg == "--root") {
      if (++i == argc) return UsageError("--root needs a directory");
      options.root = argv[i];
    } else if (arg == "--max-node-fds") {
      if (++i == argc) return UsageError("--max-node-fds needs a number");
      std::string_view text = argv[i];
      size_t n = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (ec != std::errc() || end != text.data() + text.size() || n == 0) {
        return UsageError("--max-node-fds needs a positive number");
      }
      options.max_node_fds = n;
    } else if (arg == "--donate-writable") {
      options.donation = gofer::Donation::kAllFiles;
    } else if (arg == "--allow-suid") {
      options.setid = gofer::SetIdBits::kAllow;
    } else if (arg == "--ids") {
      if (++i == argc) return UsageError("--ids needs FIRST:COUNT");
      std::optional<gofer::IdRange> ids = ParseIds(argv[i]);
      if (!ids) return UsageError("--ids needs FIRST:COUNT within 2^32");
      options.ids = *ids;
    } else if (arg == "--send-timeout") {
      if (++i == argc) return UsageError("--send-timeout needs seconds");
      std::string_view text = argv[i];
      uint32_t seconds = 0;
      auto [end, ec] =
          std::from_chars(text.data(), text.data() + text.size(), seconds);
      if (ec != std::errc() || end != text.data() + text.size() ||
          seconds == 0 || seconds > 86'400) {
        return UsageError("--send-timeout needs 1 to 86400 seconds");
      }
      options.send_timeout = std::chrono::seconds(seconds);
    } else if (arg == "--max-open-files") {
      if (++i == argc) return UsageError("--max-open-files needs a number");
      std::string_view text = argv[i];
      size_t n = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (ec != std::errc() || end != text.data() + text.size() || n == 0) {
        return UsageError("--max-open-files needs a positive number");
      }
      options.max_open_files = n;
    } else if (arg == "--fd") {
      if (++i == argc) return UsageError("--fd needs a number");
      std::string_view text = argv[i];
      auto [end, ec] =
          std::from_chars(text.data(), text.data() + text.size(), fd);
      if (ec != std::errc() || end != text.data() + text.size() || fd < 0) {
        return UsageError("--fd needs a non-negative number");
      }
    } else {
      std::string message = "unknown argument '" + std::string(arg) + "'";
      return UsageError(message.c_str());
    }
  }
  if (options.root.empty()) return UsageError("--root DIR is required");
  if (fd < 0) return UsageError("--fd N is required");
  if (!CheckRootArg(options.root) || !CheckFdArg(fd)) return 1;

  Result<void> served = gofer::RunGoferServer(options, UniqueFd(fd));
  if (!served) {
    const char* step = served.error().message();
    return Fail(step != nullptr ? step : "serving", served.error().code());
  }
  return 0;
}

}  // namespace veil::tools
