// SPDX-License-Identifier: Apache-2.0
//
// `veil fuse`: mounts a veil filesystem on a host directory through FUSE.
// This file parses the command line and serves the single-filesystem
// modes (--tmpfs, --gofer); fuse_rootfs.cc serves --rootfs and --image,
// fuse_serve.cc runs the session.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gofer/client/gofer_fs.h"
#include "gofer/client/gofer_process.h"
#include "lisafs/channel.h"
#include "lisafs/client.h"
#include "tools/sandbox_registry.h"
#include "tools/fuse/fuse_modes.h"
#include "tools/fuse/fuse_serve.h"
#include "tools/snapshot_cli.h"
#include "tools/verbs.h"
#include "vfs/tmpfs/file_store.h"
#include "vfs/tmpfs/tmpfs.h"
#include "vfs/vfs.h"

namespace veil::tools {
namespace {

constexpr const char kUsage[] =
    "usage: veil fuse [OPTS] [--self-backed DIR] --tmpfs MNT\n"
    "       veil fuse [OPTS] --gofer DIR MNT\n"
    "       veil fuse [OPTS] [--self-backed DIR] --rootfs DIR\n"
    "                 [--restore IMG [--max-expanded SIZE]]\n"
    "                 [--snapshot-out IMG] MNT\n"
    "       veil fuse [OPTS] [--self-backed DIR] [--max-expanded SIZE]\n"
    "                 [--image] IMG MNT\n"
    "       veil fuse [OPTS] [--rw] [--root DIR] SANDBOX MNT\n"
    "OPTS: [-f] [-d] [-s] [--dcache N]\n";

constexpr const char kHelp[] =
    "\n"
    "Mounts a veil filesystem on the directory MNT through FUSE, so that\n"
    "ordinary tools (ls, cp, tar, find, diff) work on veil's VFS. Every\n"
    "request is served by the VFS with the caller's uid, gid, supplementary\n"
    "groups and umask, and the VFS checks every permission; the kernel\n"
    "checks them too (default_permissions), on the attributes the VFS\n"
    "reports, so errors come in Linux's order. Inode numbers are the\n"
    "VFS's. Where the mount is the VFS's only writer (--tmpfs, --rootfs,\n"
    "--image) the kernel keeps attributes and directories' names (it\n"
    "updates them itself on every change made through the mount); other\n"
    "names are looked up each time, and everything is asked for each time\n"
    "with --gofer and SANDBOX, whose trees others change too. File data is\n"
    "cached, and stays cached from one open to the next except with --gofer\n"
    "and SANDBOX.\n"
    "\n"
    "  --tmpfs MNT       serve a new, empty veil tmpfs, held in this "
    "process's\n"
    "                    memory (or --self-backed) and gone when it is\n"
    "                    unmounted. Its root is owned by the invoking\n"
    "                    user's uid and gid, mode 0755, as a directory that\n"
    "                    user had just made.\n"
    "  --gofer DIR MNT   serve host directory DIR through veil's gofer: a\n"
    "                    confined `veil gofer` child serves DIR over LISAFS\n"
    "                    and the VFS sees it through the gofer client, so\n"
    "                    what MNT shows is exactly what a sandbox would see.\n"
    "                    The gofer needs root. DIR stays shared with the\n"
    "                    host (gVisor's --file-access=shared): a name\n"
    "                    looked up before is checked against DIR again\n"
    "                    before it is used (one request for the cached\n"
    "                    part of a path), attributes are asked for on\n"
    "                    every stat and listings on every readdir, so\n"
    "                    files created, removed, renamed or replaced on the\n"
    "                    host show up at once; a file open in MNT keeps\n"
    "                    what it opened, as on Linux.\n"
    "  --rootfs DIR MNT  serve a sandbox's rootfs view of DIR: an overlay\n"
    "                    (Linux overlayfs semantics) of a new veil tmpfs\n"
    "                    over DIR, which a read-only gofer serves (needs\n"
    "                    root). DIR is never modified: every change lands\n"
    "                    in the tmpfs (this process's memory, or the file\n"
    "                    of --self-backed) and is gone at unmount unless\n"
    "                    --snapshot-out saves it.\n"
    "                    As with Linux overlayfs, DIR must not change while\n"
    "                    it is mounted: veil caches its names, attributes\n"
    "                    and listings without asking again, and what MNT\n"
    "                    shows of host changes made meanwhile is undefined.\n"
    "  --restore IMG     with --rootfs: start from a snapshot image of a\n"
    "                    previous session's changes. IMG is verified in\n"
    "                    full first; a damaged image is refused with a\n"
    "                    message naming the damaged part, and nothing is\n"
    "                    mounted. Its whiteouts and opaque directories hide\n"
    "                    DIR's files as they did when it was written.\n"
    "  --snapshot-out IMG  with --rootfs: when the mount ends cleanly\n"
    "                    (fusermount3 -u MNT, SIGINT, SIGTERM, SIGHUP),\n"
    "                    write the changes (the overlay's upper layer) to\n"
    "                    IMG, mode 0600, under a temporary name in IMG's\n"
    "                    directory, fsync'd and renamed: IMG is whole or as\n"
    "                    it was. A second signal meanwhile cancels it. IMG\n"
    "                    may be the --restore image. Detached (no -f), the\n"
    "                    image is written after the unmount returns: wait\n"
    "                    for the veil process to exit; the outcome goes to\n"
    "                    syslog, as nobody sees its stderr any more.\n"
    "                    IMG's directory is checked up front by creating\n"
    "                    the temporary file there. Should writing IMG still\n"
    "                    fail at the end (its disk full, say), the changes\n"
    "                    are written to $TMPDIR (else /var/tmp)/veil-\n"
    "                    recovery-PID.img instead, and the message says so.\n"
    "                    SIGUSR1 to the veil process writes IMG the same way\n"
    "                    while mounted: requests are paused meanwhile (after\n"
    "                    a syncfs of MNT), so the image is one consistent\n"
    "                    state, then the session goes on.\n"
    "  [--image] IMG MNT browse a snapshot image without a rootfs: IMG is\n"
    "                    verified, unpacked into a veil tmpfs and mounted\n"
    "                    read-only (changes fail with EROFS). MNT shows the\n"
    "                    upper layer's raw content: whiteouts are 0:0\n"
    "                    character devices, opaque directories carry the\n"
    "                    trusted.overlay.opaque xattr (visible to root).\n"
    "  --max-expanded SIZE  with --image or --restore: refuse (before\n"
    "                    unpacking anything) an image whose file data is\n"
    "                    larger than SIZE (bytes, or with a K, M, G or T\n"
    "                    suffix). The size counts a deduplicated chunk\n"
    "                    each time a file uses it, so a small image can\n"
    "                    expand to far more. Default: half the physical\n"
    "                    memory, or with --self-backed, the free space of\n"
    "                    its DIR's filesystem.\n"
    "  --self-backed DIR  with --tmpfs, --rootfs or --image: keep the\n"
    "                    tmpfs's file data in one unnamed file in host\n"
    "                    directory DIR (on its disk) instead of this\n"
    "                    process's memory, for more data than memory holds\n"
    "                    (gVisor: --overlay2=root:self). The host's page\n"
    "                    cache keeps what is hot. Nothing stays in DIR: the\n"
    "                    file has no name and goes when veil exits, and\n"
    "                    deleting files gives their space back at once. A\n"
    "                    full disk fails writes with ENOSPC, as a full\n"
    "                    tmpfs does.\n"
    "  --dcache N        keep at most N names cached per filesystem\n"
    "                    (default 16384). Names past it that nothing uses\n"
    "                    (no open file, no cwd) are evicted, least recently\n"
    "                    used first, and looked up again when next needed;\n"
    "                    the kernel is asked to forget the mount's nodes past\n"
    "                    N too (it looks them up again). veil's memory then\n"
    "                    stays bounded however many files are walked (a few\n"
    "                    hundred bytes per name, and for --gofer and --rootfs\n"
    "                    one gofer FDID each), at the cost of lookups again\n"
    "                    for what was evicted.\n"
    "  SANDBOX MNT       mount a running sandbox's live view: its whole\n"
    "                    mount tree from its root (the rootfs overlay, /tmp,\n"
    "                    binds, its /proc and /dev), served by the sandbox's\n"
    "                    own sentry over LISAFS. What its tasks write shows\n"
    "                    at once (names, attributes and listings are asked\n"
    "                    for each time). Read-only (EROFS) unless --rw;\n"
    "                    with --rw, what is written in MNT is what the\n"
    "                    sandbox sees. Only root and the sandbox's owner may\n"
    "                    (see veil ps for the names).\n"
    "  --rw              with SANDBOX: a writable view.\n"
    "  --root DIR        with SANDBOX: the runtime directory (default\n"
    "                    /run/veil).\n"
    "  -f, --foreground  stay in the foreground (default: detach once MNT is\n"
    "                    mounted).\n"
    "  -d, --debug       print every FUSE request (implies -f).\n"
    "  -s                serve requests on one thread (default: several).\n"
    "  -h, --help        print this help.\n"
    "\n"
    "The mount is named fsname=veil, type fuse.veil-tmpfs (fuse.veil-gofer,\n"
    "fuse.veil-rootfs, fuse.veil-image, fuse.veil-sandbox). Run as root, it adds allow_other\n"
    "so that every user can use it (their own permissions apply). Unmount\n"
    "with `fusermount3 -u MNT` (or `umount MNT` as root), or send\n"
    "SIGINT/SIGTERM to the veil process. The veil tmpfs keeps small files\n"
    "in memory and gives each file past 1 MiB a host descriptor of its\n"
    "own (a memfd; none with --self-backed); veil raises RLIMIT_NOFILE.\n"
    "\n"
    "Exit status: 0 after a clean unmount (and the snapshot written), 1 if\n"
    "MNT cannot be mounted, an image is missing or damaged, the session\n"
    "fails or the snapshot cannot be written, 2 for a usage error or a\n"
    "mode that is not built yet.\n";

struct Options {
  ServeOptions serve;
  bool tmpfs = false;
  const char* gofer_dir = nullptr;
  const char* rootfs_dir = nullptr;
  const char* restore = nullptr;
  const char* snapshot_out = nullptr;
  const char* image = nullptr;
  const char* self_backed = nullptr;
  const char* max_expanded = nullptr;
  const char* dcache = nullptr;
  const char* runtime_root = nullptr;
  bool rw = false;
  std::vector<const char*> positional;
};

int UsageError(const std::string& what) {
  std::fprintf(stderr, "veil fuse: %s\n%s(see veil fuse --help)\n",
               what.c_str(), kUsage);
  return 2;
}

// `path` made absolute (without resolving symlinks), so that it still
// names the same file once a detached veil has changed its directory to
// "/". The file need not exist.
std::string Absolute(const char* path) {
  if (path[0] == '/') return path;
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) return path;
  return std::string(cwd) + "/" + path;
}

// Checks that `path`, given to `option`, is an existing directory (when
// `want_dir`) or regular file, and returns its canonical path; prints a
// message naming the option and returns std::nullopt otherwise.
enum class Want { kDirectory, kRegularFile };
std::optional<std::string> ExistingPath(const char* option, const char* path,
                                        Want want) {
  char resolved[PATH_MAX];
  struct stat st;
  if (!realpath(path, resolved) || stat(resolved, &st) != 0) {
    std::fprintf(stderr, "veil fuse: %s %s: %s\n", option, path,
                 std::strerror(errno));
    return std::nullopt;
  }
  if (want == Want::kDirectory && !S_ISDIR(st.st_mode)) {
    std::fprintf(stderr, "veil fuse: %s %s: %s\n", option, path,
                 std::strerror(ENOTDIR));
    return std::nullopt;
  }
  if (want == Want::kRegularFile && !S_ISREG(st.st_mode)) {
    std::fprintf(stderr, "veil fuse: %s %s: not a regular file\n", option,
                 path);
    return std::nullopt;
  }
  return std::string(resolved);
}

// --gofer DIR: a `veil gofer` child serves DIR over LISAFS and the VFS sees
// it through GoferFs. The lisafs client and GoferFs run threads, which a
// fork does not carry over, so this detaches *before* building anything
// (see fuse_serve.h).
int ServeGofer(const ServeOptions& options, const std::string& dir,
               const std::string& mountpoint) {
  UniqueFd ready;  // the detached child's end: one byte once mounted
  if (std::optional<int> status = DetachBeforeThreads(options, &ready))
    return *status;
  // Declared first, destroyed last: the Vfs goes before the filesystem's
  // connection, which goes before the gofer (whose destructor reaps it
  // once it sees the hang-up).
  std::optional<gofer::GoferProcess> process;
  gofer::GoferFsOptions fs_options;
  // DIR is a live host directory: others change it too.
  fs_options.access = gofer::FileAccess::kShared;
  auto fs =
      ConnectGofer(dir, gofer::GoferAccess::kReadWrite, fs_options,
                   ready ? GoferStdio::kRelay : GoferStdio::kInherit, &process);
  if (!fs) return 1;
  ServeOptions serve_options = options;
  serve_options.foreground = true;  // detached above already, if at all
  vfs::Vfs vfs(std::move(*fs));
  ServeHooks hooks;
  hooks.on_mounted = [&] { ReleaseParent(ready); };
  return Serve(vfs, mountpoint, serve_options, "veil-gofer", hooks);
}

// SANDBOX MNT: the sandbox's sentry serves its Vfs over a LISAFS channel
// (sentry/control/vfs_backend.h) that GoferFs sees as it sees a gofer's:
// a tree others change (kShared). The channel is asked for before
// detaching, so a refusal reaches the terminal.
int ServeSandbox(const ServeOptions& options, const std::string& root,
                 const std::string& name, bool rw,
                 const std::string& mountpoint) {
  UniqueFd channel_fd;
  Result<std::string> reply =
      AskSandbox(root, name, rw ? "VIEW rw" : "VIEW ro", &channel_fd);
  if (!reply || !channel_fd) {
    const int e = reply ? EPROTO : reply.error().code();
    std::fprintf(stderr, "veil fuse: sandbox %s: %s\n", name.c_str(),
                 e == ENOENT ? "no such sandbox (see veil ps)"
                 : e == EACCES
                     ? "permission denied (only root and the sandbox's owner "
                       "may mount it)"
                 : e == ECONNREFUSED ? "it is not running"
                                     : std::strerror(e));
    return 1;
  }
  UniqueFd ready;
  if (std::optional<int> status = DetachBeforeThreads(options, &ready))
    return *status;
  Result<lisafs::Channel> channel = lisafs::Channel::Adopt(std::move(channel_fd));
  Result<std::unique_ptr<lisafs::Client>> client =
      channel ? lisafs::Client::Create(std::move(*channel))
              : Result<std::unique_ptr<lisafs::Client>>(channel.error());
  if (!client) {
    std::fprintf(stderr, "veil fuse: sandbox %s did not serve its view: %s\n",
                 name.c_str(), std::strerror(client.error().code()));
    return 1;
  }
  // A channel per CPU, each served on its CPU by the sentry.
  (*client)->OpenCpuLanes(15);
  gofer::GoferFsOptions fs_options;
  fs_options.access = gofer::FileAccess::kShared;  // its tasks change it
  auto fs = gofer::GoferFs::Create(std::move(*client), fs_options);
  if (!fs) {
    std::fprintf(stderr, "veil fuse: cannot use sandbox %s's view: %s\n",
                 name.c_str(), std::strerror(fs.error().code()));
    return 1;
  }
  ServeOptions serve_options = options;
  serve_options.foreground = true;  // detached above already, if at all
  serve_options.read_only = !rw;
  serve_options.synthetic = true;  // its /proc
  vfs::Vfs vfs(std::move(*fs));
  ServeHooks hooks;
  hooks.on_mounted = [&] { ReleaseParent(ready); };
  return Serve(vfs, mountpoint, serve_options, "veil-sandbox", hooks);
}

}  // namespace

