// SPDX-License-Identifier: Apache-2.0
//
// `veil fuse`: mounts a veil filesystem on a host directory through FUSE.
// The session lifecycle follows libfuse's low-level examples: session new,
// signal handlers, mount, daemonize, loop, then unwind in reverse.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/logging.h"
#include "base/unique_fd.h"
#include "gofer/client/gofer_fs.h"
#include "gofer/client/gofer_process.h"
#include "lisafs/client.h"
#include "tools/fuse/fuse_adapter.h"
#include "tools/verbs.h"
#include "vfs/tmpfs/tmpfs.h"
#include "vfs/vfs.h"

namespace veil::tools {
namespace {

constexpr const char kUsage[] =
    "usage: veil fuse [-f] [-d] [-s] --tmpfs MNT\n"
    "       veil fuse [-f] [-d] [-s] --gofer DIR MNT\n"
    "       veil fuse SANDBOX|IMG MNT      (not built yet)\n";

constexpr const char kHelp[] =
    "\n"
    "Mounts a veil filesystem on the directory MNT through FUSE, so that\n"
    "ordinary tools (ls, cp, tar, find, diff) work on veil's VFS. Every\n"
    "request is served by the VFS with the caller's uid, gid, supplementary\n"
    "groups and umask; the VFS makes every permission decision (the mount\n"
    "does not use the kernel's default_permissions). Inode numbers are the\n"
    "VFS's. Attributes and names are not cached by the kernel.\n"
    "\n"
    "  --tmpfs MNT       serve a new, empty veil tmpfs, held in this "
    "process's\n"
    "                    memory and gone when it is unmounted. Its root is\n"
    "                    owned by the invoking user's uid and gid, mode 0755,\n"
    "                    as a directory that user had just made.\n"
    "  --gofer DIR MNT   serve host directory DIR through veil's gofer: a\n"
    "                    confined `veil gofer` child serves DIR over LISAFS\n"
    "                    and the VFS sees it through the gofer client, so\n"
    "                    what MNT shows is exactly what a sandbox would see.\n"
    "                    The gofer needs root. DIR stays shared with the\n"
    "                    host: attributes are asked for again on every\n"
    "                    stat, so changes made on the host show up (names\n"
    "                    already looked up are not rechecked).\n"
    "  SANDBOX|IMG MNT   show a running sandbox's root or a snapshot image:\n"
    "                    not built yet (exits with status 2).\n"
    "  -f, --foreground  stay in the foreground (default: detach once MNT is\n"
    "                    mounted).\n"
    "  -d, --debug       print every FUSE request (implies -f).\n"
    "  -s                serve requests on one thread (default: several).\n"
    "  -h, --help        print this help.\n"
    "\n"
    "The mount is named fsname=veil, type fuse.veil-tmpfs (fuse.veil-gofer\n"
    "with --gofer). Run as root, it\n"
    "adds allow_other so that every user can use it (their own permissions\n"
    "apply). Unmount with `fusermount3 -u MNT` (or `umount MNT` as root), or\n"
    "send SIGINT/SIGTERM to the veil process.\n"
    "\n"
    "Exit status: 0 after a clean unmount, 1 if MNT cannot be mounted or the\n"
    "session fails, 2 for a usage error or a mode that is not built yet.\n";

struct Options {
  bool foreground = false;
  bool debug = false;
  bool single_thread = false;
  bool tmpfs = false;
  const char* gofer_dir = nullptr;
  std::vector<const char*> positional;
};

int UsageError(const char* what) {
  std::fprintf(stderr, "veil fuse: %s\n%s(see veil fuse --help)\n", what,
               kUsage);
  return 2;
}

// Mounts the already-built `vfs` on `mountpoint` and serves it until
// unmounted or signalled. `on_mounted` runs once the mount is in place,
// before detaching.
int Serve(
    vfs::Vfs& vfs, const std::string& mountpoint, const Options& opt,
    const char* subtype, const std::function<void()>& on_mounted = [] {}) {
  FuseAdapter adapter(vfs);
  std::string mount_opts = std::string("fsname=veil,subtype=") + subtype;
  // allow_other needs root (or user_allow_other in /etc/fuse.conf); without
  // it only the mounting user may enter the mount at all.
  if (geteuid() == 0) mount_opts += ",allow_other";
  std::vector<const char*> argv = {"veil-fuse", "-o", mount_opts.c_str()};
  if (opt.debug) argv.push_back("-d");
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()),
                                  const_cast<char**>(argv.data()));
  fuse_session* se = fuse_session_new(&args, &FuseAdapter::Ops(),
                                      sizeof(fuse_lowlevel_ops), &adapter);
  if (!se) {
    std::fprintf(stderr, "veil fuse: cannot create a FUSE session\n");
    return 1;
  }
  int status = 1;
  if (fuse_set_signal_handlers(se) != 0) {
    std::fprintf(stderr, "veil fuse: cannot install signal handlers\n");
  } else {
    if (fuse_session_mount(se, mountpoint.c_str()) != 0) {
      // libfuse has printed the kernel's or fusermount3's reason above.
      std::fprintf(stderr, "veil fuse: cannot mount on %s\n",
                   mountpoint.c_str());
    } else {
      VEIL_LOG(kInfo) << "veil fuse: serving " << subtype << " on "
                      << mountpoint;
      on_mounted();
      bool foreground = opt.foreground || opt.debug;
      if (fuse_daemonize(foreground ? 1 : 0) != 0) {
        std::fprintf(stderr, "veil fuse: cannot detach from the terminal\n");
      } else {
        int rc;
        if (opt.single_thread) {
          rc = fuse_session_loop(se);
        } else {
          fuse_loop_config* config = fuse_loop_cfg_create();
          fuse_loop_cfg_set_clone_fd(config, 0);
          rc = fuse_session_loop_mt(se, config);
          fuse_loop_cfg_destroy(config);
        }
        // A positive result is the signal that ended the loop (SIGINT,
        // SIGTERM, SIGHUP): a requested, clean stop. 0 is an unmount from
        // outside (fusermount3 -u).
        if (rc < 0) {
          std::fprintf(stderr, "veil fuse: session on %s failed: %s\n",
                       mountpoint.c_str(), std::strerror(-rc));
        } else {
          status = 0;
        }
      }
      fuse_session_unmount(se);
    }
    fuse_remove_signal_handlers(se);
  }
  fuse_session_destroy(se);
  fuse_opt_free_args(&args);
  return status;
}

