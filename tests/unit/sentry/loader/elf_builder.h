// SPDX-License-Identifier: Apache-2.0
//
// Hand-made ELF images for the loader tests: a valid static x86-64
// executable by default, every header field open to breakage.
#pragma once

#include <elf.h>

#include <cstring>
#include <string>
#include <vector>

#include "base/result.h"
#include "sentry/loader/elf.h"

namespace veil::sentry::loader::testing {

struct ElfBuilder {
  Elf64_Ehdr eh{};
  std::vector<Elf64_Phdr> ph;
  size_t file_size = 0x3000;
  std::vector<std::pair<size_t, std::string>> payloads;  // offset, bytes

  // Two PT_LOADs: text at 0x400000 (file 0..0x1000), data at 0x401100
  // (file 0x1100.., 0x100 bytes, 0x2000 in memory), and PT_GNU_STACK.
  ElfBuilder() {
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_entry = 0x400100;
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    ph.push_back(Load(0x400000, 0, 0x1000, 0x1000, PF_R | PF_X));
    ph.push_back(Load(0x401100, 0x1100, 0x100, 0x2000, PF_R | PF_W));
    Elf64_Phdr stack{};
    stack.p_type = PT_GNU_STACK;
    stack.p_flags = PF_R | PF_W;
    ph.push_back(stack);
  }

  static Elf64_Phdr Load(uint64_t vaddr, uint64_t offset, uint64_t filesz,
                         uint64_t memsz, uint32_t flags) {
    Elf64_Phdr p{};
    p.p_type = PT_LOAD;
    p.p_vaddr = p.p_paddr = vaddr;
    p.p_offset = offset;
    p.p_filesz = filesz;
    p.p_memsz = memsz;
    p.p_flags = flags;
    p.p_align = 0x1000;
    return p;
  }

  void AddInterp(const std::string& path_with_nul, uint64_t offset = 0x2000) {
    Elf64_Phdr p{};
    p.p_type = PT_INTERP;
    p.p_offset = offset;
    p.p_filesz = path_with_nul.size();
    ph.insert(ph.begin(), p);
    payloads.emplace_back(offset, path_with_nul);
  }

  std::string Build() const {
    Elf64_Ehdr h = eh;
    h.e_phnum = static_cast<uint16_t>(ph.size());
    std::string out(std::max<size_t>(file_size, 0), '\0');
    auto put = [&out](size_t at, const void* p, size_t n) {
      if (at >= out.size()) return;
      std::memcpy(out.data() + at, p, std::min(n, out.size() - at));
    };
    put(0, &h, sizeof(h));
    for (size_t i = 0; i < ph.size(); ++i) {
      put(eh.e_phoff + i * sizeof(Elf64_Phdr), &ph[i], sizeof(Elf64_Phdr));
    }
    for (const auto& [at, bytes] : payloads) put(at, bytes.data(), bytes.size());
    return out;
  }
};

// An ElfFile::ReadAt over bytes in memory.
inline ElfFile::ReadAt BytesReader(const std::string& bytes) {
  return [&bytes](std::span<uint8_t> out, uint64_t offset) -> Result<size_t> {
    if (offset >= bytes.size()) return size_t{0};
    const size_t n = std::min<size_t>(out.size(), bytes.size() - offset);
    std::memcpy(out.data(), bytes.data() + offset, n);
    return n;
  };
}

inline Result<ElfFile> ParseBytes(const std::string& bytes) {
  return ElfFile::Parse(BytesReader(bytes), bytes.size());
}

}  // namespace veil::sentry::loader::testing
