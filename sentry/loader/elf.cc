// SPDX-License-Identifier: Apache-2.0
#include "sentry/loader/elf.h"

#include <elf.h>
#include <linux/limits.h>

#include <algorithm>
#include <cstring>

#include "vfs/file_description.h"

namespace veil::sentry::loader {
namespace {

constexpr bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

// Linux load_elf_phdrs: the table may not exceed one page (ELF_MIN_ALIGN)
// nor 64 KiB.
constexpr uint64_t kMaxPhdrBytes = std::min<uint64_t>(kPageSize, 65536);

Result<void> CheckHeader(const Elf64_Ehdr& eh) {
  // load_elf_binary: "First of all, some simple consistency checks".
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
    return Errno(ENOEXEC);  // load_elf_binary: bad magic
  }
  if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
    return Errno(ENOEXEC);  // load_elf_binary: neither ET_EXEC nor ET_DYN
  }
  if (eh.e_machine != EM_X86_64) {
    return Errno(ENOEXEC);  // load_elf_binary: !elf_check_arch
  }
  // An Elf32 file is compat_binfmt_elf's (x32 or i386, which the sentry's
  // filter kills), and a big-endian one no x86-64 binfmt understands.
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_ident[EI_DATA] != ELFDATA2LSB) {
    return Errno(ENOEXEC);  // compat_elf_check_arch / no handler
  }
  if (eh.e_phentsize != sizeof(Elf64_Phdr)) {
    return Errno(ENOEXEC);  // load_elf_phdrs: e_phentsize mismatch
  }
  const uint64_t size = uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr);
  if (size == 0 || size > kMaxPhdrBytes) {
    return Errno(ENOEXEC);  // load_elf_phdrs: no headers or too many
  }
  return Ok();
}

// Checks one PT_LOAD on its own.
Result<void> CheckLoad(const Elf64_Phdr& ph, uint64_t file_size) {
  // load_elf_binary (PT_LOAD loop): "set_brk can never work" gives EINVAL
  // when p_filesz > p_memsz or the segment leaves the task's address space.
  if (ph.p_filesz > ph.p_memsz || ph.p_memsz > kTaskSize ||
      ph.p_vaddr >= kTaskSize || kTaskSize - ph.p_memsz < ph.p_vaddr) {
    return Errno(EINVAL);  // load_elf_binary: BAD_ADDR / set_brk check
  }
  // elf_map maps from p_offset - ELF_PAGEOFFSET(p_vaddr): vm_mmap refuses
  // an offset that is not page aligned.
  if ((ph.p_vaddr - ph.p_offset) % kPageSize != 0) {
    return Errno(EINVAL);  // vm_mmap: offset_in_page(offset)
  }
  // Stricter than Linux (which maps past EOF and lets the task take
  // SIGBUS): the file bytes of a segment must exist.
  if (ph.p_offset > file_size || file_size - ph.p_offset < ph.p_filesz) {
    return Errno(ENOEXEC);
  }
  return Ok();
}

// PT_INTERP as load_elf_binary reads it: 2..PATH_MAX bytes ending in NUL.
Result<std::string> ReadInterpreter(const ElfFile::ReadAt& read_at,
                                    const Elf64_Phdr& ph, uint64_t file_size) {
  if (ph.p_filesz > PATH_MAX || ph.p_filesz < 2) {
    return Errno(ENOEXEC);  // load_elf_binary: PT_INTERP size
  }
  std::string path(ph.p_filesz, '\0');
  if (ph.p_offset > file_size || file_size - ph.p_offset < ph.p_filesz) {
    return Errno(EIO);  // elf_read: short read
  }
  const size_t n = VEIL_TRY(read_at(
      {reinterpret_cast<uint8_t*>(path.data()), path.size()}, ph.p_offset));
  if (n != path.size()) return Errno(EIO);  // elf_read: short read
  if (path.back() != '\0') {
    return Errno(ENOEXEC);  // load_elf_binary: interpreter not terminated
  }
  path.resize(std::strlen(path.c_str()));
  return path;
}

}  // namespace

Result<size_t> ReadFully(vfs::FileDescription& file, std::span<uint8_t> out,
                         uint64_t offset) {
  size_t done = 0;
  while (done < out.size()) {
    if (offset + done > static_cast<uint64_t>(INT64_MAX)) break;
    const size_t n = VEIL_TRY(
        file.PRead(out.subspan(done), static_cast<int64_t>(offset + done)));
    if (n == 0) break;
    done += n;
  }
  return done;
}

