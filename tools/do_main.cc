// SPDX-License-Identifier: Apache-2.0
//
// `veil do`: runs a command in a sandbox. This file parses the command
// line and builds the sandbox's file system (an overlay of a veil tmpfs
// over DIR, served read-only by a gofer, with a tmpfs on /tmp);
// do_sandbox.cc starts the command under the sentry and serves it.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gofer/client/gofer_fs.h"
#include "gofer/client/gofer_process.h"
#include "lisafs/client.h"
#include "overlay/overlay.h"
#include "overlay/snapshot/io.h"
#include "overlay/snapshot/snapshot.h"
#include "sentry/platform/self_confine.h"
#include "sentry/sandbox/devices.h"
#include "tools/do_command.h"
#include "tools/do_sandbox.h"
#include "tools/sandbox_registry.h"
#include "tools/snapshot_cli.h"
#include "tools/verbs.h"
#include "vfs/tmpfs/tmpfs.h"
#include "vfs/vfs.h"

namespace veil::tools {
namespace {

constexpr const char kUsage[] =
    "usage: veil do [--rootfs DIR] [--bind HOST:SANDBOX[:ro]]... [--env K=V]...\n"
    "               [--cwd DIR] [--user USER[:GROUP]] [--hostname NAME]\n"
    "               [--strict] [--strace] [--name NAME] [--root DIR]\n"
    "               [--verbose] [--restore IMG] [--snapshot-out IMG]\n"
    "               -- CMD [ARG]...\n";

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
    "Static and dynamic programs run (the dynamic loader and libraries come\n"
    "from the VFS too; under --strict only static ones, for now). /proc is\n"
    "the sandbox's own: its processes, fds and mounts, never the host's.\n"
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
    "  --user USER[:GROUP]\n"
    "                 run CMD as USER (a name or uid, looked up in the\n"
    "                 sandbox's /etc/passwd) with its groups from the\n"
    "                 sandbox's /etc/group, or GROUP (a name or gid), and\n"
    "                 no capabilities unless USER is root; HOME is USER's\n"
    "                 home when no --env is given (default: root)\n"
    "  --hostname NAME\n"
    "                 the sandbox's hostname, as uname and /proc report it\n"
    "                 (default: veil; never the host's)\n"
    "  --strict       trap file I/O too and serve it from the VFS: no host\n"
    "                 descriptor of a sandbox file in the tasks (by\n"
    "                 default read, write, pread, pwrite and poll run in\n"
    "                 the host kernel on a host fd the sentry installed)\n"
    "  --strace       print each trapped syscall with its raw arguments and\n"
    "                 its result to stderr\n"
    "  --name NAME    the sandbox's name, for veil ps and veil fuse NAME MNT\n"
    "                 (1 to 64 letters, digits, '_', '.', '-'; default: 8\n"
    "                 random hex digits); a name a running sandbox has is\n"
    "                 refused\n"
    "  --root DIR     the runtime directory holding each running sandbox's\n"
    "                 state and control socket (default: /run/veil)\n"
    "  --verbose      print the sandbox's name to stderr when it starts\n"
    "  --restore IMG  start from a snapshot image of a sandbox's changes to\n"
    "                 its rootfs (veil snapshot SANDBOX IMG, --snapshot-out,\n"
    "                 veil fuse --snapshot-out): verified in full first; a\n"
    "                 damaged image is refused and nothing runs\n"
    "  --snapshot-out IMG\n"
    "                 when CMD's last process has exited, save the sandbox's\n"
    "                 changes to its rootfs to IMG (mode 0600), under a\n"
    "                 temporary name in IMG's directory, verified, fsync'd\n"
    "                 and renamed: IMG is whole or as it was. IMG may be the\n"
    "                 --restore image\n"
    "  -h, --help     print this help\n"
    "\n"
    "Exit status: CMD's, or 128+N if a signal N ended it; 125 if veil\n"
    "could not start the sandbox (or CMD succeeded and --snapshot-out's\n"
    "IMG could not be saved), 127 if CMD was not found, 126 if it could\n"
    "not be executed.\n";

constexpr int kExitSetupFailed = 125;
// Per-CPU channels to each gofer (its server allows 16 extra channels).
constexpr size_t kGoferLanes = 15;

int UsageError(const std::string& what) {
  std::fprintf(stderr, "veil do: %s\n%s(see veil do --help)\n", what.c_str(),
               kUsage);
  return 2;
}

// A started gofer: its process (reaped by the veil process, never by the
// sentry) and the client end of its socket (the sentry's).
struct StartedGofer {
  std::string dir;
  std::optional<gofer::GoferProcess> process;
  UniqueFd socket;
};

// Starts `veil gofer` for host directory `dir`. Runs before the sentry
// confines itself: only the veil process can start host programs.
bool StartOneGofer(const std::string& dir, gofer::GoferAccess access,
                   gofer::GoferDonation donation, StartedGofer* out) {
  auto started = gofer::StartGofer("/proc/self/exe", dir, access, 0,
                                   gofer::GoferClient::kHostUsers, donation);
  if (!started) {
    std::fprintf(stderr, "veil do: cannot start the gofer for %s: %s\n",
                 dir.c_str(), std::strerror(started.error().code()));
    return false;
  }
  out->dir = dir;
  out->socket = started->TakeSocket();
  out->process.emplace(std::move(*started));
  return true;
}

// The filesystem a started gofer serves, over its socket (LISAFS). The
// gofer prints its own reason (not root, say) when it does not serve.
std::optional<Ref<gofer::GoferFs>> ConnectSocket(
    StartedGofer& g, const gofer::GoferFsOptions& options) {
  auto channel = lisafs::Channel::Adopt(std::move(g.socket));
  Result<std::unique_ptr<lisafs::Client>> client =
      channel ? lisafs::Client::Create(std::move(*channel))
              : Result<std::unique_ptr<lisafs::Client>>(channel.error());
  if (!client) {
    std::fprintf(stderr, "veil do: the gofer for %s did not serve: %s\n",
                 g.dir.c_str(), std::strerror(client.error().code()));
    return std::nullopt;
  }
  // A channel per CPU, each served on its CPU: a task's call into the
  // gofer stays on the CPU the task is pinned to (sentry/sandbox
  // cpu_placer.h).
  (*client)->OpenCpuLanes(kGoferLanes);
  auto fs = gofer::GoferFs::Create(std::move(*client), options);
  if (!fs) {
    std::fprintf(stderr, "veil do: cannot use the gofer for %s: %s\n",
                 g.dir.c_str(), std::strerror(fs.error().code()));
    return std::nullopt;
  }
  return std::move(*fs);
}

// The sandbox's root: tmpfs upper (its root a copy of DIR's mode, owner
// and times, as overlayfs's merged root) over DIR served by a read-only
// gofer whose tree nothing else changes. `dir_st`: DIR's stat, taken
// before the sentry lost sight of the host.
RefPtr<overlay::OverlayFs> MakeRootfs(const struct stat& dir_st,
                                      StartedGofer& root_gofer,
                                      int restore_fd,
                                      const std::string& restore_name,
                                      RefPtr<vfs::Filesystem>* upper_out) {
  const std::string& dir = root_gofer.dir;
  vfs::tmpfs::TmpfsOptions upper_options;
  upper_options.root_mode = dir_st.st_mode & 07777;
  upper_options.root_uid = dir_st.st_uid;
  upper_options.root_gid = dir_st.st_gid;
  Ref<vfs::tmpfs::Tmpfs> upper = vfs::tmpfs::Tmpfs::Create(upper_options);
  if (restore_fd >= 0) {
    // --restore: the image's tree is the upper layer, as a snapshot saw
    // it (verified in full before anything is made).
    vfs::Vfs upper_vfs(upper);
    auto restored = RestoreImageFd(restore_fd, restore_name, upper_vfs,
                                   upper_vfs.RootLocation(), "do",
                                   TmpfsLimits(std::nullopt, ""));
    if (!restored) {
      std::fprintf(stderr, "veil do: --restore %s\n",
                   restored.error().message.c_str());
      return nullptr;
    }
  }
  *upper_out = upper;
  {
    // /dev, /proc and /sys in the upper layer, opaque (overlayfs's
    // trusted.overlay.opaque): the sandbox's /dev is a tmpfs of ours
    // mounted there, and /proc and /sys are empty until the sentry serves
    // them, whatever DIR has there (on the host's / mount points, which
    // the gofer does not serve). Dropped before the overlay exists, as
    // the overlay must be the layer's only user.
    vfs::Vfs upper_vfs(upper);
    vfs::Context ctx = upper_vfs.RootContext();
    for (const char* d : {"/dev", "/proc", "/sys"}) {
      Result<void> made =
          upper_vfs.MkdirAt(ctx, upper_vfs.RootLocation(), d, 0555);
      if (!made && made.error().code() == EEXIST && restore_fd >= 0)
        made = Ok();  // the restored layer has it
      if (made) {
        made = upper_vfs.SetXattrAt(ctx, upper_vfs.RootLocation(), d,
                                    "trusted.overlay.opaque", "y", 0, 0);
      }
      if (!made) {
        std::fprintf(stderr, "veil do: cannot prepare %s: %s\n", d,
                     std::strerror(made.error().code()));
        return nullptr;
      }
    }
  }
  gofer::GoferFsOptions lower_options;
  // Served --ro and private to this sandbox, as overlayfs's lower: names
  // and attributes are never asked about again.
  lower_options.access = gofer::FileAccess::kImmutable;
  auto lower = ConnectSocket(root_gofer, lower_options);
  if (!lower) return nullptr;
  auto overlay = overlay::OverlayFs::Create(upper, {*lower});
  if (!overlay) {
    std::fprintf(stderr, "veil do: cannot build the overlay over %s: %s\n",
                 dir.c_str(), std::strerror(overlay.error().code()));
    return nullptr;
  }
  return std::move(*overlay);
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

// Checks each bind's host directory, on the host (before confinement).
bool CheckBinds(const std::vector<Bind>& binds) {
  for (const Bind& b : binds) {
    struct stat st;
    if (stat(b.host.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      std::fprintf(stderr, "veil do: --bind %s: %s\n", b.host.c_str(),
                   std::strerror(errno ? errno : ENOTDIR));
      return false;
    }
  }
  return true;
}

// Serves each bind through its gofer, gofers[1 + n] (a tree the host shares: names
// revalidated, attributes asked for) mounted at its sandbox path, made
// (with its parents) in the rootfs's upper layer if missing.
bool MountBinds(vfs::Vfs& vfs, const std::vector<Bind>& binds,
                std::vector<StartedGofer>& gofers) {
  for (size_t n = 0; n < binds.size(); ++n) {
    const Bind& b = binds[n];
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
    // A read-write bind's files are written natively by the tasks (the
    // data plane): its gofer donates their writable descriptors too
    // (StartOneGofer, kWritableToo).
    auto fs = ConnectSocket(gofers[1 + n], options);
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

// --snapshot-out IMG: a temporary file in IMG's directory, made before
// the sentry exists (it reaches no host path), written by the sentry once
// the command is over, then checked and put in place by veil by
// descriptor (the sentry's pivot_root changed the root veil shares with
// it, so no host path resolves for veil either by then).
class PendingImage final {
 public:
  static std::optional<PendingImage> Create(const std::string& img) {
    if (auto writable = CheckImageWritable(img); !writable) {
      std::fprintf(stderr, "veil do: --snapshot-out %s\n",
                   writable.error().message.c_str());
      return std::nullopt;
    }
    SweepStalePartials(img);
    PendingImage p;
    p.img_ = img;
    p.partial_ = PartialName(img);
    p.dir_.reset(open(DirOf(img).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    p.fd_.reset(open(p.partial_.c_str(),
                     O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!p.dir_ || !p.fd_) {
      std::fprintf(stderr, "veil do: --snapshot-out %s: %s\n", img.c_str(),
                   std::strerror(errno));
      if (p.fd_) unlink(p.partial_.c_str());
      return std::nullopt;
    }
    return p;
  }
  PendingImage(PendingImage&&) = default;
  PendingImage& operator=(PendingImage&&) = default;
  ~PendingImage() {
    if (fd_ && dir_) unlinkat(dir_.get(), Base(partial_).c_str(), 0);
  }

  // In the sentry: the directory is veil's (the sentry holds no host
  // directory; nor does it remove the file, veil does).
  void LeaveToVeil() { dir_.reset(); }

  // In the sentry, the layer at rest: the image into the file. Failures
  // are printed; Finish finds the file incomplete.
  void Write(const RefPtr<vfs::Filesystem>& layer) {
    if (!layer) return;
    vfs::Vfs layer_vfs{Ref<vfs::Filesystem>(*layer)};
    snapshot::FdSink sink(fd_.get());
    TtyProgress progress("do", "writing the snapshot");
    snapshot::WriteOptions options;
    options.progress = progress.Fn();
    auto stats = snapshot::WriteImage(layer_vfs, layer_vfs.RootLocation(),
                                      sink, options);
    progress.Finish();
    if (!stats) {
      std::fprintf(stderr, "veil do: --snapshot-out %s: %s\n", img_.c_str(),
                   stats.error().message.c_str());
    }
  }

  // In veil: verifies the file, fsyncs it and renames it over IMG. False
  // (the message printed, IMG as it was) if it is not a whole image.
  bool Finish() {
    snapshot::SnapshotResult<void> checked = VerifyImageFd(fd_.get(), img_);
    if (!checked) {
      std::fprintf(stderr,
                   "veil do: --snapshot-out %s: not saved (the sandbox's "
                   "image is not whole: %s)\n",
                   img_.c_str(), checked.error().message.c_str());
      return false;
    }
    if (fsync(fd_.get()) != 0 ||
        renameat(dir_.get(), Base(partial_).c_str(), dir_.get(),
                 Base(img_).c_str()) != 0) {
      std::fprintf(stderr, "veil do: --snapshot-out %s: %s\n", img_.c_str(),
                   std::strerror(errno));
      return false;
    }
    (void)fsync(dir_.get());
    fd_.reset();  // nothing left to remove
    return true;
  }

 private:
  PendingImage() = default;
  static std::string Base(const std::string& path) {
    const size_t slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
  }
  std::string img_, partial_;
  UniqueFd dir_, fd_;
};

}  // namespace

int RunDo(int argc, char** argv) {
  SandboxOptions options;
  std::string rootfs_dir = "/";
  std::string hostname = "veil";
  std::string name;
  std::string runtime_root = kDefaultRuntimeRoot;
  std::string restore_img, snapshot_out;
  bool verbose = false;
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
               arg == "--bind" || arg == "--user" || arg == "--hostname" ||
               arg == "--name" || arg == "--root" || arg == "--restore" ||
               arg == "--snapshot-out") {
      std::optional<std::string> v = value();
      if (!v) return UsageError(std::string(arg) + " needs a value");
      if (arg == "--rootfs") {
        rootfs_dir = *v;
      } else if (arg == "--name") {
        if (!ValidSandboxName(*v))
          return UsageError("--name needs 1 to 64 letters, digits, '_', '.' "
                            "or '-' (not first), not '" + *v + "'");
        name = *v;
      } else if (arg == "--root") {
        if (v->empty() || v->front() != '/')
          return UsageError("--root needs an absolute path");
        runtime_root = *v;
      } else if (arg == "--restore") {
        restore_img = *v;
      } else if (arg == "--snapshot-out") {
        snapshot_out = *v;
      } else if (arg == "--bind") {
        std::optional<Bind> b = ParseBind(*v);
        if (!b)
          return UsageError("--bind needs HOST:SANDBOX[:ro] with absolute "
                            "paths, not '" + *v + "'");
        binds.push_back(std::move(*b));
      } else if (arg == "--cwd") {
        options.cwd = *v;
      } else if (arg == "--hostname") {
        // sethostname takes up to 64 bytes (HOST_NAME_MAX); a name others
        // can parse (RFC 1123's characters) is asked for.
        const bool ok =
            !v->empty() && v->size() <= 64 &&
            v->find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") ==
                std::string::npos;
        if (!ok)
          return UsageError("--hostname needs 1 to 64 letters, digits, '-' "
                            "or '.', not '" + *v + "'");
        hostname = *v;
      } else if (arg == "--user") {
        if (v->empty()) return UsageError("--user needs NAME|UID[:GROUP|GID]");
        options.user = *v;
      } else {
        if (v->find('=') == std::string::npos || v->front() == '=')
          return UsageError("--env needs K=V, not '" + *v + "'");
        options.env.push_back(*v);
      }
    } else if (arg == "--strict") {
      options.data_plane = DataPlane::kTrapped;
    } else if (arg == "--strace") {
      options.trace = SyscallTrace::kPrint;
    } else if (arg == "--verbose") {
      verbose = true;
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
  if (options.env.empty()) {
    options.env = DefaultEnvironment();
    options.default_env = true;
  }

  RaiseFdLimit();
  // Everything of the host's is looked at, opened or started first: the
  // sentry then confines itself (sentry/platform/self_confine.h).
  struct stat dir_st;
  if (stat(rootfs_dir.c_str(), &dir_st) != 0 || !S_ISDIR(dir_st.st_mode)) {
    std::fprintf(stderr, "veil do: --rootfs %s: %s\n", rootfs_dir.c_str(),
                 std::strerror(errno ? errno : ENOTDIR));
    return kExitSetupFailed;
  }
  if (!CheckBinds(binds)) return kExitSetupFailed;
  // The images, opened now: the sentry reaches no host path.
  UniqueFd restore_fd;
  if (!restore_img.empty()) {
    restore_fd.reset(open(restore_img.c_str(), O_RDONLY | O_CLOEXEC));
    if (!restore_fd) {
      std::fprintf(stderr, "veil do: --restore %s: %s\n", restore_img.c_str(),
                   std::strerror(errno));
      return kExitSetupFailed;
    }
  }
  std::optional<PendingImage> pending;
  if (!snapshot_out.empty()) {
    pending = PendingImage::Create(snapshot_out);
    if (!pending) return kExitSetupFailed;
  }
  std::optional<UniqueFd> stub = OpenExecStub();
  if (!stub) return kExitSetupFailed;
  options.stub_fd = stub->get();
  // What /proc shows of the host: read now, while the host's /proc is in
  // reach (the confined sentry sees only its own tasks).
  options.proc = sentry::CaptureProcHostInfo();
  if (options.proc) options.proc->hostname = hostname;
  if (options.data_plane == DataPlane::kNative) {
    Result<std::unique_ptr<sentry::HostTwins>> twins =
        sentry::HostTwins::Create();
    if (!twins) {
      std::fprintf(stderr, "veil do: cannot prepare the data plane: %s\n",
                   std::strerror(twins.error().code()));
      return kExitSetupFailed;
    }
    options.twins = std::move(*twins);
  }
  // Declared before the filesystems: destroyed (each gofer reaped) after.
  std::vector<StartedGofer> gofers(1 + binds.size());
  if (!StartOneGofer(rootfs_dir, gofer::GoferAccess::kReadOnly,
                     gofer::GoferDonation::kReadOnlyFiles, &gofers[0]))
    return kExitSetupFailed;
  for (size_t n = 0; n < binds.size(); ++n) {
    if (!StartOneGofer(binds[n].host, binds[n].access,
                       gofer::GoferDonation::kWritableToo, &gofers[n + 1]))
      return kExitSetupFailed;
  }
  // The sandbox's name, state and control socket (veil ps, veil fuse
  // NAME): claimed before the sentry exists, so a name in use fails here.
  SandboxRecord record;
  record.name = name.empty() ? GenerateSandboxName() : name;
  record.owner = getuid();
  record.rootfs = rootfs_dir;
  record.command = options.argv;
  Result<SandboxRegistration> registration =
      SandboxRegistration::Create(runtime_root, record);
  if (!registration) {
    if (registration.error().code() == EEXIST) {
      std::fprintf(stderr, "veil do: --name %s: a running sandbox has that "
                   "name (see veil ps)\n", record.name.c_str());
    } else {
      std::fprintf(stderr, "veil do: cannot register sandbox %s in %s: %s%s%s\n",
                   record.name.c_str(), runtime_root.c_str(),
                   registration.error().message() ? registration.error().message() : "",
                   registration.error().message() ? ": " : "",
                   std::strerror(registration.error().code()));
    }
    return kExitSetupFailed;
  }
  if (verbose) std::fprintf(stderr, "veil do: sandbox %s\n", record.name.c_str());
  // veil's link to the sentry: connections to the control socket pass
  // through it once veil has checked who is asking.
  int link[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, link) != 0) {
    std::fprintf(stderr, "veil do: cannot make the control link: %s\n",
                 std::strerror(errno));
    return kExitSetupFailed;
  }
  UniqueFd veil_link(link[0]);
  UniqueFd sentry_link(link[1]);
  options.control_fd = sentry_link.get();
  std::optional<ControlRelay> relay;
  const sentry::Confinement confinement = sentry::ConfinementFromEnvironment();
  if (confinement == sentry::Confinement::kConfined) {
    Result<sentry::SentryFork> forked =
        sentry::EnterSentryNamespaces(hostname);
    if (!forked) {
      std::fprintf(stderr, "veil do: cannot confine the sentry: %s: %s\n",
                   forked.error().message() ? forked.error().message() : "",
                   std::strerror(forked.error().code()));
      return kExitSetupFailed;
    }
    if (!forked->in_sentry()) {
      // veil itself: the sockets are the sentry's alone (a gofer ends when
      // its client hangs up), so it waits, then reaps the gofers.
      for (StartedGofer& g : gofers) g.socket.reset();
      stub->reset();
      sentry_link.reset();
      if (Result<void> set = registration->SetSentry(forked->sentry); !set) {
        std::fprintf(stderr, "veil do: cannot record sandbox %s's sentry: %s\n",
                     record.name.c_str(), std::strerror(set.error().code()));
      }
      RelayUntilExit(registration->listen_fd(), veil_link.get(), record.owner,
                     forked->sentry);
      const int status = ExitStatusOfSentry(forked->sentry);
      if (pending && !pending->Finish()) return status == 0 ? kExitSetupFailed : status;
      return status;
    }
    // The sentry: the socket, the state and the image's place are veil's.
    if (pending) pending->LeaveToVeil();
    registration->CloseListener();
    registration->Abandon();
    veil_link.reset();
    if (Result<void> mounts = sentry::ConfineSentryMounts(); !mounts) {
      std::fprintf(stderr, "veil do: cannot confine the sentry: %s: %s\n",
                   mounts.error().message() ? mounts.error().message() : "",
                   std::strerror(mounts.error().code()));
      return kExitSetupFailed;
    }
    const sentry::FilterMode mode = sentry::FilterModeFromEnvironment();
    const int fifo_dir = options.twins ? options.twins->fifo_dir_fd() : -1;
    options.before_serving = [mode, fifo_dir] {
      return sentry::InstallSentryFilter(mode, fifo_dir);
    };
  } else {
    // Unconfined (tests): veil is the sentry, and relays to itself.
    (void)registration->SetSentry(getpid());
    relay.emplace(registration->listen_fd(), std::move(veil_link),
                  record.owner);
  }
  RefPtr<vfs::Filesystem> upper;
  RefPtr<overlay::OverlayFs> overlay = MakeRootfs(
      dir_st, gofers[0], restore_fd.get(), restore_img, &upper);
  if (!overlay) return kExitSetupFailed;
  restore_fd.reset();
  options.snapshot_layer = upper;
  vfs::Vfs vfs{Ref<overlay::OverlayFs>(*overlay)};
  overlay = nullptr;
  MountTmp(vfs);
  if (!MountBinds(vfs, binds, gofers)) return kExitSetupFailed;
  if (Result<void> dev = sentry::MountDev(vfs); !dev) {
    std::fprintf(stderr, "veil do: cannot make the sandbox's /dev: %s\n",
                 std::strerror(dev.error().code()));
    return kExitSetupFailed;
  }
  const int status = RunSandbox(vfs, options);
  if (pending) {
    // Every task is gone: the layer is at rest. veil (or, unconfined,
    // this process) checks the image and puts it in place.
    pending->Write(upper);
    if (confinement != sentry::Confinement::kConfined && !pending->Finish())
      return status == 0 ? kExitSetupFailed : status;
  }
  return status;
}

}  // namespace veil::tools
