// SPDX-License-Identifier: Apache-2.0
//
// The mappings of a LoadPlan (Linux load_elf_binary's PT_LOAD loop,
// elf_load, padzero and set_brk); stack.cc builds the stack.
#include "sentry/loader/load_plan.h"

#include <elf.h>
#include <sys/mman.h>

#include <algorithm>

namespace veil::sentry::loader {
namespace {

constexpr uint64_t PageDown(uint64_t v) { return v & ~(kPageSize - 1); }
// Only for v <= kTaskSize, so it cannot wrap.
constexpr uint64_t PageUp(uint64_t v) { return PageDown(v + kPageSize - 1); }

uint32_t ProtOf(uint32_t p_flags) {
  uint32_t prot = 0;
  if (p_flags & PF_R) prot |= PROT_READ;
  if (p_flags & PF_W) prot |= PROT_WRITE;
  if (p_flags & PF_X) prot |= PROT_EXEC;
  return prot;
}

bool Overlaps(uint64_t a_start, uint64_t a_end, uint64_t b_start,
              uint64_t b_end) {
  return a_start < b_end && b_start < a_end;
}

// Appends `m`, marking it kReplace when it shares a page with the mapping
// before it (segments are sorted and disjoint, so only the last page of
// the previous one can be shared).
void Append(std::vector<Mapping>& out, Mapping m) {
  if (!out.empty() && m.addr >= out.back().addr &&
      m.addr < out.back().addr + out.back().length) {
    m.overlap = MapOverlap::kReplace;
  }
  out.push_back(m);
}

// The mappings of one PT_LOAD of plan.files[file] placed at `start`
// (p_vaddr + bias).
void MapSegment(const ElfSegment& seg, uint64_t start, int32_t file,
                LoadPlan& plan) {
  const uint32_t prot = ProtOf(seg.flags);
  const uint64_t page = PageDown(start);
  const uint64_t file_end = start + seg.filesz;
  const uint64_t mem_end = start + seg.memsz;
  uint64_t anon_start = page;
  if (seg.filesz > 0) {
    Mapping m;
    m.addr = page;
    m.length = PageUp(file_end) - page;
    m.prot = prot;
    m.file = file;
    m.file_offset = PageDown(seg.offset);
    // padzero: the rest of the last file page is bss, not file bytes.
    if (seg.memsz > seg.filesz && (prot & PROT_WRITE) &&
        PageUp(file_end) > file_end) {
      m.zero_addr = file_end;
      m.zero_length = PageUp(file_end) - file_end;
    }
    Append(plan.mappings, m);
    anon_start = PageUp(file_end);
  }
  if (PageUp(mem_end) > anon_start) {
    Mapping m;
    m.addr = anon_start;
    m.length = PageUp(mem_end) - anon_start;
    m.prot = prot;
    Append(plan.mappings, m);
  }
}

// The bias that puts an ET_DYN's first PT_LOAD at `base` aligned down to
// its maximum_alignment (load_elf_binary: ELF_PAGESTART(base - first
// p_vaddr)); 0 for ET_EXEC. A first p_vaddr above the base wraps around
// and fails the BAD_ADDR checks of MapImage, as on Linux.
uint64_t BiasFor(const ElfFile& elf, uint64_t base) {
  if (elf.kind() != ElfKind::kDyn) return 0;
  base &= ~(elf.max_align() - 1);
  return PageDown(base - elf.loads().front().vaddr);
}

// Every PT_LOAD of `elf` (plan.files[file]) at `bias`; returns the end of
// the highest segment.
Result<uint64_t> MapImage(const ElfFile& elf, uint64_t bias, int32_t file,
                          LoadPlan& plan) {
  uint64_t highest = 0;
  for (const ElfSegment& seg : elf.loads()) {
    if (seg.memsz == 0) continue;  // elf_load maps nothing for it
    const uint64_t start = seg.vaddr + bias;
    if (start >= kTaskSize || kTaskSize - start < seg.memsz) {
      return Errno(EINVAL);  // load_elf_binary: BAD_ADDR / TASK_SIZE check
    }
    MapSegment(seg, start, file, plan);
    highest = std::max(highest, start + seg.memsz);
  }
  if (elf.entry() + bias >= kTaskSize) {
    return Errno(EINVAL);  // load_elf_binary: BAD_ADDR(e_entry)
  }
  return highest;
}

}  // namespace

Result<LoadPlan> MakeLoadPlan(const ElfFile& elf,
                              Ref<vfs::FileDescription> file,
                              const ExecArgs& args,
                              const LoadOptions& options,
                              const Interpreter* interp) {
  if (elf.interpreter() && interp == nullptr) {
    return Errno(ENOEXEC, "a dynamic program without its interpreter");
  }

  LoadPlan plan;
  plan.files.push_back(std::move(file));
  plan.load_bias = BiasFor(elf, options.dyn_base);
  const uint64_t highest = VEIL_TRY(MapImage(elf, plan.load_bias, 0, plan));
  // set_brk: the heap starts at the page after the highest segment byte.
  plan.brk_start = PageUp(highest);
  plan.program_entry = elf.entry() + plan.load_bias;
  plan.entry = plan.program_entry;
  plan.phdr_addr = elf.phdr_vaddr() + plan.load_bias;
  if (elf.interpreter()) {
    // load_elf_interp: the interpreter's own PT_LOADs, then its entry is
    // where the task starts. An ET_EXEC interpreter stays where it is
    // linked (its bias is 0), as on Linux.
    plan.files.push_back(interp->file);
    plan.interp_base = BiasFor(interp->elf, kInterpBase);
    const uint64_t interp_end =
        VEIL_TRY(MapImage(interp->elf, plan.interp_base, 1, plan));
    plan.entry = interp->elf.entry() + plan.interp_base;
    // Mappings are placed in order and must not overlap across images.
    for (const ElfSegment& seg : elf.loads()) {
      const uint64_t s = seg.vaddr + plan.load_bias;
      if (seg.memsz > 0 &&
          Overlaps(s, s + seg.memsz,
                   interp->elf.loads().front().vaddr + plan.interp_base,
                   interp_end)) {
        return Errno(ENOMEM);  // no room for the interpreter
      }
    }
  }

  // The stack: the whole rlimit, reserved up front (Linux grows its stack
  // VMA on demand up to the rlimit; a MAP_NORESERVE mapping costs the
  // same until touched). Capped so an unlimited rlimit stays sane.
  constexpr uint64_t kMaxStackMapping = 1ull << 30;
  const uint64_t stack_size = PageUp(
      std::clamp<uint64_t>(options.stack_rlimit, kArgMax, kMaxStackMapping));
  if (options.stack_top % kPageSize != 0 || options.stack_top > kTaskSize ||
      options.stack_top < stack_size) {
    return Errno(EINVAL);  // no Linux analogue: the caller's option
  }
  plan.stack_end = options.stack_top;
  plan.stack_start = options.stack_top - stack_size;
  plan.stack_prot = PROT_READ | PROT_WRITE;
  // Linux: EXSTACK_ENABLE_X adds VM_EXEC; x86-64 stacks are not
  // executable by default.
  if (elf.stack_exec() == StackExec::kExecutable) plan.stack_prot |= PROT_EXEC;

  for (const Mapping& m : plan.mappings) {
    const uint64_t end = m.addr + m.length;
    // Linux would map the segment over the stack, or the stub, and crash
    // later; we refuse as mmap does when there is no room.
    if (Overlaps(m.addr, end, plan.stack_start, plan.stack_end) ||
        Overlaps(m.addr, end, kStubRegionStart, kStubRegionEnd)) {
      return Errno(ENOMEM);  // do_mmap: no room at a fixed address
    }
  }
  if (Overlaps(plan.stack_start, plan.stack_end, kStubRegionStart,
               kStubRegionEnd)) {
    return Errno(ENOMEM);  // as above
  }

  VEIL_TRY_VOID(BuildStack(elf, args, options, plan));
  return plan;
}

}  // namespace veil::sentry::loader
