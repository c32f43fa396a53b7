// SPDX-License-Identifier: Apache-2.0
//
// GoferPolicy: a Backend wrapper for differential runs against a backend
// that goes through veil's gofer (difftest_gofer_test, and the FUSE
// difftest's --gofer suite), which refuses by policy a few things Linux
// allows root.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <string>
#include <string_view>

#include "tests/difftest/backend.h"
#include "tests/difftest/forwarding_backend.h"

namespace veil::difftest {

// The gofer refuses some things by policy (gofer/server/host_backend.h):
// device nodes other than the overlay whiteout, xattrs outside "user." and
// "trusted.overlay.", and xattr changes on anything but regular files and
// directories (it cannot open them without /proc). Linux allows all of
// them to root, so each would diverge at once and hide everything after
// it. This wrapper, put around *both* backends, turns such calls into ones
// both sides answer alike: root's device nodes become FIFOs (the host
// reference refuses to make 0:0 whiteouts), "trusted.x" becomes
// "trusted.overlay.x" (still CAP_SYS_ADMIN only), and a trusted.* change
// on another file type is EPERM on both sides. Everything else passes
// through untouched; the refusals themselves are the gofer's tests' job.
class GoferPolicy final : public ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;

  void SetCreds(const Creds& creds) override {
    root_ = creds.uid == 0;
    inner().SetCreds(creds);
  }
  int Mknod(const std::string& path, mode_t mode, dev_t dev) override {
    if (root_ && (S_ISCHR(mode) || S_ISBLK(mode))) {
      mode = S_IFIFO | (mode & 07777);
      dev = 0;
    }
    return inner().Mknod(path, mode, dev);
  }
  int SetXattr(const std::string& path, const std::string& name,
               const std::string& value, int flags) override {
    if (RefusedChange(path, name)) return -EPERM;
    return inner().SetXattr(path, Served(name), value, flags);
  }
  int GetXattr(const std::string& path, const std::string& name,
               std::string* value) override {
    return inner().GetXattr(path, Served(name), value);
  }
  int RemoveXattr(const std::string& path, const std::string& name) override {
    if (RefusedChange(path, name)) return -EPERM;
    return inner().RemoveXattr(path, Served(name));
  }

 private:
  static std::string Served(const std::string& name) {
    static constexpr std::string_view kTrusted = "trusted.";
    if (name.size() > kTrusted.size() && name.starts_with(kTrusted) &&
        !name.starts_with("trusted.overlay."))
      return "trusted.overlay." + name.substr(kTrusted.size());
    return name;
  }

  // A trusted.* change the gofer refuses: on a file that is neither
  // regular nor a directory (l*xattr: the path's last symlink itself).
  bool RefusedChange(const std::string& path, const std::string& name) {
    if (!name.starts_with("trusted.")) return false;
    StatResult st;
    if (inner().Stat(path, AT_SYMLINK_NOFOLLOW, &st) != 0) return false;
    return !S_ISREG(st.mode) && !S_ISDIR(st.mode);
  }

  bool root_ = true;
};

}  // namespace veil::difftest