Result<ElfFile> ElfFile::Read(vfs::FileDescription& file) {
  const vfs::Attr attr = VEIL_TRY(file.Stat());
  ReadAt read_at = [&file](std::span<uint8_t> out, uint64_t offset) {
    return ReadFully(file, out, offset);
  };
  return Parse(read_at, attr.size);
}

Result<ElfFile> ElfFile::Parse(const ReadAt& read_at, uint64_t file_size) {
  // prepare_binprm reads the first BINPRM_BUF_SIZE bytes into a zeroed
  // buffer: a file shorter than the header reads as zeros and fails the
  // checks below with ENOEXEC.
  Elf64_Ehdr eh{};
  {
    uint8_t buf[sizeof(Elf64_Ehdr)] = {};
    VEIL_TRY(read_at(buf, 0));
    std::memcpy(&eh, buf, sizeof(eh));
  }
  VEIL_TRY_VOID(CheckHeader(eh));

  const size_t table_bytes = size_t{eh.e_phnum} * sizeof(Elf64_Phdr);
  if (eh.e_phoff > file_size || file_size - eh.e_phoff < table_bytes) {
    return Errno(ENOEXEC);  // load_elf_phdrs: elf_read fails, NULL table
  }
  std::vector<Elf64_Phdr> phdrs(eh.e_phnum);
  {
    const size_t n = VEIL_TRY(read_at(
        {reinterpret_cast<uint8_t*>(phdrs.data()), table_bytes}, eh.e_phoff));
    if (n != table_bytes) return Errno(ENOEXEC);  // load_elf_phdrs
  }

  ElfFile elf;
  elf.kind_ = eh.e_type == ET_EXEC ? ElfKind::kExec : ElfKind::kDyn;
  elf.entry_ = eh.e_entry;
  elf.phoff_ = eh.e_phoff;
  elf.phnum_ = eh.e_phnum;
  elf.file_size_ = file_size;

  // load_elf_binary takes the first PT_INTERP and the last PT_GNU_STACK.
  for (const Elf64_Phdr& ph : phdrs) {
    if (ph.p_type == PT_INTERP && !elf.interpreter_) {
      elf.interpreter_ = VEIL_TRY(ReadInterpreter(read_at, ph, file_size));
    } else if (ph.p_type == PT_GNU_STACK) {
      elf.stack_exec_ = (ph.p_flags & PF_X) ? StackExec::kExecutable
                                            : StackExec::kNotExecutable;
    }
  }

  for (const Elf64_Phdr& ph : phdrs) {
    if (ph.p_type != PT_LOAD) continue;
    VEIL_TRY_VOID(CheckLoad(ph, file_size));
    if (!elf.loads_.empty()) {
      const ElfSegment& prev = elf.loads_.back();
      // Stricter than Linux: sorted (the ELF specification requires it)
      // and disjoint, so no segment silently replaces another.
      if (ph.p_vaddr < prev.vaddr + prev.memsz) return Errno(ENOEXEC);
    }
    // Linux (since 5.18): AT_PHDR is where the PT_LOAD holding e_phoff
    // maps it.
    if (ph.p_offset <= eh.e_phoff && eh.e_phoff - ph.p_offset < ph.p_filesz) {
      elf.phdr_vaddr_ = eh.e_phoff - ph.p_offset + ph.p_vaddr;
    }
    // maximum_alignment: powers of two only, at least a page.
    if (IsPowerOfTwo(ph.p_align)) {
      elf.max_align_ = std::max(elf.max_align_, ph.p_align);
    }
    elf.loads_.push_back(ElfSegment{ph.p_vaddr, ph.p_memsz, ph.p_offset,
                                    ph.p_filesz, ph.p_align, ph.p_flags});
  }
  // Stricter than Linux (which would start a task with nothing mapped at
  // its entry point and let it die of SIGSEGV).
  if (elf.loads_.empty()) return Errno(ENOEXEC);
  if (elf.kind_ == ElfKind::kExec && elf.entry_ >= kTaskSize) {
    return Errno(EINVAL);  // load_elf_binary: BAD_ADDR(e_entry)
  }
  return elf;
}

}  // namespace veil::sentry::loader