// --gofer DIR: a `veil gofer` child serves DIR over LISAFS and the VFS sees
// it through GoferFs. The lisafs client and GoferFs run threads, which a
// fork does not carry over, so this detaches *before* building anything
// (fuse_daemonize, used for --tmpfs, forks after mounting): the parent
// waits until the child says the mount is in place, and until then the
// child's errors still reach the terminal.
int ServeGofer(const Options& opt, const std::string& mountpoint) {
  char dir[PATH_MAX];
  struct stat st;
  if (!realpath(opt.gofer_dir, dir) || stat(dir, &st) != 0) {
    std::fprintf(stderr, "veil fuse: --gofer %s: %s\n", opt.gofer_dir,
                 std::strerror(errno));
    return 1;
  }
  if (!S_ISDIR(st.st_mode)) {
    std::fprintf(stderr, "veil fuse: --gofer %s: %s\n", opt.gofer_dir,
                 std::strerror(ENOTDIR));
    return 1;
  }
  UniqueFd ready;  // the child's end: one byte once mounted
  if (!opt.foreground && !opt.debug) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      std::fprintf(stderr, "veil fuse: pipe: %s\n", std::strerror(errno));
      return 1;
    }
    UniqueFd read_end(fds[0]), write_end(fds[1]);
    pid_t pid = fork();
    if (pid < 0) {
      std::fprintf(stderr, "veil fuse: fork: %s\n", std::strerror(errno));
      return 1;
    }
    if (pid > 0) {
      write_end.reset();
      char byte;
      ssize_t n;
      do {
        n = read(read_end.get(), &byte, 1);
      } while (n < 0 && errno == EINTR);
      if (n == 1) return 0;
      // The child failed before mounting and said why on our stderr.
      int status = 0;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status)
                                                           : 1;
    }
    setsid();
    ready = std::move(write_end);
  }

  auto gofer =
      gofer::StartGofer("/proc/self/exe", dir, gofer::GoferAccess::kReadWrite);
  if (!gofer) {
    std::fprintf(stderr, "veil fuse: cannot start the gofer: %s\n",
                 std::strerror(gofer.error().code()));
    return 1;
  }
  auto channel = lisafs::Channel::Adopt(gofer->TakeSocket());
  Result<std::unique_ptr<lisafs::Client>> client =
      channel ? lisafs::Client::Create(std::move(*channel))
              : Result<std::unique_ptr<lisafs::Client>>(channel.error());
  if (!client) {
    // The gofer has printed its own reason (not root, say) above.
    std::fprintf(stderr, "veil fuse: the gofer for %s did not serve: %s\n", dir,
                 std::strerror(client.error().code()));
    return 1;
  }
  gofer::GoferFsOptions fs_options;
  // DIR is a live host directory: others change it too.
  fs_options.revalidate = true;
  auto fs = gofer::GoferFs::Create(std::move(*client), fs_options);
  if (!fs) {
    std::fprintf(stderr, "veil fuse: cannot use the gofer for %s: %s\n", dir,
                 std::strerror(fs.error().code()));
    return 1;
  }
  Options serve_opt = opt;
  serve_opt.foreground = true;  // detached above already, if at all
  // The Vfs goes before the filesystem's connection, which goes before
  // the gofer (whose destructor reaps it once it sees the hang-up).
  vfs::Vfs vfs(std::move(*fs));
  return Serve(vfs, mountpoint, serve_opt, "veil-gofer", [&] {
    if (!ready) return;
    // What fuse_daemonize does in its child, then release the parent.
    (void)!chdir("/");
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
      if (null > 2) close(null);
    }
    char byte = 1;
    (void)!write(ready.get(), &byte, 1);
    ready.reset();
  });
}

}  // namespace

