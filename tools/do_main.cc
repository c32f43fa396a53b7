// SPDX-License-Identifier: Apache-2.0
//
// `veil do`: runs a command in a sandbox. This file parses the command
// line and builds the sandbox's file system (an overlay of a veil tmpfs
// over DIR, served read-only by a gofer, with a tmpfs on /tmp);
// do_sandbox.cc starts the command under the sentry and serves it.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gofer/client/gofer_fs.h"
#include "gofer/client/gofer_process.h"
#include "overlay/overlay.h"
#include "sentry/sandbox/devices.h"
#include "tools/do_command.h"
#include "tools/do_sandbox.h"
#include "tools/fuse/fuse_modes.h"
#include "tools/snapshot_cli.h"
#include "tools/verbs.h"
#include "vfs/tmpfs/tmpfs.h"
#include "vfs/vfs.h"

namespace veil::tools {
namespace {

constexpr const char kUsage[] =
    "usage: veil do [--rootfs DIR] [--bind HOST:SANDBOX[:ro]]... [--env K=V]...\n"
    "               [--cwd DIR] [--strict] [--strace] -- CMD [ARG]...\n";

constexpr const char kHelp[] =
    "\n"
    "Runs CMD in a sandbox: every path, file and exec request it makes is\n"
    "served by veil's own kernel (the sentry) from veil's VFS, never by\n"
    "the host kernel. The sandbox's root is an overlay of a new veil tmpfs\n"
    "over DIR, which a confined gofer serves read-only (DIR is never\n"
    "changed; what CMD writes is gone when it exits); /tmp is a tmpfs of\n"
    "its own, and so is /dev, with null, zero, full, random and urandom.\n"
    "CMD is looked up in the sandbox's PATH (from --env, else\n"
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin) unless\n"
    "it contains a slash. Its stdin, stdout and stderr are veil's.\n"
    "Statically linked programs only, for now (a dynamic one fails with\n"
    "ENOEXEC); there is no /proc in the sandbox yet.\n"
    "Needs root (the gofer).\n"
    "\n"
    "  --rootfs DIR   the lower layer of the sandbox's root (default: /)\n"
    "  --bind HOST:SANDBOX[:ro]\n"
    "                 serve host directory HOST at SANDBOX (an absolute\n"
    "                 path, made in the sandbox if missing) through a gofer\n"
    "                 of its own, read-write unless :ro; the host sees the\n"
    "                 sandbox's changes and the sandbox the host's\n"
    "                 (repeatable)\n"
    "  --env K=V      set K in CMD's environment (repeatable); without any\n"
    "                 --env, CMD gets the PATH above, HOME=/root and our TERM\n"
    "  --cwd DIR      CMD's working directory in the sandbox (default: /)\n"
    "  --strict       trap file I/O too and serve it from the VFS: no host\n"
    "                 descriptor of a sandbox file in the tasks (by\n"
    "                 default read, write, pread, pwrite and poll run in\n"
    "                 the host kernel on a host fd the sentry installed)\n"
    "  --strace       print each trapped syscall with its raw arguments and\n"
    "                 its result to stderr\n"
    "  -h, --help     print this help\n"
    "\n"
    "Exit status: CMD's, or 128+N if a signal N ended it; 125 if veil\n"
    "could not start the sandbox, 127 if CMD was not found, 126 if it\n"
    "could not be executed.\n";

constexpr int kExitSetupFailed = 125;

int UsageError(const std::string& what) {
  std::fprintf(stderr, "veil do: %s\n%s(see veil do --help)\n", what.c_str(),
               kUsage);
  return 2;
}

// The sandbox's root: tmpfs upper (its root a copy of DIR's mode, owner
// and times, as overlayfs's merged root) over DIR served by a read-only
// gofer whose tree nothing else changes.
struct Rootfs {
  // Declared first, destroyed last: the gofer child is reaped once the
  // filesystems using its connection are gone.
  std::optional<gofer::GoferProcess> gofer;
  RefPtr<overlay::OverlayFs> overlay;
};

std::optional<Rootfs> MakeRootfs(const std::string& dir) {
  struct stat dir_st;
  if (stat(dir.c_str(), &dir_st) != 0) {
    std::fprintf(stderr, "veil do: --rootfs %s: %s\n", dir.c_str(),
                 std::strerror(errno));
    return std::nullopt;
  }
  if (!S_ISDIR(dir_st.st_mode)) {
    std::fprintf(stderr, "veil do: --rootfs %s: %s\n", dir.c_str(),
                 std::strerror(ENOTDIR));
    return std::nullopt;
  }
  vfs::tmpfs::TmpfsOptions upper_options;
  upper_options.root_mode = dir_st.st_mode & 07777;
  upper_options.root_uid = dir_st.st_uid;
  upper_options.root_gid = dir_st.st_gid;
  Ref<vfs::tmpfs::Tmpfs> upper = vfs::tmpfs::Tmpfs::Create(upper_options);
  {
    // /dev, /proc and /sys in the upper layer, opaque (overlayfs's
    // trusted.overlay.opaque): the sandbox's /dev is a tmpfs of ours
    // mounted there, and /proc and /sys are empty until the sentry serves
    // them, whatever DIR has there (on the host's / mount points, which
    // the gofer does not serve). Dropped before the overlay exists, as
    // the overlay must be the layer's only user.
    vfs::Vfs upper_vfs(upper);
    vfs::Context ctx = upper_vfs.RootContext();
    for (const char* dir : {"/dev", "/proc", "/sys"}) {
      Result<void> made =
          upper_vfs.MkdirAt(ctx, upper_vfs.RootLocation(), dir, 0555);
      if (made) {
        made = upper_vfs.SetXattrAt(ctx, upper_vfs.RootLocation(), dir,
                                    "trusted.overlay.opaque", "y", 0, 0);
      }
      if (!made) {
        std::fprintf(stderr, "veil do: cannot prepare %s: %s\n", dir,
                     std::strerror(made.error().code()));
        return std::nullopt;
      }
    }
  }

  Rootfs rootfs;
  gofer::GoferFsOptions lower_options;
  // Served --ro and private to this sandbox, as overlayfs's lower: names
  // and attributes are never asked about again.
  lower_options.access = gofer::FileAccess::kImmutable;
  auto lower = ConnectGofer(dir, gofer::GoferAccess::kReadOnly, lower_options,
                            GoferStdio::kInherit, &rootfs.gofer);
  if (!lower) return std::nullopt;
  auto overlay = overlay::OverlayFs::Create(upper, {*lower});
  if (!overlay) {
    std::fprintf(stderr, "veil do: cannot build the overlay over %s: %s\n",
                 dir.c_str(), std::strerror(overlay.error().code()));
    return std::nullopt;
  }
  rootfs.overlay = std::move(*overlay);
  return rootfs;
}

// --bind HOST:SANDBOX[:ro].
struct Bind {
  std::string host;
  std::string sandbox;
  gofer::GoferAccess access = gofer::GoferAccess::kReadWrite;
};

std::optional<Bind> ParseBind(const std::string& spec) {
  Bind b;
  std::string rest = spec;
  if (rest.size() > 3 && rest.ends_with(":ro")) {
    b.access = gofer::GoferAccess::kReadOnly;
    rest.resize(rest.size() - 3);
  }
  size_t colon = rest.find(':');
  if (colon == std::string::npos) return std::nullopt;
  b.host = rest.substr(0, colon);
  b.sandbox = rest.substr(colon + 1);
  if (b.host.empty() || b.host.front() != '/' || b.sandbox.empty() ||
      b.sandbox.front() != '/')
    return std::nullopt;
  return b;
}

// Serves each bind through a gofer of its own (a tree the host shares:
// names revalidated, attributes asked for) mounted at its sandbox path,
// made (with its parents) in the rootfs's upper layer if missing.
bool MountBinds(vfs::Vfs& vfs, const std::vector<Bind>& binds,
                std::vector<std::optional<gofer::GoferProcess>>* gofers) {
  for (const Bind& b : binds) {
    struct stat st;
    if (stat(b.host.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      std::fprintf(stderr, "veil do: --bind %s: %s\n", b.host.c_str(),
                   std::strerror(errno ? errno : ENOTDIR));
      return false;
    }
    vfs::Context ctx = vfs.RootContext();
    // mkdir -p of the sandbox path.
    for (size_t at = 1; at <= b.sandbox.size(); ++at) {
      if (at != b.sandbox.size() && b.sandbox[at] != '/') continue;
      Result<void> made =
          vfs.MkdirAt(ctx, vfs.RootLocation(), b.sandbox.substr(0, at), 0755);
      if (!made && made.error().code() != EEXIST) {
        std::fprintf(stderr, "veil do: --bind %s: cannot make %s: %s\n",
                     b.host.c_str(), b.sandbox.substr(0, at).c_str(),
                     std::strerror(made.error().code()));
        return false;
      }
    }
    gofer::GoferFsOptions options;
    options.access = gofer::FileAccess::kShared;
    options.writable_donations =
        gofer::GoferFsOptions::WritableDonations::kTake;
    gofers->emplace_back();
    // A read-write bind's files are written natively by the tasks (the
    // data plane): the gofer donates their writable descriptors too.
    auto fs = ConnectGofer(b.host, b.access, options, GoferStdio::kInherit,
                           &gofers->back(),
                           gofer::GoferDonation::kWritableToo);
    if (!fs) return false;
    Result<void> mounted = vfs.MountAt(ctx, *fs, vfs.RootLocation(),
                                       b.sandbox, 0);
    if (!mounted) {
      std::fprintf(stderr, "veil do: --bind %s: cannot mount on %s: %s\n",
                   b.host.c_str(), b.sandbox.c_str(),
                   std::strerror(mounted.error().code()));
      return false;
    }
  }
  return true;
}

// A tmpfs on /tmp, as a container runtime gives one, if the rootfs has a
// /tmp directory (none is made: DIR's layout is the user's).
void MountTmp(vfs::Vfs& vfs) {
  vfs::tmpfs::TmpfsOptions options;
  options.root_mode = 01777;
  auto tmp = vfs.ResolveAt(vfs.RootContext(), vfs.RootLocation(), "/tmp", 0);
  if (!tmp || !tmp->dentry->inode().IsDir()) return;
  Result<void> mounted =
      vfs.MountAt(vfs.RootContext(), vfs::tmpfs::Tmpfs::Create(options),
                  vfs.RootLocation(), "/tmp", 0);
  if (!mounted) {
    std::fprintf(stderr, "veil do: cannot mount a tmpfs on /tmp: %s\n",
                 std::strerror(mounted.error().code()));
  }
}

}  // namespace

int RunDo(int argc, char** argv) {
  SandboxOptions options;
  std::string rootfs_dir = "/";
  std::vector<Bind> binds;
  int i = 1;
  for (; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    if (arg == "-h" || arg == "--help") {
      std::printf("%s%s", kUsage, kHelp);
      return 0;
    } else if (arg == "--rootfs" || arg == "--cwd" || arg == "--env" ||
               arg == "--bind") {
      std::optional<std::string> v = value();
      if (!v) return UsageError(std::string(arg) + " needs a value");
      if (arg == "--rootfs") {
        rootfs_dir = *v;
      } else if (arg == "--bind") {
        std::optional<Bind> b = ParseBind(*v);
        if (!b)
          return UsageError("--bind needs HOST:SANDBOX[:ro] with absolute "
                            "paths, not '" + *v + "'");
        binds.push_back(std::move(*b));
      } else if (arg == "--cwd") {
        options.cwd = *v;
      } else {
        if (v->find('=') == std::string::npos || v->front() == '=')
          return UsageError("--env needs K=V, not '" + *v + "'");
        options.env.push_back(*v);
      }
    } else if (arg == "--strict") {
      options.data_plane = DataPlane::kTrapped;
    } else if (arg == "--strace") {
      options.trace = SyscallTrace::kPrint;
    } else if (!arg.empty() && arg.front() == '-') {
      return UsageError("unknown option '" + std::string(arg) + "'");
    } else {
      break;  // the command, without "--"
    }
  }
  if (i >= argc) return UsageError("no command given");
  options.argv.assign(argv + i, argv + argc);
  if (options.cwd.empty() || options.cwd.front() != '/')
    return UsageError("--cwd needs an absolute path in the sandbox");
  if (rootfs_dir.empty() || rootfs_dir.front() != '/')
    return UsageError("--rootfs needs an absolute path");
  if (options.env.empty()) options.env = DefaultEnvironment();

  RaiseFdLimit();
  std::optional<Rootfs> rootfs = MakeRootfs(rootfs_dir);
  if (!rootfs) return kExitSetupFailed;
  // Destroyed after the Vfs (declared first): each gofer is reaped once
  // its filesystem is gone.
  std::vector<std::optional<gofer::GoferProcess>> bind_gofers;
  bind_gofers.reserve(binds.size());
  vfs::Vfs vfs(Ref<overlay::OverlayFs>(*rootfs->overlay));
  MountTmp(vfs);
  if (!MountBinds(vfs, binds, &bind_gofers)) return kExitSetupFailed;
  if (Result<void> dev = sentry::MountDev(vfs); !dev) {
    std::fprintf(stderr, "veil do: cannot make the sandbox's /dev: %s\n",
                 std::strerror(dev.error().code()));
    return kExitSetupFailed;
  }
  return RunSandbox(vfs, options);
}

}  // namespace veil::tools
