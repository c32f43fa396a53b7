// SPDX-License-Identifier: Apache-2.0
//
// What a client can pin in the gofer, bounded: chains of directories as
// deep as it likes are reopened and freed without recursion, the nodes the
// table holds are capped, and open files take slots of their own budget;
// past a limit the request fails (ENFILE) and everything else goes on.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gofer/server/host_backend.h"
#include "gofer/server/host_node.h"
#include "tests/unit/gofer/deep_chain.h"
#include "tests/unit/gofer/gofer_test_util.h"

namespace veil::gofer::testing {
namespace {

class HostNodeLimitsTest : public ::testing::Test {
 protected:
  // On the host's tmpfs: 20,000 directories made and removed on a disk
  // take a minute, in memory a second.
  void SetUp() override {
    char tmpl[] = "/dev/shm/veil-node-limits-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_fd_ = UniqueFd(::open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_fd_.valid());
  }
  void TearDown() override {
    if (dir_.empty()) return;
    RemoveDeepChain(root_fd_.get(), "chain");
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::string InRoot(const std::string& rel) const { return dir_ + "/" + rel; }

  std::shared_ptr<HostNode> InternRoot(NodeTable& table) {
    struct statx st = VEIL_MUST(StatFd(root_fd_.get()));
    return VEIL_MUST(table.Intern(
        VEIL_MUST(OpenBeneath(root_fd_.get(), ".", O_PATH)), st, nullptr, ""));
  }
  static Result<std::shared_ptr<HostNode>> Intern(
      NodeTable& table, const std::shared_ptr<HostNode>& dir,
      const char* name) {
    HostNode::PathFd at = VEIL_TRY(dir->Fd());
    UniqueFd fd = VEIL_TRY(OpenBeneath(at->get(), name, O_PATH));
    struct statx st = VEIL_TRY(StatFd(fd.get()));
    return table.Intern(std::move(fd), st, dir, name);
  }
  std::unique_ptr<HostBackend> Backend(HostBackendOptions options) {
    return VEIL_MUST(HostBackend::Create(
        UniqueFd(::open(dir_.c_str(), O_PATH | O_DIRECTORY)), options));
  }

  std::string dir_;
  UniqueFd root_fd_;
};

// Issue #10, item 14: Fd() of a node whose ancestors the budget closed
// used to recurse once per level (HostNode::Fd -> OpenAtLocation ->
// parent->Fd()), and the last owner of a chain destroyed it by recursion
// (~HostNode -> ~shared_ptr -> ~HostNode). On a 512 KiB stack a chain of
// 20,000 overflowed both; as loops they need no stack at all.
TEST_F(HostNodeLimitsTest, DeepChainReopensAndIsFreedWithoutRecursion) {
  constexpr size_t kDepth = 20000;
  ASSERT_TRUE(MakeDeepChain(root_fd_.get(), "chain", kDepth));
  std::shared_ptr<NodeTable> table = NodeTable::Create(8);
  std::shared_ptr<HostNode> root = InternRoot(*table);
  std::shared_ptr<HostNode> deepest = VEIL_MUST(Intern(*table, root, "chain"));
  for (size_t i = 1; i < kDepth; ++i)
    deepest = VEIL_MUST(Intern(*table, deepest, "d"));
  // Push the deepest node's own descriptor out of the budget too.
  std::vector<std::shared_ptr<HostNode>> others;
  for (int i = 0; i < 32; ++i) {
    const std::string name = "f" + std::to_string(i);
    WriteFile(InRoot(name), "x");
    others.push_back(VEIL_MUST(Intern(*table, root, name.c_str())));
  }
  ASSERT_FALSE(deepest->has_fd());
  ASSERT_EQ(table->size(), kDepth + 33);

  const InodeKey key = deepest->key();
  bool reopened = false;
  RunOnSmallStack(512 << 10, [&] {
    {
      Result<HostNode::PathFd> fd = deepest->Fd();  // 20,000 levels down
      reopened = fd && KeyOf(VEIL_MUST(StatFd((*fd)->get()))) == key;
    }
    deepest.reset();  // the last owner of the whole chain
  });
  EXPECT_TRUE(reopened);
  EXPECT_LE(table->open_fds(), 9u);
  others.clear();
  EXPECT_EQ(table->size(), 1u);  // only the root is left
}

// One FDID pins all its ancestors: the table's cap on nodes bounds the
// memory a chain can take. Past it a new node is ENFILE, existing ones
// still resolve, and the cap frees up when the chain goes.
TEST_F(HostNodeLimitsTest, NodeCapBoundsWhatOneFdidPins) {
  ASSERT_TRUE(MakeDeepChain(root_fd_.get(), "chain", 200));
  HostBackendOptions options;
  options.max_nodes = 100;
  std::unique_ptr<HostBackend> backend = Backend(options);
  lisafs::NewNode root = VEIL_MUST(backend->Mount());
  lisafs::WalkResult top =
      VEIL_MUST(backend->Walk(*root.fd, lisafs::WalkReq{1, {"chain"}}));
  ASSERT_EQ(top.nodes.size(), 1u);
  std::unique_ptr<lisafs::ServerFd> deepest = std::move(top.nodes[0].fd);
  size_t depth = 1;
  while (true) {
    Result<lisafs::WalkResult> next =
        backend->Walk(*deepest, lisafs::WalkReq{1, {"d"}});
    if (!next) {
      EXPECT_EQ(next.error().code(), ENFILE);
      break;
    }
    ASSERT_EQ(next->nodes.size(), 1u);
    deepest = std::move(next->nodes[0].fd);  // only the deepest is held
    ++depth;
  }
  EXPECT_EQ(depth, 99u);  // the root and 99 levels
  EXPECT_EQ(backend->live_nodes(), 100u);
  // Existing nodes still work; so does everything not needing a new one.
  EXPECT_TRUE(backend->FStat(*deepest).has_value());
  EXPECT_TRUE(backend->FStat(*root.fd).has_value());
  EXPECT_EQ(ErrnoOf(backend->MkdirAt(
                *root.fd, lisafs::MkdirAtReq{1, "new", 0755, lisafs::kNoId,
                                             lisafs::kNoId})),
            ENFILE);
  EXPECT_NE(::access(InRoot("new").c_str(), F_OK), 0)
      << "a create refused for the cap left its entry behind";
  deepest.reset();
  EXPECT_EQ(backend->live_nodes(), 1u);
  EXPECT_TRUE(
      backend
          ->MkdirAt(*root.fd, lisafs::MkdirAtReq{1, "new", 0755, lisafs::kNoId,
                                                 lisafs::kNoId})
          .has_value());
}

// Open FDIDs cost descriptors the budget cannot close: they take slots of
// their own, and past max_open_files an open or create is ENFILE (nothing
// is created) while walks, stats and the open files themselves go on.
TEST_F(HostNodeLimitsTest, OpenFilesTakeSlotsAndFailWithEnfilePastThem) {
  for (int i = 0; i < 6; ++i)
    WriteFile(InRoot("f" + std::to_string(i)), "data");
  HostBackendOptions options;
  options.max_open_files = 4;
  std::unique_ptr<HostBackend> backend = Backend(options);
  lisafs::NewNode root = VEIL_MUST(backend->Mount());
  std::vector<std::unique_ptr<lisafs::ServerFd>> nodes;
  for (int i = 0; i < 6; ++i) {
    lisafs::WalkResult w = VEIL_MUST(
        backend->Walk(*root.fd, lisafs::WalkReq{1, {"f" + std::to_string(i)}}));
    nodes.push_back(std::move(w.nodes[0].fd));
  }
  std::vector<lisafs::OpenedFile> open;
  for (int i = 0; i < 4; ++i)
    open.push_back(
        VEIL_MUST(backend->OpenAt(*nodes[i], lisafs::OpenAtReq{1, O_RDONLY})));
  EXPECT_EQ(backend->open_files(), 4u);
  EXPECT_EQ(ErrnoOf(backend->OpenAt(*nodes[4], lisafs::OpenAtReq{1, O_RDONLY})),
            ENFILE);
  lisafs::OpenCreateAtReq create;
  create.dir_fd = 1;
  create.name = "created";
  create.mode = 0644;
  create.flags = O_RDWR;
  EXPECT_EQ(ErrnoOf(backend->OpenCreateAt(*root.fd, create)), ENFILE);
  EXPECT_NE(::access(InRoot("created").c_str(), F_OK), 0);
  EXPECT_TRUE(backend->FStat(*nodes[5]).has_value());
  EXPECT_EQ(
      VEIL_MUST(backend->PRead(*open[0].fd, lisafs::PReadReq{1, 0, 16})).size(),
      4u);
  open.pop_back();  // a close gives its slot back
  EXPECT_EQ(backend->open_files(), 3u);
  EXPECT_TRUE(backend->OpenCreateAt(*root.fd, create).has_value());
  EXPECT_EQ(backend->open_files(), 3u);  // the created file's FDID is gone
}

// Review of #10: a removed name took its node's location and the budget
// never closed a node without one, so a client that walked to N files,
// kept the FDIDs and unlinked each pinned N descriptors (up to its 65,536
// FDIDs, past the gofer's limit), and every Admit swept them all. Now they
// are closed like any idle node (the FDIDs are ESTALE afterwards, as NFS
// says of a removed file); an open file still survives its unlink.
TEST_F(HostNodeLimitsTest, RemovedNamesPinNoDescriptorsPastTheBudget) {
  constexpr int kFiles = 60;
  for (int i = 0; i < kFiles; ++i)
    WriteFile(InRoot("f" + std::to_string(i)), "data");
  HostBackendOptions options;
  options.max_node_fds = 4;
  std::unique_ptr<HostBackend> backend = Backend(options);
  lisafs::NewNode root = VEIL_MUST(backend->Mount());
  std::vector<std::unique_ptr<lisafs::ServerFd>> nodes;
  for (int i = 0; i < kFiles; ++i) {
    lisafs::WalkResult w = VEIL_MUST(
        backend->Walk(*root.fd, lisafs::WalkReq{1, {"f" + std::to_string(i)}}));
    nodes.push_back(std::move(w.nodes[0].fd));
  }
  lisafs::OpenedFile open =
      VEIL_MUST(backend->OpenAt(*nodes[0], lisafs::OpenAtReq{1, O_RDONLY}));
  for (int i = 0; i < kFiles; ++i) {
    ASSERT_TRUE(backend
                    ->UnlinkAt(*root.fd, lisafs::UnlinkAtReq{
                                             1, "f" + std::to_string(i), 0})
                    .has_value());
    EXPECT_LE(backend->open_node_fds(), 4u + 2u) << "after f" << i;
  }
  for (int i = 0; i < 8; ++i) {  // more walks: the budget sweeps again
    WriteFile(InRoot("g" + std::to_string(i)), "x");
    VEIL_MUST(
        backend->Walk(*root.fd, lisafs::WalkReq{1, {"g" + std::to_string(i)}}));
  }
  EXPECT_LE(backend->open_node_fds(), 4u + 1u);  // the budget, the open one
  // The open file, pinned, still answers; removed names closed are stale.
  lisafs::Statx st = VEIL_MUST(backend->FStat(*nodes[0]));
  EXPECT_EQ(st.nlink, 0u);
  EXPECT_EQ(st.size, 4u);
  EXPECT_EQ(ErrnoOf(backend->FStat(*nodes[1])), ESTALE);
  int stale = 0;
  for (int i = 1; i < kFiles; ++i)
    stale += ErrnoOf(backend->FStat(*nodes[i])) == ESTALE;
  EXPECT_GE(stale, kFiles - 1 - 4);
  EXPECT_LE(backend->open_node_fds(), 4u + 1u);
}

}  // namespace
}  // namespace veil::gofer::testing
