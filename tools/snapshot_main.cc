// SPDX-License-Identifier: Apache-2.0
//
// `veil snapshot` and `veil restore` on plain host directories.
//
// The verbs take a host directory: `snapshot` writes the image straight
// from the host files, `restore` verifies the image and then applies it
// straight into an empty host directory (tools/snapshot_host.h); the
// library code is the one a sandbox's upper layer (a veil tmpfs) goes
// through.
#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.h"
#include "overlay/snapshot/snapshot.h"
#include "tools/snapshot_cli.h"
#include "tools/snapshot_host.h"
#include "tools/verbs.h"

namespace veil::tools {
namespace {

constexpr const char kSnapshotHelp[] =
    "usage: veil snapshot [--chunk-size BYTES] DIR IMG\n"
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
    "IMG is written under a temporary name and renamed when complete.\n"
    "Progress is shown when stderr is a terminal. Format: overlay/FORMAT.md.\n"
    "\n"
    "Exit status: 0 written, 1 failed (nothing left at IMG), 2 usage.\n";

constexpr const char kRestoreHelp[] =
    "usage: veil restore [--no-space-check] IMG DIR\n"
    "       veil restore --verify IMG\n"
    "\n"
    "Checks every byte of IMG (header, trailer, manifest and every chunk's\n"
    "checksum, size and content hash) before anything is written; a damaged\n"
    "image is refused with a message naming the damaged part, and DIR is\n"
    "left as it was. Then writes the tree into DIR, which must be empty or\n"
    "missing (it is created). DIR itself gets the snapshot root's mode,\n"
    "owner, times and xattrs. As non-root, chown to other users, device\n"
    "nodes and trusted.* xattrs are refused by the host: they are skipped\n"
    "with a warning. veil holds one descriptor per directory of the tree\n"
    "until the end (it raises its RLIMIT_NOFILE as far as it may).\n"
    "\n"
    "Before writing anything, restore also refuses an image that DIR's\n"
    "filesystem cannot hold: more file data than its free space (statvfs;\n"
    "deduplicated chunks count each time a file uses them), a file larger\n"
    "than its largest (ext4: 16 TiB), directories nested deeper than the\n"
    "descriptor limit allows; and any image past Linux's limits (device\n"
    "numbers, 65000 links, xattr sizes; overlay/FORMAT.md, \"Limits\").\n"
    "\n"
    "  --verify          only check IMG; write nothing.\n"
    "  --no-space-check  restore even when the image's file data exceeds\n"
    "                    the free space (say, for a filesystem that\n"
    "                    compresses or deduplicates).\n"
    "\n"
    "Exit status: 0 restored (or verified); 1 damaged image, failure, or\n"
    "operations skipped as above; 2 usage.\n";

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

// True if `dir` holds nothing but "." and ".." (false if unreadable).
bool IsEmptyDir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return false;
  bool empty = true;
  while (dirent* e = readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") {
      empty = false;
      break;
    }
  }
  closedir(d);
  return empty;
}

}  // namespace

int RunSnapshot(int argc, char** argv) {
  std::vector<std::string> args;
  snapshot::WriteOptions options;
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
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Fail("snapshot", dir + ": not a directory");

  RaiseFdLimit();
  auto source = HostSource(dir);
  if (!source) return Fail("snapshot", Explain(source.error()));

  // Written under a temporary name, renamed once complete: IMG is never a
  // partial image.
  const std::string partial = img + ".partial." + std::to_string(getpid());
  UniqueFd fd(
      open(partial.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644));
  if (!fd) return Fail("snapshot", partial + ": " + std::strerror(errno));
  snapshot::FdSink sink(fd.get());
  snapshot::SnapshotResult<snapshot::WriteStats> stats =
      snapshot::SnapshotError{};
  {
    TtyProgress progress("snapshot", "writing");
    options.progress = progress.Fn();
    stats = snapshot::WriteImage(**source, sink, options);
  }
  if (stats && fsync(fd.get()) != 0)
    stats = snapshot::FromErrno(Errno::FromErrno(), "writing " + partial);
  if (stats && rename(partial.c_str(), img.c_str()) != 0)
    stats = snapshot::FromErrno(Errno::FromErrno(), "renaming to " + img);
  if (!stats) {
    unlink(partial.c_str());
    return Fail("snapshot", Explain(stats.error()));
  }
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
  SpaceCheck space = SpaceCheck::kRefuseBeyondFreeSpace;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kRestoreHelp, stdout);
      return 0;
    }
    if (a == "--verify") {
      verify_only = true;
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

  // Check the target before the (long) verification, not after.
  bool created = false;
  if (!verify_only) {
    const std::string& dir = args[1];
    struct stat st;
    if (stat(dir.c_str(), &st) != 0) {
      if (errno != ENOENT || mkdir(dir.c_str(), 0700) != 0)
        return Fail("restore", dir + ": " + std::strerror(errno));
      created = true;
    } else if (!S_ISDIR(st.st_mode)) {
      return Fail("restore", dir + ": not a directory");
    } else if (!IsEmptyDir(dir)) {
      return Fail("restore", dir +
                                 ": not empty; restore writes only into an "
                                 "empty or missing directory");
    }
  }
  auto cleanup = [&] {
    if (created) rmdir(args[1].c_str());
  };

  UniqueFd fd(open(img.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return cleanup(), Fail("restore", img + ": " + std::strerror(errno));
  auto source = snapshot::FdSource::Create(fd.get());
  if (!source)
    return cleanup(), Fail("restore", img + ": " + source.error().message);
  // What DIR can hold, checked with the manifest, before the (long)
  // verification; the descriptor limit first, as the depth depends on it.
  RaiseFdLimit();
  const snapshot::ImageLimits limits =
      verify_only ? snapshot::ImageLimits{} : RestoreLimits(args[1], space);
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

  uint64_t skipped = 0;
  auto target = HostTarget(args[1], &skipped);
  if (!target) return cleanup(), Fail("restore", Explain(target.error()));
  TtyProgress progress("restore", "writing");
  auto applied = (*image).Apply(**target, progress.Fn());
  progress.Finish();
  if (!applied) return Fail("restore", Explain(applied.error()));
  if (skipped)
    std::fprintf(stderr,
                 "veil restore: %llu operations refused by the host were "
                 "skipped (not root?)\n",
                 static_cast<unsigned long long>(skipped));
  std::printf("%s: restored %llu entries, %.1f MiB of data\n", args[1].c_str(),
              static_cast<unsigned long long>(applied->entries),
              MiB(applied->data_bytes));
  return skipped ? 1 : 0;
}

}  // namespace veil::tools
