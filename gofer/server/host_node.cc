// SPDX-License-Identifier: Apache-2.0
#include "gofer/server/host_node.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace veil::gofer {

Result<UniqueFd> OpenBeneath(int dirfd, const char* name, int flags,
                             mode_t mode) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags) | O_CLOEXEC | O_NOFOLLOW;
  how.mode = (flags & O_CREAT) != 0 ? mode : 0;
  // RESOLVE_BENEATH: ".." or an absolute symlink cannot leave dirfd (EXDEV).
  // RESOLVE_NO_MAGICLINKS: /proc/self/fd/N-style links are refused (ELOOP).
  // RESOLVE_NO_XDEV: no mount point is crossed (EXDEV).
  // RESOLVE_NO_SYMLINKS: nothing is ever followed; a trailing symlink with
  // O_PATH|O_NOFOLLOW still yields the link itself.
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV |
                RESOLVE_NO_SYMLINKS;
  long fd;
  do {
    fd = ::syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return Errno::FromErrno();
  return UniqueFd(static_cast<int>(fd));
}

Result<UniqueFd> OpenEntry(int dirfd, const char* name, int flags) {
  Result<UniqueFd> opened = OpenBeneath(dirfd, name, flags);
  if (!opened && opened.error().code() == EXDEV) return Errno(EACCES);
  return opened;
}

Result<struct statx> StatAt(int dirfd, const char* name) {
  struct statx st = {};
  const int flags = AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT |
                    (name[0] == '\0' ? AT_EMPTY_PATH : 0);
  if (::statx(dirfd, name, flags, STATX_BASIC_STATS | STATX_BTIME, &st) != 0) {
    return Errno::FromErrno();
  }
  return st;
}

Result<struct statx> StatFd(int fd) { return StatAt(fd, ""); }

InodeKey KeyOf(const struct statx& st) {
  return InodeKey{makedev(st.stx_dev_major, st.stx_dev_minor), st.stx_ino};
}

lisafs::Statx ToLisafs(const struct statx& st) {
  auto time = [](const struct statx_timestamp& t) {
    return lisafs::Timestamp{t.tv_sec, t.tv_nsec};
  };
  lisafs::Statx out;
  out.mask = st.stx_mask & lisafs::kStatxAll;
  out.blksize = st.stx_blksize;
  out.attributes = st.stx_attributes;
  out.nlink = st.stx_nlink;
  out.uid = st.stx_uid;
  out.gid = st.stx_gid;
  out.mode = st.stx_mode;
  out.ino = st.stx_ino;
  out.size = st.stx_size;
  out.blocks = st.stx_blocks;
  out.attributes_mask = st.stx_attributes_mask;
  out.atime = time(st.stx_atime);
  out.btime = time(st.stx_btime);
  out.ctime = time(st.stx_ctime);
  out.mtime = time(st.stx_mtime);
  out.rdev_major = st.stx_rdev_major;
  out.rdev_minor = st.stx_rdev_minor;
  out.dev_major = st.stx_dev_major;
  out.dev_minor = st.stx_dev_minor;
  return out;
}

Result<void> CheckName(std::string_view name) {
  if (name.size() > lisafs::kMaxNameLength) return Errno(ENAMETOOLONG);
  if (!lisafs::IsSafeName(name)) return Errno(EINVAL);
  return Ok();
}

// ---- HostNode ----

namespace {
// Parents whose release the outermost ~HostNode on this thread will finish
// (ReleaseParent); null when no node is being destroyed on this thread.
thread_local std::vector<std::shared_ptr<HostNode>>* releasing = nullptr;
}  // namespace

HostNode::~HostNode() {
  table_->Forget(key_, fd_ != nullptr);
  ReleaseParent(std::move(parent_));
}

void HostNode::ReleaseParent(std::shared_ptr<HostNode> parent) {
  if (parent == nullptr) return;
  if (releasing != nullptr) {
    // Inside a node's destructor that an outer ReleaseParent runs: queue
    // the parent instead of destroying it in this frame, or a chain of
    // N directories would take N nested destructors (a client can make N
    // as large as it likes; 200,000 overflowed the stack).
    releasing->push_back(std::move(parent));
    return;
  }
  std::vector<std::shared_ptr<HostNode>> pending;
  pending.push_back(std::move(parent));
  releasing = &pending;
  while (!pending.empty()) {
    std::shared_ptr<HostNode> next = std::move(pending.back());
    pending.pop_back();
    next.reset();  // if it was the last owner, its parent joins `pending`
  }
  releasing = nullptr;
}

