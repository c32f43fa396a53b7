// SPDX-License-Identifier: Apache-2.0
//
// ServedFs: a lisafs::Server for a backend on a thread of this process and
// a GoferFs mounted over it as the root of a Vfs, plus small helpers the
// gofer client tests share.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gofer/client/gofer_fs.h"
#include "lisafs/channel.h"
#include "lisafs/client.h"
#include "lisafs/server.h"
#include "vfs/vfs.h"

namespace veil::gofer::testing {

template <typename T>
int ErrnoOf(const Result<T>& r) {
  return r.has_value() ? 0 : r.error().code();
}

class ServedFs final {
 public:
  // `backend` is borrowed and must outlive this object.
  explicit ServedFs(lisafs::ServerBackend& backend,
                    const GoferFsOptions& options = {})
      : server_(backend) {
    auto pair = lisafs::Channel::CreatePair();
    if (!pair) {
      ADD_FAILURE() << "socketpair: " << pair.error().code();
      return;
    }
    thread_ = std::thread([this, ch = std::move(pair->second)]() mutable {
      (void)server_.Serve(std::move(ch));
    });
    auto client = lisafs::Client::Create(std::move(pair->first));
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
  }

 private:
  lisafs::Server server_;
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
