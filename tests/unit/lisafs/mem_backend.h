// SPDX-License-Identifier: Apache-2.0
//
// MemBackend: a tiny in-memory ServerBackend for exercising the server
// framework's dispatch. Directories, regular files and symlinks only.
//
// Hooks for tests: FStat of a file named "slow" blocks until OpenGate();
// live_fds() counts the ServerFd objects alive, so tests can check that a
// finished connection released everything. Thread-safe (one mutex).
#pragma once

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "lisafs/server_backend.h"

namespace veil::lisafs::testing {

class MemBackend final : public ServerBackend {
 public:
  MemBackend() : root_(NewNodeRecord(S_IFDIR | 0755)) {}

  // Adds root/<name> as a regular file with `data`.
  void AddFile(const std::string& name, std::string data) {
    auto node = NewNodeRecord(S_IFREG | 0644);
    node->name = name;
    node->data.assign(data.begin(), data.end());
    node->stat.size = node->data.size();
    std::lock_guard lock(mu_);
    root_->children[name] = node;
  }
  void AddSymlink(const std::string& name) {
    auto node = NewNodeRecord(S_IFLNK | 0777);
    node->name = name;
    std::lock_guard lock(mu_);
    root_->children[name] = node;
  }

  void OpenGate() {
    std::lock_guard lock(mu_);
    gate_open_ = true;
    gate_cv_.notify_all();
  }
  // How many calls are blocked on the gate.
  int gate_waiters() const { return gate_waiters_.load(); }
  int live_fds() const { return live_fds_.load(); }
  void set_donate(bool donate) { donate_ = donate; }

  Result<NewNode> Mount() override { return Wrap(root_); }

  Result<Statx> FStat(ServerFd& fd) override {
    Node& node = *Unwrap(fd);
    std::unique_lock lock(mu_);
    if (node.name == "slow") {
      ++gate_waiters_;
      gate_cv_.wait(lock, [this] { return gate_open_; });
      --gate_waiters_;
    }
    return node.stat;
  }

  Result<WalkResult> Walk(ServerFd& dir, const WalkReq& req) override {
    std::lock_guard lock(mu_);
    WalkResult result;
    std::shared_ptr<Node> at = Unwrap(dir);
    for (const std::string& name : req.names) {
      if ((at->stat.mode & S_IFMT) != S_IFDIR) return Errno(ENOTDIR);
      auto it = at->children.find(name);
      if (it == at->children.end()) {
        result.status = WalkStatus::kComponentMissing;
        break;
      }
      at = it->second;
      result.nodes.push_back(*Wrap(at));
      if ((at->stat.mode & S_IFMT) == S_IFLNK) {
        result.status = WalkStatus::kComponentSymlink;
        break;
      }
    }
    return result;
  }

  Result<OpenedFile> OpenAt(ServerFd& fd, const OpenAtReq&) override {
    std::shared_ptr<Node> node = Unwrap(fd);
    OpenedFile file{std::make_unique<MemFd>(node, this), UniqueFd()};
    if (donate_ && (node->stat.mode & S_IFMT) == S_IFREG) {
      // Donate a memfd holding a snapshot of the contents.
      UniqueFd memfd(::memfd_create("mem", MFD_CLOEXEC));
      std::lock_guard lock(mu_);
      if (::write(memfd.get(), node->data.data(), node->data.size()) < 0) {
        return Errno::FromErrno();
      }
      file.host_fd = std::move(memfd);
    }
    return file;
  }

  Result<CreatedFile> OpenCreateAt(ServerFd& dir,
                                   const OpenCreateAtReq& req) override {
    NewNode node = VEIL_TRY(CreateChild(dir, req.name, S_IFREG | req.mode));
    std::shared_ptr<Node> record = static_cast<MemFd&>(*node.fd).node;
    return CreatedFile{std::move(node),
                       OpenedFile{std::make_unique<MemFd>(record, this), {}}};
  }

  Result<NewNode> MkdirAt(ServerFd& dir, const MkdirAtReq& req) override {
    return CreateChild(dir, req.name, S_IFDIR | req.mode);
  }