std::shared_ptr<HostNode> HostNode::parent() const {
  MutexLock lock(mu_);
  return parent_;
}

bool HostNode::has_fd() const {
  MutexLock lock(mu_);
  return fd_ != nullptr;
}

Result<void> HostNode::SetLocation(std::shared_ptr<HostNode> parent,
                                   std::string name) {
  if (parent == nullptr) return Ok();
  {
    // Walked again from where it already is (the common case): only the
    // name may be new, and no parent link changes.
    MutexLock lock(mu_);
    if (parent_ == parent) {
      name_ = std::move(name);
      return Ok();
    }
  }
  // Only directories are parents, so only a directory's move can close a
  // loop. Its check and its change are one step under the table's rename
  // mutex: two renames through two channels, each checked before the
  // other changed anything, would otherwise both pass (A into B and B
  // into A) and link A -> B -> A.
  auto relink = [&] {
    MutexLock lock(mu_);
    parent_.swap(parent);
    name_ = std::move(name);
    removed_ = false;
  };
  if (is_dir()) {
    MutexLock rename(table_->rename_mu_);
    // O(depth of `parent`), as Linux's rename checks for a loop. Only host
    // processes moving directories behind our back (or a stale update
    // after them) could make a directory's new parent its own descendant;
    // a cycle of parent links would never be freed and would make
    // reopening loop. Bounded all the same: a walk longer than the table
    // holds nodes is going round a loop.
    const size_t bound = table_->WalkBound();
    size_t steps = 0;
    for (std::shared_ptr<HostNode> up = parent; up != nullptr;
         up = up->parent()) {
      if (up.get() == this) return Ok();  // ignored (host_node.h)
      if (++steps > bound) return Errno(ESTALE);
    }
    if (loop_checked_for_test_ != nullptr) loop_checked_for_test_();
    relink();
  } else {
    relink();
  }
  // The old parent is released after the locks are dropped: its destructor
  // takes the table's lock.
  ReleaseParent(std::move(parent));
  return Ok();
}

void HostNode::Removed(const HostNode& dir, std::string_view name) {
  std::shared_ptr<HostNode> old;
  {
    MutexLock lock(mu_);
    if (parent_.get() != &dir || name_ != name || fd_ == nullptr) return;
    old.swap(parent_);
    name_.clear();
    removed_ = true;  // the budget may close it now (SweepLocked)
  }
  ReleaseParent(std::move(old));  // after the lock (see above)
}

Result<HostNode::PathFd> HostNode::Fd() const {
  used_.store(true, std::memory_order_relaxed);
  {
    MutexLock lock(mu_);
    if (fd_ != nullptr) return fd_;
  }
  // Closed to stay within the budget: the location leads back to it.
  return ReopenChain();
}

Result<HostNode::PathFd> HostNode::ReopenChain() const {
  // A rename through the gofer may move a node of the chain while we walk
  // it (OpenBelow says EAGAIN); start again from the top a few times.
  for (int attempt = 0; attempt < 8; ++attempt) {
    // Up: the closed ancestors, nearest first, until one is open. The root
    // (no parent) is never closed, so this ends there at the latest; a
    // node without a location that is closed cannot be reached: ESTALE.
    // More closed ancestors than the table holds nodes: the links go round
    // a loop (SetLocation prevents one; this walk must end regardless).
    const size_t bound = table_->WalkBound();
    std::vector<std::shared_ptr<const HostNode>> closed;
    std::shared_ptr<const HostNode> up = parent();
    PathFd open_dir;
    while (true) {
      if (up == nullptr || closed.size() > bound) return Errno(ESTALE);
      up->used_.store(true, std::memory_order_relaxed);
      {
        MutexLock lock(up->mu_);
        open_dir = up->fd_;
      }
      if (open_dir != nullptr) break;
      std::shared_ptr<const HostNode> next = up->parent();
      closed.push_back(std::move(up));
      up = std::move(next);
    }
    // Down: each node opened through its parent's descriptor, which stays
    // pinned until the child has its own.
    const HostNode* parent_of_next = up.get();
    Result<PathFd> got = Errno(ESTALE);
    bool moved = false;
    for (size_t i = closed.size() + 1; i-- > 0;) {
      const HostNode& next = i == 0 ? *this : *closed[i - 1];
      got = next.OpenBelow(parent_of_next, *open_dir);
      if (!got) {
        moved = got.error().code() == EAGAIN;
        break;
      }
      open_dir = *got;
      parent_of_next = &next;
    }
    if (!moved) return got;
  }
  return Errno(ESTALE);
}