int RunFuse(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::printf("%s%s", kUsage, kHelp);
      return 0;
    } else if (arg == "-f" || arg == "--foreground") {
      opt.foreground = true;
    } else if (arg == "-d" || arg == "--debug") {
      opt.debug = true;
    } else if (arg == "-s") {
      opt.single_thread = true;
    } else if (arg == "--tmpfs") {
      opt.tmpfs = true;
    } else if (arg == "--gofer") {
      if (++i == argc) return UsageError("--gofer needs a directory");
      opt.gofer_dir = argv[i];
    } else if (arg.size() > 1 && arg[0] == '-') {
      std::string msg = "unknown option '" + std::string(arg) + "'";
      return UsageError(msg.c_str());
    } else {
      opt.positional.push_back(argv[i]);
    }
  }
  if (opt.tmpfs && opt.gofer_dir)
    return UsageError("--tmpfs and --gofer are exclusive");
  if (!opt.tmpfs && !opt.gofer_dir && opt.positional.size() == 2) {
    std::fprintf(stderr,
                 "veil fuse: mounting a sandbox or image is not built yet "
                 "(planned with issue #3)\n");
    return 2;
  }
  if (!opt.tmpfs && !opt.gofer_dir)
    return UsageError("say what to mount (--tmpfs or --gofer DIR)");
  if (opt.positional.size() != 1)
    return UsageError(opt.tmpfs ? "--tmpfs takes exactly one mount point"
                                : "--gofer DIR takes exactly one mount point");

  // Check MNT here for a clear message; libfuse's would be terser. The
  // absolute path also lets the daemonized process (cwd "/") unmount it.
  const char* mnt = opt.positional[0];
  char resolved[PATH_MAX];
  struct stat st;
  if (!realpath(mnt, resolved) || stat(resolved, &st) != 0) {
    std::fprintf(stderr, "veil fuse: cannot mount on %s: %s\n", mnt,
                 std::strerror(errno));
    return 1;
  }
  if (!S_ISDIR(st.st_mode)) {
    std::fprintf(stderr, "veil fuse: cannot mount on %s: %s\n", mnt,
                 std::strerror(ENOTDIR));
    return 1;
  }

  if (opt.gofer_dir) return ServeGofer(opt, resolved);

  vfs::tmpfs::TmpfsOptions tmpfs_opts;
  tmpfs_opts.root_mode = 0755;
  tmpfs_opts.root_uid = getuid();
  tmpfs_opts.root_gid = getgid();
  vfs::Vfs vfs(vfs::tmpfs::Tmpfs::Create(tmpfs_opts));
  return Serve(vfs, resolved, opt, "veil-tmpfs");
}

}  // namespace veil::tools