  Result<std::vector<uint8_t>> PRead(ServerFd& fd,
                                     const PReadReq& req) override {
    std::shared_ptr<Node> node = Unwrap(fd);
    std::lock_guard lock(mu_);
    if (req.offset >= node->data.size()) return std::vector<uint8_t>();
    const size_t n =
        std::min<size_t>(req.count, node->data.size() - req.offset);
    auto begin = node->data.begin() + static_cast<ptrdiff_t>(req.offset);
    return std::vector<uint8_t>(begin, begin + static_cast<ptrdiff_t>(n));
  }

  Result<uint64_t> PWrite(ServerFd& fd, const PWriteReq& req) override {
    std::shared_ptr<Node> node = Unwrap(fd);
    std::lock_guard lock(mu_);
    const size_t end = req.offset + req.data.size();
    if (node->data.size() < end) node->data.resize(end);
    std::copy(req.data.begin(), req.data.end(),
              node->data.begin() + static_cast<ptrdiff_t>(req.offset));
    node->stat.size = node->data.size();
    return req.data.size();
  }

  Result<std::vector<Dirent64>> Getdents64(ServerFd& fd,
                                           const Getdents64Req& req) override {
    auto& open = static_cast<MemFd&>(fd);
    std::lock_guard lock(mu_);
    std::vector<Dirent64> out;
    size_t used = 0;
    int64_t index = 0;
    for (const auto& [name, child] : open.node->children) {
      if (index++ < open.dir_offset) continue;
      const size_t record = (19 + name.size() + 1 + 7) & ~size_t{7};
      if (used + record > req.count) break;
      used += record;
      out.push_back(Dirent64{child->stat.ino, 0, 0, index,
                             static_cast<uint8_t>(child->stat.mode >> 12),
                             name});
      open.dir_offset = index;
    }
    return out;
  }

 private:
  struct Node {
    Statx stat;
    std::string name;
    std::map<std::string, std::shared_ptr<Node>> children;
    std::vector<uint8_t> data;
  };

  class MemFd final : public ServerFd {
   public:
    MemFd(std::shared_ptr<Node> n, MemBackend* backend)
        : node(std::move(n)), backend_(backend) {
      ++backend_->live_fds_;
    }
    ~MemFd() override { --backend_->live_fds_; }
    std::shared_ptr<Node> node;
    int64_t dir_offset = 0;  // Guarded by MemBackend::mu_.

   private:
    MemBackend* backend_;  // Outlives every MemFd (test fixture order).
  };

  std::shared_ptr<Node> NewNodeRecord(uint32_t mode) {
    auto node = std::make_shared<Node>();
    node->stat.mask = kStatxAll;
    node->stat.mode = static_cast<uint16_t>(mode);
    node->stat.ino = next_ino_++;
    node->stat.nlink = 1;
    return node;
  }

  Result<NewNode> Wrap(std::shared_ptr<Node> node) {
    Statx stat = node->stat;
    return NewNode{std::make_unique<MemFd>(std::move(node), this), stat};
  }

  static std::shared_ptr<Node> Unwrap(ServerFd& fd) {
    return static_cast<MemFd&>(fd).node;
  }

  Result<NewNode> CreateChild(ServerFd& dir, const std::string& name,
                              uint32_t mode) {
    std::shared_ptr<Node> parent = Unwrap(dir);
    std::lock_guard lock(mu_);
    if ((parent->stat.mode & S_IFMT) != S_IFDIR) return Errno(ENOTDIR);
    if (parent->children.count(name) != 0) return Errno(EEXIST);
    auto child = NewNodeRecord(mode);
    child->name = name;
    parent->children[name] = child;
    return Wrap(child);
  }

  std::atomic<uint64_t> next_ino_{1};
  std::shared_ptr<Node> root_;
  mutable std::mutex mu_;
  std::condition_variable gate_cv_;
  bool gate_open_ = false;  // Guarded by mu_.
  std::atomic<int> gate_waiters_{0};
  std::atomic<int> live_fds_{0};
  std::atomic<bool> donate_{false};
};

}  // namespace veil::lisafs::testing