Result<HostNode::PathFd> HostNode::OpenBelow(const HostNode* expected_parent,
                                             const UniqueFd& dir) const {
  std::string name;
  {
    MutexLock lock(mu_);
    if (fd_ != nullptr) return fd_;  // another thread was faster
    if (parent_.get() != expected_parent) return Errno(EAGAIN);
    name = name_;
  }
  UniqueFd fd = VEIL_TRY(OpenIn(dir.get(), name, O_PATH));
  bool installed = false;
  return InstallPinned(std::move(fd), &installed);
}

HostNode::PathFd HostNode::InstallPinned(UniqueFd fd, bool* installed) const {
  PathFd pinned;
  {
    MutexLock lock(mu_);
    *installed = fd_ == nullptr;
    if (*installed) fd_ = std::make_shared<const UniqueFd>(std::move(fd));
    pinned = fd_;  // else `fd` closes: ours is a duplicate
  }
  if (*installed) table_->Admit(weak_from_this());
  return pinned;
}

bool HostNode::Install(UniqueFd fd) const {
  bool installed = false;
  InstallPinned(std::move(fd), &installed);
  return installed;
}

HostNode::Sweep HostNode::SweepLocked() const {
  MutexLock lock(mu_);
  if (fd_ == nullptr) return Sweep::kNoFd;
  if (used_.exchange(false, std::memory_order_relaxed)) return Sweep::kSpared;
  // Pinned by a caller, or impossible to open again and needed (the root):
  // kept. A removed node cannot be opened again either, but is closed all
  // the same, its FDIDs ESTALE from then on: otherwise a client could pin
  // a descriptor per name it walks to and removes, past the budget.
  // (Copies of fd_ are only made under mu_, so a count of 1 is exact.)
  if (fd_.use_count() > 1 || (parent_ == nullptr && !removed_))
    return Sweep::kSpared;
  fd_.reset();  // close(2) under the lock, as the header allows
  return Sweep::kClosed;
}

Result<UniqueFd> HostNode::OpenAtLocation(int flags) const {
  std::shared_ptr<HostNode> parent;
  std::string name;
  {
    MutexLock lock(mu_);
    parent = parent_;
    name = name_;
  }
  if (parent == nullptr) return Errno(ESTALE);
  PathFd dir = VEIL_TRY(parent->Fd());
  return OpenIn(dir->get(), name, flags);
}

Result<UniqueFd> HostNode::OpenIn(int dir, const std::string& name,
                                  int flags) const {
  // A name that became a mount point is EACCES, as for a lookup.
  Result<UniqueFd> opened = OpenEntry(dir, name.c_str(), flags);
  if (!opened) {
    // The name is gone or is now a symlink: the inode is not reachable.
    if (opened.error().code() == ENOENT || opened.error().code() == ELOOP) {
      return Errno(ESTALE);
    }
    return opened.error();
  }
  struct statx st = VEIL_TRY(StatFd(opened->get()));
  if (KeyOf(st) != key_) return Errno(ESTALE);  // Another file by now.
  return opened;
}

Result<UniqueFd> HostNode::Reopen(int flags) const {
  if (type_ == S_IFLNK) return Errno(ELOOP);  // open(2) with O_NOFOLLOW.
  const bool truncate = (flags & O_TRUNC) != 0;
  const int accmode = flags & O_ACCMODE;
  if (is_dir()) {
    // "." names the directory itself: no name can be swapped under us.
    PathFd fd = VEIL_TRY(Fd());
    return OpenBeneath(fd->get(), ".", flags | O_DIRECTORY);
  }
  // O_NONBLOCK: if the name was swapped for a FIFO, opening it must not
  // hang this thread. It is cleared again below for everything but FIFOs,
  // which the gofer never lets block (a client cannot make it wait on a
  // writer that may never come).
  UniqueFd opened =
      VEIL_TRY(OpenAtLocation((flags & ~O_TRUNC) | O_NONBLOCK));
  if ((flags & O_NONBLOCK) == 0 && type_ != S_IFIFO) {
    const int fl = ::fcntl(opened.get(), F_GETFL);
    if (fl < 0 || ::fcntl(opened.get(), F_SETFL, fl & ~O_NONBLOCK) != 0) {
      return Errno::FromErrno();
    }
  }
  if (truncate && accmode != O_RDONLY && type_ == S_IFREG) {
    if (::ftruncate(opened.get(), 0) != 0) return Errno::FromErrno();
  }
  return opened;
}

// ---- NodeTable ----

