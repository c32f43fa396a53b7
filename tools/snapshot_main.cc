// SPDX-License-Identifier: Apache-2.0
//
// `veil snapshot` and `veil restore` on plain host directories.
//
// The verbs take a host directory: `snapshot` writes the image straight
// from the host files, `restore` verifies the image and then applies it
// straight into an empty host directory (tools/snapshot_host.h); the
// library code is the one a sandbox's upper layer (a veil tmpfs) goes
// through.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/unique_fd.h"
#include "overlay/snapshot/snapshot.h"
#include "tools/snapshot_cli.h"
#include "tools/sandbox_registry.h"
#include "tools/snapshot_host.h"
#include "tools/verbs.h"

namespace veil::tools {
namespace {

constexpr const char kSnapshotHelp[] =
    "usage: veil snapshot [--chunk-size BYTES] DIR IMG\n"
    "       veil snapshot [--root DIR] SANDBOX IMG\n"
    "\n"
    "Writes the tree under host directory DIR to the image file IMG: file\n"
    "data in chunks of BYTES (default 262144; 4096 to 4194304), each LZ4-\n"
    "compressed unless that does not help, identical chunks stored once,\n"
    "holes not stored; every chunk and the manifest checksummed (XXH3).\n"
    "\n"
    "Kept: directories, regular files, symlinks, hard links, device nodes,\n"
    "FIFOs, sockets, mode, owner, atime and mtime (ns), and xattrs in the\n"
    "user., trusted. and security. namespaces. Not kept: ctime, birth time,\n"
    "inode numbers, system.* xattrs such as ACLs (a warning names them).\n"
    "Symlinks are not followed; filesystems mounted under DIR are kept as\n"
    "empty directories. Compression runs on one thread per CPU.\n"
    "IMG is written with mode 0600 (DIR may hold files only their owners\n"
    "may read) under a temporary name, IMG.partial.PID, and renamed when\n"
    "complete; SIGINT, SIGTERM or SIGHUP stops the write and removes it,\n"
    "and those left by writers that were killed are removed. Progress is\n"
    "shown when stderr is a terminal. Format: overlay/FORMAT.md.\n"
    "\n"
    "SANDBOX (a name veil ps shows; when no directory of that name is in\n"
    "the way) snapshots a running sandbox's changes to its rootfs (the\n"
    "overlay's upper layer) while it runs: its sentry holds every call and\n"
    "stops every task (a ptrace stop its processes do not see) for as\n"
    "long as it writes the image, so IMG is one consistent state; the\n"
    "tasks then go on. `veil do --restore IMG` starts a sandbox from it.\n"
    "Only root and the sandbox's owner may. --root DIR: the runtime\n"
    "directory (default /run/veil).\n"
    "\n"
    "Exit status: 0 written, 1 failed (nothing left at IMG), 2 usage.\n";

constexpr const char kRestoreHelp[] =
    "usage: veil restore [--keep-privileged] [--force] [--no-space-check] "
    "IMG DIR\n"
    "       veil restore --verify IMG\n"
    "\n"
    "Checks every byte of IMG (header, trailer, manifest and every chunk's\n"
    "checksum, size and content hash) before anything is written; a damaged\n"
    "image is refused with a message naming the damaged part, and DIR is\n"
    "left as it was. Then writes the tree into DIR, which must be empty or\n"
    "missing (it is created). DIR itself gets the snapshot root's mode,\n"
    "owner, times and xattrs. Every entry is created without following a\n"
    "symlink and its metadata set through its own descriptor, so nobody\n"
    "can redirect the restore; DIR is refused if a user other than the\n"
    "caller and root could change entries in it (its owner, or write\n"
    "permission for its group or others), and DIR's path is followed\n"
    "through no symlink that another user owns. As non-root, chown to other\n"
    "users, device nodes and trusted.* xattrs are refused by the host:\n"
    "they are skipped with a warning. veil holds one descriptor per\n"
    "directory of the tree until the end (it raises its RLIMIT_NOFILE as\n"
    "far as it may).\n"
    "\n"
    "Before writing anything, restore also refuses an image that DIR's\n"
    "filesystem cannot hold: more file data than its free space (statvfs;\n"
    "deduplicated chunks count each time a file uses them), a file larger\n"
    "than its largest (ext4: 16 TiB), more directories than the\n"
    "descriptor limit allows, less 64 (each keeps a descriptor until the\n"
    "end, side by side or nested); and any image past Linux's limits (device\n"
    "numbers, 65000 links, xattr sizes; overlay/FORMAT.md, \"Limits\").\n"
    "\n"
    "By default what could give a user privileges on the host is left out,\n"
    "and said: setuid and setgid bits of files, file capabilities\n"
    "(security.capability) and device nodes (not the 0:0 character\n"
    "devices that are overlay whiteouts).\n"
    "\n"
    "  --keep-privileged  restore those too.\n"
    "  --force            restore into a DIR others can write, or through\n"
    "                     their symlinks.\n"
    "  --verify           only check IMG; write nothing.\n"
    "  --no-space-check   restore even when the image's file data exceeds\n"
    "                     DIR's free space (say, onto a filesystem that\n"
    "                     compresses or deduplicates).\n"
    "\n"
    "Exit status: 0 restored (or verified), privileged entries left out\n"
    "as above included; 1 damaged image, failure, or operations the host\n"
    "refused; 2 usage.\n";

int Fail(const char* verb, const std::string& message) {
  std::fprintf(stderr, "veil %s: %s\n", verb, message.c_str());
  return 1;
}

int Usage(const char* verb, const char* what, const char* help) {
  std::fprintf(stderr, "veil %s: %s\n%.*s(see veil %s --help)\n", verb, what,
               static_cast<int>(std::strchr(help, '\n') - help + 1), help,
               verb);
  return 2;
}

// Set by SIGINT, SIGTERM or SIGHUP while `veil snapshot` writes: the
// write stops and the temporary file is removed. Lock-free, so a handler
// may set it.
std::atomic<bool> g_cancel{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void Cancel(int) { g_cancel.store(true, std::memory_order_relaxed); }

}  // namespace

// SANDBOX IMG: the sandbox's sentry writes the image into a file we made
// (IMG.partial.PID) and pass it over the control socket; it is renamed
// once the sentry says it is whole.
int SnapshotSandbox(const std::string& root, const std::string& name,
                    const std::string& img) {
  if (auto writable = CheckImageWritable(img); !writable)
    return Fail("snapshot", writable.error().message);
  SweepStalePartials(img);
  const std::string partial = PartialName(img);
  UniqueFd fd(open(partial.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                   0600));
  if (!fd) return Fail("snapshot", partial + ": " + std::strerror(errno));
  std::atomic<bool> done{false};
  std::thread shown([&] {
    TtyProgress progress("snapshot", "writing");
    snapshot::ProgressFn update = progress.Fn();
    while (!done.load()) {
      struct stat st;
      if (fstat(fd.get(), &st) == 0)
        update(snapshot::Progress{static_cast<uint64_t>(st.st_size), 0, 0, 0});
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  Result<std::string> reply = AskSandbox(root, name, "SNAPSHOT", nullptr,
                                         fd.get(), /*timeout_ms=*/-1);
  done.store(true);
  shown.join();
  if (!reply) {
    unlink(partial.c_str());
    const int e = reply.error().code();
    return Fail("snapshot",
                "sandbox " + name + ": " +
                    (e == ENOENT ? std::string("no such sandbox (see veil ps)")
                     : e == EACCES
                         ? std::string("permission denied (only root and the "
                                       "sandbox's owner may)")
                     : e == ECONNREFUSED ? std::string("it is not running")
                     : e == EBUSY
                         ? std::string("its calls did not come to rest; try again")
                     : e == ETIMEDOUT
                         ? std::string("its tasks did not stop; try again")
                         : std::string(std::strerror(e))));
  }
  // The sentry wrote it: checked whole before it takes IMG's place.
  if (auto whole = VerifyImageFd(fd.get(), img); !whole) {
    unlink(partial.c_str());
    return Fail("snapshot", "sandbox " + name + ": not saved: " +
                                whole.error().message);
  }
  if (fsync(fd.get()) != 0 || rename(partial.c_str(), img.c_str()) != 0) {
    const int e = errno;
    unlink(partial.c_str());
    return Fail("snapshot", img + ": " + std::strerror(e));
  }
  UniqueFd dir(open(DirOf(img).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir) (void)fsync(dir.get());
  std::map<std::string, unsigned long long> figures;
  std::istringstream in(*reply);
  std::string key;
  unsigned long long value;
  while (in >> key >> value) figures[key] = value;
  std::printf("%s: %llu entries, %.1f MiB of data in a %.1f MiB image "
              "(sandbox %s, while it ran)\n",
              img.c_str(), figures["entries"],
              MiB(figures["data_bytes"]), MiB(figures["image_bytes"]),
              name.c_str());
  return 0;
}

int RunSnapshot(int argc, char** argv) {
  std::vector<std::string> args;
  snapshot::WriteOptions options;
  std::string runtime_root = kDefaultRuntimeRoot;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kSnapshotHelp, stdout);
      return 0;
    }
    if (a == "--chunk-size" && i + 1 < argc) {
      char* end = nullptr;
      unsigned long v = std::strtoul(argv[++i], &end, 10);
      if (*end != '\0' || v < snapshot::kMinChunkSize ||
          v > snapshot::kMaxChunkSize)
        return Usage("snapshot", "--chunk-size must be 4096..4194304",
                     kSnapshotHelp);
      options.chunk_size = static_cast<uint32_t>(v);
    } else if (a == "--root" && i + 1 < argc) {
      runtime_root = argv[++i];
    } else if (a.starts_with("-") && a != "-") {
      return Usage("snapshot", "unknown option", kSnapshotHelp);
    } else {
      args.emplace_back(a);
    }
  }
  if (args.size() != 2)
    return Usage("snapshot", "expected DIR and IMG", kSnapshotHelp);
  const std::string& dir = args[0];
  const std::string& img = args[1];
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 && errno == ENOENT &&
      ValidSandboxName(dir))
    return SnapshotSandbox(runtime_root, dir, img);
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Fail("snapshot", dir + ": not a directory");

  RaiseFdLimit();
  auto source = HostSource(dir);
  if (!source) return Fail("snapshot", Explain(source.error()));

  struct sigaction sa = {};
  sa.sa_handler = Cancel;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
  ImageFileOptions file_options;
  file_options.write = options;
  file_options.cancel = &g_cancel;
  file_options.mode = 0600;
  snapshot::SnapshotResult<snapshot::WriteStats> stats =
      snapshot::SnapshotError{};
  {
    TtyProgress progress("snapshot", "writing");
    file_options.write.progress = progress.Fn();
    stats = WriteImageFile(**source, img, file_options);
  }
  if (!stats) return Fail("snapshot", stats.error().message);
  for (const std::string& skipped : stats->skipped_xattrs)
    std::fprintf(stderr, "veil snapshot: warning: xattr %s not kept\n",
                 skipped.c_str());
  if (stats->xattrs_skipped)
    std::fprintf(stderr,
                 "veil snapshot: %llu xattrs an image cannot keep (system.*, "
                 "say) were left out\n",
                 static_cast<unsigned long long>(stats->xattrs_skipped));
  std::printf(
      "%s: %llu entries, %.1f MiB of data in a %.1f MiB image "
      "(%llu chunks stored, %llu referenced)\n",
      img.c_str(), static_cast<unsigned long long>(stats->entries),
      MiB(stats->data_bytes), MiB(stats->image_bytes),
      static_cast<unsigned long long>(stats->chunks),
      static_cast<unsigned long long>(stats->chunk_refs));
  return 0;
}

int RunRestore(int argc, char** argv) {
  std::vector<std::string> args;
  bool verify_only = false;
  Privileged privileged = Privileged::kStrip;
  SharedTarget shared = SharedTarget::kRefuse;
  SpaceCheck space = SpaceCheck::kRefuseBeyondFreeSpace;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kRestoreHelp, stdout);
      return 0;
    }
    if (a == "--verify") {
      verify_only = true;
    } else if (a == "--keep-privileged") {
      privileged = Privileged::kKeep;
    } else if (a == "--force") {
      shared = SharedTarget::kAccept;
    } else if (a == "--no-space-check") {
      space = SpaceCheck::kIgnore;
    } else if (a.starts_with("-")) {
      return Usage("restore", "unknown option", kRestoreHelp);
    } else {
      args.emplace_back(a);
    }
  }
  if (args.size() != (verify_only ? 1u : 2u))
    return Usage("restore",
                 verify_only ? "expected IMG" : "expected IMG and DIR",
                 kRestoreHelp);
  const std::string& img = args[0];

  // The target is checked before the (long) verification, not after, and
  // opened once: from here on it is only reached through this descriptor.
  RestoreDir target;
  if (!verify_only) {
    auto opened = OpenRestoreDir(args[1], shared);
    if (!opened) return Fail("restore", opened.error().message);
    target = std::move(*opened);
  }
  auto cleanup = [&] { target.RemoveCreated(); };

  UniqueFd fd(open(img.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return cleanup(), Fail("restore", img + ": " + std::strerror(errno));
  auto source = snapshot::FdSource::Create(fd.get());
  if (!source)
    return cleanup(), Fail("restore", img + ": " + source.error().message);
  // What DIR can hold, checked with the manifest, before the (long)
  // verification; the descriptor limit first, as the depth depends on it.
  RaiseFdLimit();
  const snapshot::ImageLimits limits =
      verify_only ? snapshot::ImageLimits{}
                  : RestoreLimits(target.fd.get(), args[1], space);
  auto image = snapshot::Image::Open(*source, limits);
  if (!image)
    return cleanup(), Fail("restore", img + ": " + image.error().message);
  {
    TtyProgress progress("restore", "verifying");
    auto verified = image->Verify(progress.Fn());
    if (!verified)
      return cleanup(), Fail("restore", img + ": " + verified.error().message);
  }
  if (verify_only) {
    std::printf("%s: ok (%zu entries, %.1f MiB of data, %zu chunks)\n",
                img.c_str(), image->manifest().entries.size(),
                MiB(image->DataBytes()), image->manifest().chunks.size());
    return 0;
  }

  RestoreReport report;
  auto host = HostTarget(std::move(target.fd), args[1], privileged, &report);
  TtyProgress progress("restore", "writing");
  auto applied = (*image).Apply(*host, progress.Fn());
  progress.Finish();
  if (!applied) return Fail("restore", Explain(applied.error()));
  if (report.stripped)
    std::fprintf(stderr,
                 "veil restore: %llu setuid/setgid bits, file capabilities "
                 "and device nodes were left out (--keep-privileged "
                 "restores them)\n",
                 static_cast<unsigned long long>(report.stripped));
  if (report.skipped)
    std::fprintf(stderr,
                 "veil restore: %llu operations refused by the host were "
                 "skipped (not root?)\n",
                 static_cast<unsigned long long>(report.skipped));
  std::printf("%s: restored %llu entries, %.1f MiB of data\n", args[1].c_str(),
              static_cast<unsigned long long>(applied->entries),
              MiB(applied->data_bytes));
  return report.skipped ? 1 : 0;
}

}  // namespace veil::tools
