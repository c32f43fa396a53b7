// SPDX-License-Identifier: Apache-2.0
//
// ServedFs: a lisafs::Server for a backend on a thread of this process and
// a GoferFs mounted over it as the root of a Vfs, plus small helpers the
// gofer client tests share.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gofer/client/gofer_fs.h"
#include "lisafs/channel.h"
#include "lisafs/client.h"
#include "lisafs/codec.h"
#include "lisafs/server.h"
#include "vfs/vfs.h"

namespace veil::gofer::testing {

template <typename T>
int ErrnoOf(const Result<T>& r) {
  return r.has_value() ? 0 : r.error().code();
}

// Whether the client's requests pass through a relay that counts them by
// message id (ServedFs::RequestsSent), as a server would see them.
enum class Tap : uint8_t { kNone, kCountRequests };

class ServedFs final {
 public:
  // `backend` is borrowed and must outlive this object.
  explicit ServedFs(lisafs::ServerBackend& backend,
                    const GoferFsOptions& options = {}, Tap tap = Tap::kNone)
      : server_(backend) {
    auto pair = lisafs::Channel::CreatePair();
    if (!pair) {
      ADD_FAILURE() << "socketpair: " << pair.error().code();
      return;
    }
    lisafs::Channel client_end = std::move(pair->first);
    lisafs::Channel server_end = std::move(pair->second);
    if (tap == Tap::kCountRequests) {
      auto inner = lisafs::Channel::CreatePair();
      if (!inner) {
        ADD_FAILURE() << "socketpair: " << inner.error().code();
        return;
      }
      relay_.emplace(std::move(server_end), std::move(inner->first),
                     &requests_);
      server_end = std::move(inner->second);
    }
    thread_ = std::thread([this, ch = std::move(server_end)]() mutable {
      (void)server_.Serve(std::move(ch));
    });
    auto client = lisafs::Client::Create(std::move(client_end));
    if (!client) {
      ADD_FAILURE() << "mount: " << client.error().code();
      return;
    }
    auto fs = GoferFs::Create(std::move(*client), options);
    if (!fs) {
      ADD_FAILURE() << "GoferFs::Create: " << fs.error().code();
      return;
    }
    fs_ = RefPtr<GoferFs>(std::move(*fs));
    vfs_ = std::make_unique<vfs::Vfs>(fs_.ToRef());
  }

  ~ServedFs() { Shutdown(); }

  bool ok() const { return vfs_ != nullptr; }
  vfs::Vfs& vfs() { return *vfs_; }
  GoferFs& fs() { return *fs_; }
  vfs::Context Root() const { return vfs_->RootContext(); }

  // Drops the Vfs (every dentry and inode but what callers hold), waits
  // until their FDIDs are closed on the server.
  void DropVfs() {
    vfs_.reset();
    if (fs_) fs_->FlushReleasedFds();
  }
  // Unmounts everything and waits for the server to finish.
  void Shutdown() {
    vfs_.reset();
    fs_ = nullptr;  // the client hangs up; Serve returns
    if (thread_.joinable()) thread_.join();
    relay_.reset();
  }

  // Requests of type `id` the server was sent (with Tap::kCountRequests).
  uint64_t RequestsSent(lisafs::MessageId id) const {
    return requests_[static_cast<size_t>(id)].load();
  }

 private:
  using Counts =
      std::array<std::atomic<uint64_t>, lisafs::kMaxMessageIdValue + 1>;

  // Copies messages both ways between the client's channel and the
  // server's, counting the client's by message id.
  class Relay final {
   public:
    Relay(lisafs::Channel to_client, lisafs::Channel to_server, Counts* counts)
        : to_client_(std::move(to_client)), to_server_(std::move(to_server)) {
      up_ = std::thread([this, counts] { Copy(to_client_, to_server_, counts); });
      down_ = std::thread([this] { Copy(to_server_, to_client_, nullptr); });
    }
    ~Relay() {
      to_client_.Shutdown();
      to_server_.Shutdown();
      up_.join();
      down_.join();
    }

   private:
    static void Copy(const lisafs::Channel& from, const lisafs::Channel& to,
                     Counts* counts) {
      std::vector<uint8_t> buf(lisafs::kMaxMessageSize);
      for (;;) {
        auto got = from.Recv(buf);
        if (!got) break;
        std::span<const uint8_t> bytes(buf.data(), got->size);
        if (counts) {
          auto header = lisafs::DecodeHeader(bytes);
          const auto id = header ? static_cast<size_t>(header->id) : 0;
          if (id < counts->size()) ++(*counts)[id];
        }
        std::vector<int> fds;
        for (const UniqueFd& fd : got->fds) fds.push_back(fd.get());
        if (!to.Send(bytes, fds)) break;
      }
      // One side is gone: so is the other.
      from.Shutdown();
      to.Shutdown();
    }

    lisafs::Channel to_client_;
    lisafs::Channel to_server_;
    std::thread up_;
    std::thread down_;
  };

  lisafs::Server server_;
  Counts requests_{};
  std::optional<Relay> relay_;
  std::thread thread_;
  RefPtr<GoferFs> fs_;
  std::unique_ptr<vfs::Vfs> vfs_;
};

// open(2) through `v` as root.
inline Result<Ref<vfs::FileDescription>> Open(vfs::Vfs& v,
                                              const vfs::Context& ctx,
                                              const std::string& path,
                                              int flags, mode_t mode = 0644) {
  return v.OpenAt(ctx, ctx.cwd, path, vfs::OpenHow{flags, mode, 0});
}

inline std::string ReadAll(vfs::FileDescription& f) {
  std::string out;
  std::vector<uint8_t> buf(65536);
  for (;;) {
    Result<size_t> n = f.Read(buf);
    if (!n || *n == 0) break;
    out.append(reinterpret_cast<char*>(buf.data()), *n);
  }
  return out;
}

inline Result<size_t> WriteString(vfs::FileDescription& f,
                                  const std::string& s) {
  return f.Write(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

// The names in a directory (without "." and ".."), in getdents order.
inline std::vector<std::string> ListNames(vfs::FileDescription& dir,
                                          size_t buf_size = 4096) {
  std::vector<std::string> names;
  std::vector<uint8_t> buf(buf_size);
  for (;;) {
    Result<size_t> n = dir.Getdents64(buf);
    if (!n || *n == 0) break;
    for (size_t pos = 0; pos < *n;) {
      uint16_t reclen;
      std::memcpy(&reclen, buf.data() + pos + 16, 2);
      std::string name(reinterpret_cast<char*>(buf.data() + pos + 19));
      if (name != "." && name != "..") names.push_back(name);
      pos += reclen;
    }
  }
  return names;
}

}  // namespace veil::gofer::testing
