// SPDX-License-Identifier: Apache-2.0
#include "sentry/loader/stub_binary.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>

#include "sentry/loader/elf.h"
#include "sentry/loader/load_plan.h"

namespace veil::sentry::loader {

Result<std::string> StubPathNextToSelf() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n < 0) return Errno::FromErrno();
  std::string self(buf, static_cast<size_t>(n));
  const size_t slash = self.rfind('/');
  if (slash == std::string::npos) return Errno(ENOENT);
  return self.substr(0, slash + 1) + kStubBinaryName;
}

Result<UniqueFd> OpenStubBinary(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Errno::FromErrno();
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return Errno::FromErrno();
  if (!S_ISREG(st.st_mode)) return Errno(EACCES);  // open_exec: not regular
  const int raw = fd.get();
  ElfFile::ReadAt read_at = [raw](std::span<uint8_t> out,
                                  uint64_t offset) -> Result<size_t> {
    const ssize_t n =
        pread(raw, out.data(), out.size(), static_cast<off_t>(offset));
    if (n < 0) return Errno::FromErrno();
    return static_cast<size_t>(n);
  };
  const ElfFile elf =
      VEIL_TRY(ElfFile::Parse(read_at, static_cast<uint64_t>(st.st_size)));
  if (elf.kind() != ElfKind::kExec ||
      elf.loads().front().vaddr != kStubRegionStart ||
      elf.entry() < kStubRegionStart || elf.entry() >= kStubRegionEnd ||
      elf.interpreter()) {
    return Errno(ENOEXEC, "not veil's exec stub");
  }
  return fd;
}

}  // namespace veil::sentry::loader
