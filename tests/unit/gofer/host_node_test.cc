// SPDX-License-Identifier: Apache-2.0
//
// HostNode and NodeTable in-process: one node per inode, reopening through
// the remembered location, and never reopening a different file.
#include "gofer/server/host_node.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gofer/server/host_backend.h"
#include "tests/unit/gofer/gofer_test_util.h"

namespace veil::gofer {

class HostNodePeer {
 public:
  // Links `node` under `parent` without SetLocation's loop check: the
  // state only a bug, or the race the rename mutex closes, could make.
  static void ForceParent(HostNode& node, std::shared_ptr<HostNode> parent) {
    std::shared_ptr<HostNode> old;
    {
      std::lock_guard lock(node.mu_);
      old = std::exchange(node.parent_, std::move(parent));
    }
  }
  static std::shared_ptr<HostNode> Parent(const HostNode& node) {
    return node.parent();
  }
  // Runs `hook` in SetLocation between a directory's loop check and the
  // change of its parent.
  static void OnLoopChecked(void (*hook)()) {
    HostNode::loop_checked_for_test_ = hook;
  }
};

namespace testing {
namespace {

// Runs `fn` in a forked child that SIGALRM kills after `seconds`; its exit
// status, or -1 if it did not exit (a hang, a crash).
int InChild(int seconds, const std::function<int()>& fn) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(static_cast<unsigned>(seconds));
    ::_exit(fn());
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
    return -1;
  return WEXITSTATUS(status);
}

// The number of parent links from `node` up to the root, or -1 past 64 (a
// loop).
int Depth(std::shared_ptr<HostNode> node) {
  int depth = 0;
  for (; node != nullptr && depth <= 64; ++depth)
    node = HostNodePeer::Parent(*node);
  return depth > 64 ? -1 : depth;
}

class HostNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(scratch_.InRoot("f"), "contents");
    std::filesystem::create_directory(scratch_.InRoot("d"));
    root_fd_ = UniqueFd(
        ::open(scratch_.root().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_fd_.valid());
    struct statx st = VEIL_MUST(StatFd(root_fd_.get()));
    root_ = VEIL_MUST(table_->Intern(
        VEIL_MUST(OpenBeneath(root_fd_.get(), ".", O_PATH)), st, nullptr, ""));
  }

  std::shared_ptr<HostNode> Intern(const std::shared_ptr<HostNode>& dir,
                                   const char* name) {
    HostNode::PathFd at = VEIL_MUST(dir->Fd());
    UniqueFd fd = VEIL_MUST(OpenBeneath(at->get(), name, O_PATH));
    struct statx st = VEIL_MUST(StatFd(fd.get()));
    return VEIL_MUST(table_->Intern(std::move(fd), st, dir, name));
  }
  // Makes the table's budget `max_open` (the fixture's root is re-made).
  void UseBudget(size_t max_open) {
    root_.reset();
    table_ = NodeTable::Create(max_open);
    struct statx st = VEIL_MUST(StatFd(root_fd_.get()));
    root_ = VEIL_MUST(table_->Intern(
        VEIL_MUST(OpenBeneath(root_fd_.get(), ".", O_PATH)), st, nullptr, ""));
  }