int RunFuse(int argc, char** argv) {
  Options opt;
  // Options that take a value: the flag and where the value goes.
  const std::pair<std::string_view, const char**> valued[] = {
      {"--gofer", &opt.gofer_dir}, {"--rootfs", &opt.rootfs_dir},
      {"--restore", &opt.restore}, {"--snapshot-out", &opt.snapshot_out},
      {"--image", &opt.image},         {"--self-backed", &opt.self_backed},
      {"--max-expanded", &opt.max_expanded}, {"--dcache", &opt.dcache},
      {"--root", &opt.runtime_root},
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    const char** value = nullptr;
    for (const auto& [name, slot] : valued)
      if (arg == name) value = slot;
    if (value) {
      if (++i == argc) return UsageError(std::string(arg) + " needs a value");
      *value = argv[i];
    } else if (arg == "-h" || arg == "--help") {
      std::printf("%s%s", kUsage, kHelp);
      return 0;
    } else if (arg == "-f" || arg == "--foreground") {
      opt.serve.foreground = true;
    } else if (arg == "-d" || arg == "--debug") {
      opt.serve.debug = true;
    } else if (arg == "-s") {
      opt.serve.single_thread = true;
    } else if (arg == "--tmpfs") {
      opt.tmpfs = true;
    } else if (arg == "--rw") {
      opt.rw = true;
    } else if (arg.size() > 1 && arg[0] == '-') {
      return UsageError("unknown option '" + std::string(arg) + "'");
    } else {
      opt.positional.push_back(argv[i]);
    }
  }

  if (opt.dcache) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long n = std::strtoull(opt.dcache, &end, 10);
    if (errno != 0 || end == opt.dcache || *end != '\0' || n == 0 ||
        opt.dcache[0] == '-' || n > (1ull << 32))
      return UsageError("--dcache needs a number of names from 1 to 2^32");
    opt.serve.dcache = static_cast<size_t>(n);
  }
  if (opt.restore && !opt.rootfs_dir)
    return UsageError("--restore IMG needs --rootfs DIR");
  if (opt.snapshot_out && !opt.rootfs_dir)
    return UsageError("--snapshot-out IMG needs --rootfs DIR");

  // `veil fuse IMG MNT` (DESIGN.md's form) is --image when IMG is a file;
  // anything else there would name a sandbox.
  int modes = opt.tmpfs + !!opt.gofer_dir + !!opt.rootfs_dir + !!opt.image;
  if (modes == 0 && opt.positional.size() == 2) {
    struct stat st;
    if (stat(opt.positional[0], &st) != 0 || !S_ISREG(st.st_mode)) {
      // Not an image file: a sandbox's name.
      if (!ValidSandboxName(opt.positional[0])) {
        std::fprintf(stderr,
                     "veil fuse: %s is neither an image file nor a sandbox's "
                     "name\n",
                     opt.positional[0]);
        return 2;
      }
      std::optional<std::string> mnt =
          ExistingPath("cannot mount on", opt.positional[1], Want::kDirectory);
      if (!mnt) return 1;
      return ServeSandbox(opt.serve,
                          opt.runtime_root ? opt.runtime_root
                                           : kDefaultRuntimeRoot,
                          opt.positional[0], opt.rw, *mnt);
    }
    opt.image = opt.positional[0];
    opt.positional.erase(opt.positional.begin());
    modes = 1;
  }
  if (opt.rw || opt.runtime_root)
    return UsageError("--rw and --root are for a sandbox's view (SANDBOX MNT)");
  if (modes == 0)
    return UsageError(
        "say what to mount (--tmpfs, --gofer DIR, --rootfs DIR or --image "
        "IMG)");
  if (modes > 1)
    return UsageError("--tmpfs, --gofer, --rootfs and --image are exclusive");
  if (opt.positional.size() != 1)
    return UsageError("expected exactly one mount point");
  if (opt.self_backed && opt.gofer_dir)
    return UsageError("--self-backed DIR is for the tmpfs of --tmpfs, "
                      "--rootfs and --image, not --gofer");
  std::optional<uint64_t> max_expanded;
  if (opt.max_expanded) {
    if (!opt.image && !opt.restore)
      return UsageError("--max-expanded SIZE is for --image and --restore");
    max_expanded = ParseSize(opt.max_expanded);
    if (!max_expanded)
      return UsageError("--max-expanded: not a size: " +
                        std::string(opt.max_expanded));
  }

  // Check MNT here for a clear message; libfuse's would be terser. The
  // absolute path also lets the daemonized process (cwd "/") unmount it.
  std::optional<std::string> mnt =
      ExistingPath("cannot mount on", opt.positional[0], Want::kDirectory);
  if (!mnt) return 1;

  // The store exists before anything is mounted, so a bad DIR is reported
  // here, on the caller's terminal.
  std::shared_ptr<vfs::tmpfs::FileStore> store;
  std::string store_dir;
  if (opt.self_backed) {
    auto dir =
        ExistingPath("--self-backed", opt.self_backed, Want::kDirectory);
    if (!dir) return 1;
    auto created = vfs::tmpfs::FileStore::Create(*dir);
    if (!created) {
      std::fprintf(stderr,
                   "veil fuse: --self-backed %s: cannot create the store "
                   "file there: %s\n",
                   dir->c_str(), std::strerror(created.error().code()));
      return 1;
    }
    store = std::move(*created);
    store_dir = *dir;
  }
  const snapshot::ImageLimits limits = TmpfsLimits(max_expanded, store_dir);

  if (opt.gofer_dir) {
    auto dir = ExistingPath("--gofer", opt.gofer_dir, Want::kDirectory);
    return dir ? ServeGofer(opt.serve, *dir, *mnt) : 1;
  }
  if (opt.image) {
    auto img = ExistingPath("--image", opt.image, Want::kRegularFile);
    return img ? ServeImage(opt.serve, *img, std::move(store), limits, *mnt)
               : 1;
  }
  if (opt.rootfs_dir) {
    RootfsOptions rootfs;
    auto dir = ExistingPath("--rootfs", opt.rootfs_dir, Want::kDirectory);
    if (!dir) return 1;
    rootfs.dir = *dir;
    if (opt.restore) {
      auto img = ExistingPath("--restore", opt.restore, Want::kRegularFile);
      if (!img) return 1;
      rootfs.restore = *img;
    }
    if (opt.snapshot_out) {
      rootfs.snapshot_out = Absolute(opt.snapshot_out);
      // Now, not after the session: its changes would be lost.
      auto writable = CheckImageWritable(rootfs.snapshot_out);
      if (!writable) {
        std::fprintf(stderr, "veil fuse: --snapshot-out %s\n",
                     writable.error().message.c_str());
        return 1;
      }
    }
    rootfs.store = std::move(store);
    rootfs.limits = limits;
    return ServeRootfs(opt.serve, rootfs, *mnt);
  }

  vfs::tmpfs::TmpfsOptions tmpfs_opts;
  tmpfs_opts.root_mode = 0755;
  tmpfs_opts.root_uid = getuid();
  tmpfs_opts.root_gid = getgid();
  tmpfs_opts.store = std::move(store);
  vfs::Vfs vfs(vfs::tmpfs::Tmpfs::Create(tmpfs_opts));
  opt.serve.exclusive = true;  // nothing else reaches this tmpfs
  return Serve(vfs, *mnt, opt.serve, "veil-tmpfs");
}

}  // namespace veil::tools
