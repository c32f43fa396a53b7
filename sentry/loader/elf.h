// SPDX-License-Identifier: Apache-2.0
//
// ElfFile: an ELF64 x86-64 executable as Linux's binfmt_elf
// (load_elf_binary, load_elf_phdrs) accepts it, read through the VFS. The
// sentry never hands a sandbox path to the host kernel: the bytes come from
// a vfs::FileDescription (PRead), and only the headers are read, each once,
// bounds-checked against the file size.
//
// What is validated, with the errno Linux gives:
// - magic, type (ET_EXEC or ET_DYN), machine (EM_X86_64), class and data
//   encoding (ELFCLASS64, little-endian): ENOEXEC;
// - e_phentsize == sizeof(Elf64_Phdr), 0 < e_phnum * 56 <= ELF_MIN_ALIGN
//   (one page, so at most 73 headers) and <= 64 KiB, the headers inside the
//   file: ENOEXEC;
// - PT_INTERP of 2..PATH_MAX bytes ending in NUL (ENOEXEC), read in full
//   (EIO on a short read, as elf_read);
// - each PT_LOAD: p_filesz <= p_memsz, p_vaddr + p_memsz within the user
//   address space, p_vaddr and p_offset congruent modulo the page size
//   (EINVAL, as the set_brk/elf_map checks);
// - stricter than Linux, because a plan the sentry makes must be
//   unambiguous (Linux maps such files and lets the task fault or
//   overwrite its own segments): at least one PT_LOAD, PT_LOADs sorted by
//   p_vaddr and not overlapping, file bytes inside the file: ENOEXEC.
//
// Thread-safety: an ElfFile is an immutable value once made.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"

namespace veil::vfs {
class FileDescription;
}

namespace veil::sentry::loader {

inline constexpr uint64_t kPageSize = 4096;
// x86-64 TASK_SIZE_MAX with 4-level paging: the first address a user
// mapping may not reach (Linux BAD_ADDR / TASK_SIZE).
inline constexpr uint64_t kTaskSize = 0x7ffffffff000ull;
// Linux BINPRM_BUF_SIZE: how much of a file exec looks at to pick a format.
inline constexpr size_t kBinprmBufSize = 256;

enum class ElfKind : uint8_t { kExec, kDyn };  // ET_EXEC, ET_DYN
// PT_GNU_STACK (Linux EXSTACK_*): absent, with PF_X, without PF_X.
enum class StackExec : uint8_t { kDefault, kExecutable, kNotExecutable };

// One PT_LOAD as the file states it (before any load bias).
struct ElfSegment {
  uint64_t vaddr = 0;
  uint64_t memsz = 0;
  uint64_t offset = 0;
  uint64_t filesz = 0;
  uint64_t align = 0;
  uint32_t flags = 0;  // PF_R | PF_W | PF_X
};

class ElfFile final {
 public:
  // Reads up to out.size() bytes at `offset`; fewer only at end of file.
  using ReadAt =
      std::function<Result<size_t>(std::span<uint8_t> out, uint64_t offset)>;

  // Parses the executable open as `file` (its size from Stat, its bytes by
  // PRead). Errors as above, plus those of the reads.
  static Result<ElfFile> Read(vfs::FileDescription& file);
  // The same over any reader of a file of `file_size` bytes.
  static Result<ElfFile> Parse(const ReadAt& read_at, uint64_t file_size);

  ElfKind kind() const { return kind_; }
  uint64_t entry() const { return entry_; }
  uint64_t phoff() const { return phoff_; }
  uint16_t phnum() const { return phnum_; }
  // The address of the program headers in the image (before the load
  // bias): where the PT_LOAD holding file offset e_phoff maps it, or 0 if
  // none does (Linux then reports just the bias as AT_PHDR).
  uint64_t phdr_vaddr() const { return phdr_vaddr_; }
  const std::vector<ElfSegment>& loads() const { return loads_; }
  // The PT_INTERP path (dynamic programs), without its NUL.
  const std::optional<std::string>& interpreter() const {
    return interpreter_;
  }
  StackExec stack_exec() const { return stack_exec_; }
  uint64_t file_size() const { return file_size_; }
  // The largest power-of-two p_align of the PT_LOADs, at least a page
  // (Linux maximum_alignment): an ET_DYN's load address is aligned to it.
  uint64_t max_align() const { return max_align_; }

 private:
  ElfFile() = default;

  ElfKind kind_ = ElfKind::kExec;
  uint64_t entry_ = 0;
  uint64_t phoff_ = 0;
  uint16_t phnum_ = 0;
  uint64_t phdr_vaddr_ = 0;
  std::vector<ElfSegment> loads_;
  std::optional<std::string> interpreter_;
  StackExec stack_exec_ = StackExec::kDefault;
  uint64_t file_size_ = 0;
  uint64_t max_align_ = kPageSize;
};

// Reads up to `out.size()` bytes at `offset` of `file`, looping over short
// reads; returns the count (smaller only at end of file).
Result<size_t> ReadFully(vfs::FileDescription& file, std::span<uint8_t> out,
                         uint64_t offset);

}  // namespace veil::sentry::loader