  Scratch scratch_;
  std::shared_ptr<NodeTable> table_ = NodeTable::Create();
  UniqueFd root_fd_;
  std::shared_ptr<HostNode> root_;
};

TEST_F(HostNodeTest, OneNodePerInode) {
  auto a = Intern(root_, "f");
  auto b = Intern(root_, "f");
  EXPECT_EQ(a, b);
  EXPECT_EQ(table_->size(), 2u);  // root and f.
  a.reset();
  b.reset();
  EXPECT_EQ(table_->size(), 1u);  // Released with its last owner.
}

TEST_F(HostNodeTest, ReopenOpensTheSameInode) {
  auto f = Intern(root_, "f");
  UniqueFd fd = VEIL_MUST(f->Reopen(O_RDONLY));
  char buffer[16] = {};
  EXPECT_EQ(::read(fd.get(), buffer, sizeof(buffer)), 8);
  EXPECT_EQ(KeyOf(VEIL_MUST(StatFd(fd.get()))), f->key());
  // Not left non-blocking (Reopen opens with O_NONBLOCK for safety).
  EXPECT_EQ(::fcntl(fd.get(), F_GETFL) & O_NONBLOCK, 0);
  // A directory reopens through ".".
  auto d = Intern(root_, "d");
  UniqueFd dir = VEIL_MUST(d->Reopen(O_RDONLY | O_DIRECTORY));
  EXPECT_EQ(KeyOf(VEIL_MUST(StatFd(dir.get()))), d->key());
}

TEST_F(HostNodeTest, ReopenFollowsAnUpdatedLocation) {
  auto f = Intern(root_, "f");
  auto d = Intern(root_, "d");
  ASSERT_EQ(
      std::rename(scratch_.InRoot("f").c_str(), scratch_.InRoot("d/g").c_str()),
      0);
  EXPECT_EQ(ErrnoOf(f->Reopen(O_RDONLY)), ESTALE);
  ASSERT_TRUE(f->SetLocation(d, "g").has_value());
  EXPECT_TRUE(f->Reopen(O_RDONLY).has_value());
}

TEST_F(HostNodeTest, ReopenNeverTouchesASwappedInFile) {
  auto f = Intern(root_, "f");
  WriteFile(scratch_.InRoot("other"), "precious");
  ASSERT_EQ(std::rename(scratch_.InRoot("other").c_str(),
                        scratch_.InRoot("f").c_str()),
            0);
  EXPECT_EQ(ErrnoOf(f->Reopen(O_WRONLY | O_TRUNC)), ESTALE);
  EXPECT_EQ(ReadFile(scratch_.InRoot("f")), "precious");
  // A symlink swapped in is not followed either.
  ASSERT_EQ(::unlink(scratch_.InRoot("f").c_str()), 0);
  std::filesystem::create_symlink("/etc/passwd", scratch_.InRoot("f"));
  EXPECT_EQ(ErrnoOf(f->Reopen(O_RDONLY)), ESTALE);
}

TEST_F(HostNodeTest, SymlinksAreNeverOpened) {
  std::filesystem::create_symlink("f", scratch_.InRoot("l"));
  auto l = Intern(root_, "l");
  EXPECT_EQ(l->type(), static_cast<uint32_t>(S_IFLNK));
  EXPECT_EQ(ErrnoOf(l->Reopen(O_RDONLY)), ELOOP);
}

TEST_F(HostNodeTest, OpenBeneathStaysBeneath) {
  HostNode::PathFd root = VEIL_MUST(root_->Fd());
  EXPECT_EQ(ErrnoOf(OpenBeneath(root->get(), "..", O_PATH)), EXDEV);
  EXPECT_EQ(ErrnoOf(OpenBeneath(root->get(), "/etc", O_PATH)), EXDEV);
  EXPECT_EQ(ErrnoOf(CheckName("..")), EINVAL);
  EXPECT_EQ(ErrnoOf(CheckName("a/b")), EINVAL);
  EXPECT_EQ(ErrnoOf(CheckName(std::string(256, 'a'))), ENAMETOOLONG);
}

// The descriptor budget: idle nodes' descriptors are closed past it and
// opened again, by name, as the same inode.
TEST_F(HostNodeTest, BudgetClosesIdleNodesAndReopensThemByName) {
  UseBudget(4);
  std::filesystem::create_directories(scratch_.InRoot("d/e"));
  std::vector<std::shared_ptr<HostNode>> files;
  auto d = Intern(root_, "d");
  auto e = Intern(d, "e");
  for (int i = 0; i < 40; ++i) {
    std::string name = "f" + std::to_string(i);
    WriteFile(scratch_.InRoot("d/e/" + name), name);
    files.push_back(Intern(e, name.c_str()));
    EXPECT_LE(table_->open_fds(), 4u) << "after " << name;
  }
  EXPECT_EQ(table_->size(), 43u);  // nodes stay; descriptors go
  EXPECT_FALSE(d->has_fd());       // directories are closed too
  EXPECT_TRUE(root_->has_fd());    // the root cannot be found again
  for (int i = 0; i < 40; ++i) {
    HostNode::PathFd fd = VEIL_MUST(files[i]->Fd());  // via e, via d
    EXPECT_EQ(KeyOf(VEIL_MUST(StatFd(fd->get()))), files[i]->key());
    UniqueFd data = VEIL_MUST(files[i]->Reopen(O_RDONLY));
    char buffer[8] = {};
    EXPECT_GT(::read(data.get(), buffer, sizeof buffer), 0);
    EXPECT_EQ(std::string(buffer), "f" + std::to_string(i));
    EXPECT_LE(table_->open_fds(), 5u);  // this one is pinned meanwhile
  }
  files.clear();
  e.reset();
  d.reset();
  EXPECT_EQ(table_->size(), 1u);
  EXPECT_EQ(table_->open_fds(), 1u);  // the root's
}

TEST_F(HostNodeTest, BudgetNeverClosesAPinnedDescriptor) {
  UseBudget(2);
  auto f = Intern(root_, "f");
  HostNode::PathFd pinned = VEIL_MUST(f->Fd());
  std::vector<std::shared_ptr<HostNode>> others;
  for (int i = 0; i < 10; ++i) {
    std::string name = "g" + std::to_string(i);
    WriteFile(scratch_.InRoot(name), "x");
    others.push_back(Intern(root_, name.c_str()));
  }
  EXPECT_TRUE(f->has_fd());
  EXPECT_EQ(KeyOf(VEIL_MUST(StatFd(pinned->get()))), f->key());
}

// Threads walking, reopening and dropping nodes while the budget closes
// descriptors under them: every answer is still the right inode.
TEST_F(HostNodeTest, BudgetUnderConcurrentUse) {
  UseBudget(3);
  constexpr int kFiles = 24;
  std::filesystem::create_directory(scratch_.InRoot("d/sub"));
  for (int i = 0; i < kFiles; ++i)
    WriteFile(scratch_.InRoot("d/sub/f" + std::to_string(i)),
              std::to_string(i));
  auto d = Intern(root_, "d");
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::shared_ptr<HostNode>> held(kFiles);
      unsigned seed = static_cast<unsigned>(t) * 7919u + 1;
      for (int step = 0; step < 1500; ++step) {
        seed = seed * 1103515245u + 12345u;
        const int i = static_cast<int>((seed >> 8) % kFiles);
        const std::string name = "f" + std::to_string(i);
        switch ((seed >> 20) % 4) {
          case 0: {  // walk d/sub/fN again (d and sub may be closed)
            Result<HostNode::PathFd> dir = d->Fd();
            if (!dir) { ++failures; break; }
            UniqueFd sub_fd = VEIL_MUST(OpenBeneath((*dir)->get(), "sub",
                                                    O_PATH));
            struct statx st = VEIL_MUST(StatFd(sub_fd.get()));
            auto sub =
                VEIL_MUST(table_->Intern(std::move(sub_fd), st, d, "sub"));
            HostNode::PathFd at = VEIL_MUST(sub->Fd());
            UniqueFd fd = VEIL_MUST(OpenBeneath(at->get(), name.c_str(),
                                                O_PATH));
            st = VEIL_MUST(StatFd(fd.get()));
            held[i] = VEIL_MUST(table_->Intern(std::move(fd), st, sub, name));
            break;
          }
          case 1:  // the node's descriptor, reopened if closed
            if (held[i]) {
              Result<HostNode::PathFd> fd = held[i]->Fd();
              if (!fd || KeyOf(VEIL_MUST(StatFd((*fd)->get()))) !=
                             held[i]->key())
                ++failures;
            }
            break;
          case 2:  // the file's bytes through its location
            if (held[i]) {
              Result<UniqueFd> file = held[i]->Reopen(O_RDONLY);
              char buffer[8] = {};
              if (!file || ::read(file->get(), buffer, sizeof buffer) <= 0 ||
                  std::string(buffer) != std::to_string(i))
                ++failures;
            }
            break;
          default:  // let go
            held[i].reset();
            break;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_LE(table_->open_fds(), 3u + 4u);  // the budget, plus pins
  d.reset();
  EXPECT_EQ(table_->size(), 1u);
  EXPECT_EQ(table_->open_fds(), 1u);
}

TEST_F(HostNodeTest, ClosedNodeIsStaleOnceItsNameIsAnotherFile) {
  UseBudget(1);
  auto f = Intern(root_, "f");
  for (int i = 0; f->has_fd() && i < 10; ++i) {
    std::string name = "g" + std::to_string(i);
    WriteFile(scratch_.InRoot(name), "x");
    Intern(root_, name.c_str());
  }
  ASSERT_FALSE(f->has_fd());
  WriteFile(scratch_.InRoot("other"), "precious");
  ASSERT_EQ(std::rename(scratch_.InRoot("other").c_str(),
                        scratch_.InRoot("f").c_str()),
            0);
  EXPECT_EQ(ErrnoOf(f->Fd()), ESTALE);
  EXPECT_EQ(ErrnoOf(f->Reopen(O_WRONLY | O_TRUNC)), ESTALE);
  EXPECT_EQ(ReadFile(scratch_.InRoot("f")), "precious");
}

TEST_F(HostNodeTest, DirectoryNeverBecomesItsOwnAncestor) {
  std::filesystem::create_directories(scratch_.InRoot("d/e"));
  UseBudget(1);
  auto d = Intern(root_, "d");
  auto e = Intern(d, "e");
  // Would make e -> d -> e, and d its own parent: ignored, not errors.
  EXPECT_TRUE(d->SetLocation(e, "x").has_value());
  EXPECT_TRUE(d->SetLocation(d, "x").has_value());
  // Both were ignored: closed and opened again, d is still found as "d"
  // in the root.
  for (int i = 0; d->has_fd() && i < 10; ++i) Intern(root_, "f");
  ASSERT_FALSE(d->has_fd());
  HostNode::PathFd fd = VEIL_MUST(d->Fd());
  EXPECT_EQ(KeyOf(VEIL_MUST(StatFd(fd->get()))), d->key());
}

// Review of #10: two renames on two channels, A into B and B into A (the
// kernel ran A's first and a third channel moved A back before B's; each
// node's update comes late). Each SetLocation checked for a loop against
// the other's old state, then both changed: A -> B -> A, never freed, and
// every later walk up went round for ever. With the check and the change
// under one mutex the second sees the first's change and is ignored.
std::mutex race_mu;
std::condition_variable race_cv;
int race_arrived = 0;

TEST_F(HostNodeTest, ConcurrentMovesNeverLinkALoop) {
  std::filesystem::create_directory(scratch_.InRoot("b"));
  auto a = Intern(root_, "d");
  auto b = Intern(root_, "b");
  race_arrived = 0;
  // The first thread past its loop check waits there (for at most half a
  // second) until the other is past its own too.
  HostNodePeer::OnLoopChecked([] {
    std::unique_lock lock(race_mu);
    if (++race_arrived >= 2) {
      race_cv.notify_all();
      return;
    }
    race_cv.wait_for(lock, std::chrono::milliseconds(500),
                     [] { return race_arrived >= 2; });
  });
  Result<void> a_moved = Ok(), b_moved = Ok();
  std::thread t1([&] { a_moved = a->SetLocation(b, "d"); });
  std::thread t2([&] { b_moved = b->SetLocation(a, "b"); });
  t1.join();
  t2.join();
  HostNodePeer::OnLoopChecked(nullptr);
  EXPECT_TRUE(a_moved.has_value());
  EXPECT_TRUE(b_moved.has_value());
  const int depth_a = Depth(a), depth_b = Depth(b);
  EXPECT_NE(depth_a, -1) << "parent links in a loop";
  EXPECT_NE(depth_b, -1) << "parent links in a loop";
  // One moved below the other: the root, one of them, then the other.
  EXPECT_EQ(depth_a + depth_b, 2 + 3);
  if (depth_a == -1) HostNodePeer::ForceParent(*a, root_);  // to free them
}

// However the links came to go round, no walk up goes round for ever: a
// closed node whose ancestors are a loop, and a directory moved below one,
// are ESTALE.
TEST_F(HostNodeTest, WalksUpALoopEndWithEstale) {
  std::filesystem::create_directories(scratch_.InRoot("b/c"));
  UseBudget(1);
  auto a = Intern(root_, "d");
  auto b = Intern(root_, "b");
  auto c = Intern(b, "c");
  HostNodePeer::ForceParent(*a, b);
  HostNodePeer::ForceParent(*b, a);  // a -> b -> a
  for (int i = 0; (a->has_fd() || b->has_fd()) && i < 10; ++i) {
    const std::string name = "g" + std::to_string(i);
    WriteFile(scratch_.InRoot(name), "x");
    Intern(root_, name.c_str());
  }
  ASSERT_FALSE(a->has_fd());
  ASSERT_FALSE(b->has_fd());
  // In a child: before, the first walked up for ever (growing its list of
  // closed ancestors), the second spun.
  EXPECT_EQ(InChild(10, [&] { return ErrnoOf(a->Fd()); }), ESTALE);
  EXPECT_EQ(InChild(10, [&] { return ErrnoOf(c->SetLocation(a, "c")); }),
            ESTALE);
  HostNodePeer::ForceParent(*a, root_);
  HostNodePeer::ForceParent(*b, root_);
  HostNode::PathFd fd = VEIL_MUST(a->Fd());  // found again as "d"
  EXPECT_EQ(KeyOf(VEIL_MUST(StatFd(fd->get()))), a->key());
}

// A name that became a mount point (a host mount made after the walk) is
// EACCES when the node is opened again through it, as for a lookup
// (review of #10: reopening said EXDEV, RESOLVE_NO_XDEV's errno).
TEST_F(HostNodeTest, ReopenThroughAMountPointIsEacces) {
  if (std::optional<std::string> why = WhyNoConfinement())
    GTEST_SKIP() << *why;
  WriteFile(scratch_.InRoot("g"), "other");
  // In a child with a mount namespace of its own, whose descriptors are
  // all opened after the unshare (a descriptor keeps the mounts of the
  // namespace it was opened in).
  auto mounted = [&](const char* source, const char* type,
                     unsigned long flags, const char* target,
                     std::function<int(const std::shared_ptr<HostNode>&)> fn) {
    return InChild(10, [&] {
      if (::unshare(CLONE_NEWNS) != 0 ||
          ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return 100;
      root_fd_ = UniqueFd(
          ::open(scratch_.root().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      UseBudget(1);
      auto node = Intern(root_, target);
      for (int i = 0; node->has_fd() && i < 10; ++i) {
        const std::string name = "g" + std::to_string(i);
        WriteFile(scratch_.InRoot(name), "x");
        Intern(root_, name.c_str());
      }
      if (node->has_fd()) return 101;
      if (::mount(source, scratch_.InRoot(target).c_str(), type, flags,
                  nullptr) != 0)
        return 102;
      return fn(node);
    });
  };
  // A file reopened by its name (Reopen), a closed directory through its
  // parent (Fd()).
  EXPECT_EQ(mounted(scratch_.InRoot("g").c_str(), nullptr, MS_BIND, "f",
                    [](const std::shared_ptr<HostNode>& f) {
                      return ErrnoOf(f->Reopen(O_RDONLY));
                    }),
            EACCES);
  EXPECT_EQ(mounted("tmpfs", "tmpfs", 0, "d",
                    [](const std::shared_ptr<HostNode>& d) {
                      return ErrnoOf(d->Fd());
                    }),
            EACCES);
}

// A file removed through the gofer keeps its descriptor while the budget
// allows (its name can no longer find it): fstat of a walked, unlinked
// file still works. Under pressure it is closed like any idle node
// (HostNodeLimitsTest.RemovedNamesPinNoDescriptorsPastTheBudget).
TEST_F(HostNodeTest, RemovedFileKeepsItsDescriptorWhileTheBudgetAllows) {
  HostBackendOptions options;
  options.max_node_fds = 16;
  auto backend = VEIL_MUST(HostBackend::Create(
      UniqueFd(::open(scratch_.root().c_str(), O_PATH | O_DIRECTORY)),
      options));
  lisafs::NewNode root = VEIL_MUST(backend->Mount());
  lisafs::WalkResult f =
      VEIL_MUST(backend->Walk(*root.fd, lisafs::WalkReq{1, {"f"}}));
  ASSERT_EQ(f.nodes.size(), 1u);
  ASSERT_TRUE(backend->UnlinkAt(*root.fd, lisafs::UnlinkAtReq{1, "f", 0})
                  .has_value());
  for (int i = 0; i < 10; ++i) {
    std::string name = "g" + std::to_string(i);
    WriteFile(scratch_.InRoot(name), "x");
    lisafs::WalkResult g =
        VEIL_MUST(backend->Walk(*root.fd, lisafs::WalkReq{1, {name}}));
    EXPECT_EQ(g.nodes.size(), 1u);
  }
  lisafs::Statx st = VEIL_MUST(backend->FStat(*f.nodes[0].fd));
  EXPECT_EQ(st.nlink, 0u);
  EXPECT_EQ(st.size, 8u);
}

TEST_F(HostNodeTest, BackendRefusesUnsafeNamesEvenWithoutTheCodec) {
  auto backend = VEIL_MUST(HostBackend::Create(
      UniqueFd(::open(scratch_.root().c_str(), O_PATH | O_DIRECTORY)), {}));
  lisafs::NewNode root = VEIL_MUST(backend->Mount());
  for (const char* name : {"..", ".", "", "d/..", "/etc"}) {
    EXPECT_EQ(ErrnoOf(backend->Walk(*root.fd, lisafs::WalkReq{1, {name}})),
              EINVAL)
        << name;
    EXPECT_EQ(ErrnoOf(backend->MkdirAt(
                  *root.fd, lisafs::MkdirAtReq{1, name, 0755, lisafs::kNoId,
                                               lisafs::kNoId})),
              EINVAL)
        << name;
  }
  EXPECT_EQ(backend->live_nodes(), 1u);
}

}  // namespace
}  // namespace testing
}  // namespace veil::gofer
