// SPDX-License-Identifier: Apache-2.0
//
// ForwardingBackend: a Backend that passes every call to another one. A
// wrapper that changes a few calls (GoferPolicy, the FUSE difftest's
// normalisation) derives from it and overrides only those.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <string>
#include <vector>

#include "tests/difftest/backend.h"

namespace veil::difftest {

class ForwardingBackend : public Backend {
 public:
  explicit ForwardingBackend(Backend& inner) : inner_(inner) {}

  const char* Name() const override { return inner_.Name(); }
  void SetCreds(const Creds& c) override { inner_.SetCreds(c); }
  int Open(const std::string& p, int f, mode_t m) override {
    return inner_.Open(p, f, m);
  }
  int Close(int fd) override { return inner_.Close(fd); }
  int Mkdir(const std::string& p, mode_t m) override {
    return inner_.Mkdir(p, m);
  }
  int Mknod(const std::string& p, mode_t m, dev_t d) override {
    return inner_.Mknod(p, m, d);
  }
  int Symlink(const std::string& t, const std::string& p) override {
    return inner_.Symlink(t, p);
  }
  int Link(const std::string& o, const std::string& n, int f) override {
    return inner_.Link(o, n, f);
  }
  int Unlink(const std::string& p) override { return inner_.Unlink(p); }
  int Rmdir(const std::string& p) override { return inner_.Rmdir(p); }
  int Rename(const std::string& o, const std::string& n, unsigned f) override {
    return inner_.Rename(o, n, f);
  }
  int Stat(const std::string& p, int f, StatResult* out) override {
    return inner_.Stat(p, f, out);
  }
  int Readlink(const std::string& p, std::string* out) override {
    return inner_.Readlink(p, out);
  }
  int Chmod(const std::string& p, mode_t m) override {
    return inner_.Chmod(p, m);
  }
  int Chown(const std::string& p, uid_t u, gid_t g, int f) override {
    return inner_.Chown(p, u, g, f);
  }
  int Utimens(const std::string& p, const struct timespec t[2],
              int f) override {
    return inner_.Utimens(p, t, f);
  }
  int Truncate(const std::string& p, off_t l) override {
    return inner_.Truncate(p, l);
  }
  int Access(const std::string& p, int m, int f) override {
    return inner_.Access(p, m, f);
  }
  int SetXattr(const std::string& p, const std::string& n, const std::string& v,
               int f) override {
    return inner_.SetXattr(p, n, v, f);
  }
  int GetXattr(const std::string& p, const std::string& n,
               std::string* v) override {
    return inner_.GetXattr(p, n, v);
  }
  int ListXattr(const std::string& p, std::vector<std::string>* n) override {
    return inner_.ListXattr(p, n);
  }
  int RemoveXattr(const std::string& p, const std::string& n) override {
    return inner_.RemoveXattr(p, n);
  }
  int Pread(int fd, size_t c, off_t o, std::string* out) override {
    return inner_.Pread(fd, c, o, out);
  }
  int Pwrite(int fd, const std::string& d, off_t o) override {
    return inner_.Pwrite(fd, d, o);
  }
  int Read(int fd, size_t c, std::string* out) override {
    return inner_.Read(fd, c, out);
  }
  int Write(int fd, const std::string& d) override {
    return inner_.Write(fd, d);
  }
  off_t Lseek(int fd, off_t o, int w) override {
    return inner_.Lseek(fd, o, w);
  }
  int Ftruncate(int fd, off_t l) override { return inner_.Ftruncate(fd, l); }
  int Fallocate(int fd, int m, off_t o, off_t l) override {
    return inner_.Fallocate(fd, m, o, l);
  }
  int Fstat(int fd, StatResult* out) override { return inner_.Fstat(fd, out); }
  int Fchmod(int fd, mode_t m) override { return inner_.Fchmod(fd, m); }
  int Getdents(int fd, std::vector<DirEntry>* out) override {
    return inner_.Getdents(fd, out);
  }

 protected:
  Backend& inner() { return inner_; }

 private:
  Backend& inner_;  // borrowed; outlives the wrapper
};

}  // namespace veil::difftest