Result<std::shared_ptr<HostNode>> NodeTable::Intern(
    UniqueFd fd, const struct statx& st, std::shared_ptr<HostNode> parent,
    std::string name) {
  const InodeKey key = KeyOf(st);
  std::shared_ptr<HostNode> node;
  bool created = false;
  {
    MutexLock lock(mu_);
    auto it = nodes_.find(key);
    if (it != nodes_.end()) node = it->second.lock();
    if (node == nullptr) {
      // Each node keeps its parent alive, so one FDID on the deepest of a
      // chain of directories pins the whole chain: without this bound a
      // client could pin any amount of memory with one FDID.
      // (An expired slot still counts until its node's Forget; close
      // enough for a bound.)
      if (max_nodes_ != 0 && it == nodes_.end() && nodes_.size() >= max_nodes_)
        return Errno(ENFILE);
      node.reset(new HostNode(shared_from_this(), std::move(fd),
                              st.stx_mode & S_IFMT, key));
      // A new node has no descendants yet, so no cycle check is needed
      // (SetLocation's walk up would make walking down a chain of N
      // directories cost O(N^2)). Set before anyone else can see it.
      {
        MutexLock node_lock(node->mu_);
        node->parent_ = std::move(parent);
        node->name_ = std::move(name);
      }
      nodes_[key] = node;
      created = true;
    }
  }
  if (!created)
    VEIL_TRY_VOID(node->SetLocation(std::move(parent), std::move(name)));
  if (created) {
    Admit(node);
  } else {
    // A node whose descriptor was closed takes this one, which is already
    // known to be the same inode; otherwise it is closed here.
    node->Install(std::move(fd));
  }
  return node;
}

Result<OpenFileSlot> NodeTable::ReserveOpenFile() {
  size_t taken = open_files_.fetch_add(1, std::memory_order_relaxed);
  if (max_open_files_ != 0 && taken >= max_open_files_) {
    open_files_.fetch_sub(1, std::memory_order_relaxed);
    return Errno(ENFILE);
  }
  return OpenFileSlot(shared_from_this());
}

size_t NodeTable::open_files() {
  return open_files_.load(std::memory_order_relaxed);
}

OpenFileSlot::~OpenFileSlot() {
  if (table_ != nullptr)
    table_->open_files_.fetch_sub(1, std::memory_order_relaxed);
}

void NodeTable::Admit(std::weak_ptr<const HostNode> node) {
  // Nodes looked at by the sweep are released after the lock (declared
  // first, destroyed last): a destructor takes the lock.
  std::vector<std::shared_ptr<const HostNode>> seen;
  MutexLock lock(mu_);
  ++open_;
  clock_.push_back(std::move(node));
  // Entries of nodes that died are dropped by sweeps, which run only past
  // the budget: prune them here too, or a table under budget would grow
  // with every node ever made.
  if (clock_.size() > 2 * open_ + 64)
    std::erase_if(clock_, [](const auto& w) { return w.expired(); });
  if (max_open_ == 0) return;
  // Every entry is looked at most twice: once to spare it, once to close.
  for (size_t steps = 2 * clock_.size(); open_ > max_open_ && steps > 0 &&
                                         !clock_.empty();
       --steps) {
    std::weak_ptr<const HostNode> entry = std::move(clock_.front());
    clock_.pop_front();
    std::shared_ptr<const HostNode> n = entry.lock();
    if (n == nullptr) continue;  // gone: its destructor counted it out
    seen.push_back(n);
    switch (n->SweepLocked()) {
      case HostNode::Sweep::kClosed:
        --open_;
        break;
      case HostNode::Sweep::kSpared:
        clock_.push_back(std::move(entry));
        break;
      case HostNode::Sweep::kNoFd:
        break;  // a stale entry; a newer one exists if it reopened
    }
  }
}

std::shared_ptr<HostNode> NodeTable::Find(const InodeKey& key) {
  MutexLock lock(mu_);
  auto it = nodes_.find(key);
  return it == nodes_.end() ? nullptr : it->second.lock();
}

size_t NodeTable::WalkBound() {
  MutexLock lock(mu_);
  return nodes_.size();
}

size_t NodeTable::size() {
  MutexLock lock(mu_);
  return nodes_.size();
}

size_t NodeTable::open_fds() {
  MutexLock lock(mu_);
  return open_;
}

void NodeTable::Forget(const InodeKey& key, bool had_fd) {
  MutexLock lock(mu_);
  if (had_fd) --open_;
  auto it = nodes_.find(key);
  // A newer node for the same inode may have taken the slot already.
  if (it != nodes_.end() && it->second.expired()) nodes_.erase(it);
}

}  // namespace veil::gofer
