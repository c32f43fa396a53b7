// SPDX-License-Identifier: Apache-2.0
//
// OpenRestoreDir: finds, checks and opens (or creates) the directory that
// `veil restore IMG DIR` writes into (snapshot_host.h).
//
// DIR is resolved here rather than by open(2), one component at a time
// with O_NOFOLLOW: a symlink on the way is followed only when the caller
// or root owns it, since its owner can point it anywhere at any moment
// (root restoring into /srv/shared/out, where another user planted
// out -> /root/.ssh, would otherwise write there and then chown and chmod
// that directory to the image root's owner and mode). Every directory is
// held by a descriptor as soon as it is reached, so nothing resolved can
// be swapped afterwards; a directory made here is removed through its
// parent's descriptor, never by path.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <utility>

#include "tools/snapshot_host.h"

namespace veil::tools {
namespace {

// Linux's limit on symlinks followed in one resolution (ELOOP past it).
constexpr int kMaxLinks = 40;

// Pushes the components of `path` ("" and "." dropped) to the front of
// `parts`, in order.
void PushFront(std::deque<std::string>* parts, std::string_view path) {
  std::deque<std::string> mine;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view part = path.substr(pos, slash - pos);
    if (!part.empty() && part != ".") mine.emplace_back(part);
    pos = slash + 1;
  }
  parts->insert(parts->begin(), mine.begin(), mine.end());
}

struct Walked {
  UniqueFd dir;     // O_PATH of the directory DIR names, if it exists
  UniqueFd parent;  // else: O_PATH of its parent...
  std::string name;  // ...and the missing last name there
};

// Resolves `path` as described above. `why` receives the reason for a
// refusal that is not a plain errno.
Result<Walked> Walk(const std::string& path, SharedTarget shared,
                    std::string* why) {
  if (path.empty()) return Errno(ENOENT);
  const uid_t euid = geteuid();
  std::deque<std::string> parts;
  PushFront(&parts, path);
  UniqueFd cur(open(path[0] == '/' ? "/" : ".",
                    O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!cur) return Errno::FromErrno();
  int links = 0;
  while (!parts.empty()) {
    std::string part = std::move(parts.front());
    parts.pop_front();
    UniqueFd next(
        openat(cur.get(), part.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!next) {
      // Only the last component may be missing: it is created.
      if (errno == ENOENT && parts.empty())
        return Walked{UniqueFd(), std::move(cur), std::move(part)};
      return Errno::FromErrno();
    }
    struct stat st;
    if (fstat(next.get(), &st) != 0) return Errno::FromErrno();
    if (S_ISDIR(st.st_mode)) {
      cur = std::move(next);
      continue;
    }
    if (!S_ISLNK(st.st_mode)) return Errno(ENOTDIR);
    if (++links > kMaxLinks) return Errno(ELOOP);
    if (shared == SharedTarget::kRefuse && st.st_uid != euid &&
        st.st_uid != 0) {
      *why = "the symlink " + snapshot::Escape(part) + " on its way belongs "
             "to uid " + std::to_string(st.st_uid) +
             ", who could point it elsewhere while the restore runs "
             "(--force to follow it)";
      return Errno(EPERM);
    }
    std::string target(PATH_MAX, '\0');
    ssize_t n = readlinkat(next.get(), "", target.data(), target.size());
    if (n < 0) return Errno::FromErrno();
    target.resize(static_cast<size_t>(n));
    if (!target.empty() && target[0] == '/') {
      cur.reset(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!cur) return Errno::FromErrno();
    }
    PushFront(&parts, target);
  }
  return Walked{std::move(cur), UniqueFd(), std::string()};
}

}  // namespace

void RestoreDir::RemoveCreated() {
  if (parent) unlinkat(parent.get(), name.c_str(), AT_REMOVEDIR);
}

snapshot::SnapshotResult<RestoreDir> OpenRestoreDir(const std::string& dir,
                                                    SharedTarget shared) {
  std::string why;
  Result<Walked> walked = Walk(dir, shared, &why);
  if (!walked) {
    if (!why.empty())
      return snapshot::SnapshotError{walked.error().code(), dir + ": " + why};
    return snapshot::FromErrno(walked.error(), dir);
  }
  RestoreDir target;
  if (walked->dir) {
    target.fd.reset(openat(walked->dir.get(), ".",
                           O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  } else {
    if (mkdirat(walked->parent.get(), walked->name.c_str(), 0700) != 0)
      return snapshot::FromErrno(Errno::FromErrno(), "creating " + dir);
    target.parent = std::move(walked->parent);
    target.name = std::move(walked->name);
    target.fd.reset(openat(target.parent.get(), target.name.c_str(),
                           O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  }
  auto refuse = [&](int code, const std::string& reason) {
    target.RemoveCreated();
    return snapshot::SnapshotError{code, dir + ": " + reason};
  };
  if (!target.fd) return refuse(errno, std::strerror(errno));
  struct stat st;
  if (fstat(target.fd.get(), &st) != 0)
    return refuse(errno, std::strerror(errno));
  const uid_t euid = geteuid();
  if (target.created() && st.st_uid != euid)
    return refuse(ESTALE, "replaced by another user's directory as it was "
                          "created");
  if (shared == SharedTarget::kRefuse) {
    // With an ACL, the group bits are its mask, which caps every named
    // user's and group's write: so the mode alone tells.
    if (st.st_uid != euid && st.st_uid != 0)
      return refuse(EPERM,
                    "owned by uid " + std::to_string(st.st_uid) +
                        ", who could replace entries while the restore "
                        "runs as another user (--force to restore anyway)");
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
      return refuse(EPERM,
                    "writable by its group or by others, who could "
                    "replace entries while the restore runs (--force to "
                    "restore anyway)");
  }
  auto empty = internal::IsEmptyDir(target.fd.get());
  if (!empty)
    return refuse(empty.error().code(), std::strerror(empty.error().code()));
  if (!*empty)
    return refuse(ENOTEMPTY,
                  "not empty; restore writes only into an empty or missing "
                  "directory");
  return target;
}

}  // namespace veil::tools
