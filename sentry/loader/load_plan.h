// SPDX-License-Identifier: Apache-2.0
//
// LoadPlan: everything a task's address space must hold when a program
// (and, for a dynamic one, its interpreter) starts, computed by the sentry
// from ElfFiles and carried out inside the task by the stub (sentry/loader/stub/). Linux analogue: what
// load_elf_binary maps (elf_load, padzero, set_brk), setup_arg_pages and
// create_elf_tables lay out, and start_thread sets.
//
// The plan is plain data: mappings (address, length, protection, and
// either bytes of one of the plan's files or anonymous zeroes), the bytes
// to zero in the last file page of each segment with a bss, the stack
// mapping and the image of its top (argv and envp strings, AT_RANDOM's 16
// bytes, "x86_64", the pointer tables and auxv), the initial rsp and the
// entry point. The files are vfs::FileDescriptions the plan keeps open.
//
// Limits (Linux do_execveat_common, copy_strings, bprm_stack_limits):
// every string at most MAX_ARG_STRLEN (131072) bytes with its NUL, and all
// strings plus the pointer tables within a quarter of the stack rlimit
// (at least ARG_MAX, at most 6 MiB): E2BIG otherwise.
//
// Thread-safety: a value; building one reads the files' headers only.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/ref.h"
#include "base/result.h"
#include "sentry/loader/elf.h"
#include "vfs/file_description.h"

namespace veil::sentry::loader {

// Linux MAX_ARG_STRLEN (32 pages) and ARG_MAX; _STK_LIM is 8 MiB.
inline constexpr uint64_t kMaxArgStrlen = 32 * kPageSize;
inline constexpr uint64_t kArgMax = 32 * kPageSize;
inline constexpr uint64_t kStkLim = 8ull << 20;

// Where the stub lives: linked at this fixed address (stub/CMakeLists), a
// range no plan maps (MakeLoadPlan answers ENOMEM), far below where the
// host kernel puts mmaps and the vDSO (within 1 TiB under the stack top)
// and far above program images (0x400000, 0x555555554000).
inline constexpr uint64_t kStubRegionStart = 0x7e5700000000ull;
inline constexpr uint64_t kStubRegionEnd = kStubRegionStart + (1ull << 30);

// How a mapping meets the mappings before it in the plan.
enum class MapOverlap : uint8_t {
  kNoReplace,  // its pages must be free (MAP_FIXED_NOREPLACE)
  kReplace,    // it shares a page with the previous segment and replaces
               // it there, as Linux's MAP_FIXED elf_map does
};

struct Mapping {
  uint64_t addr = 0;    // page aligned
  uint64_t length = 0;  // page aligned, > 0
  uint32_t prot = 0;    // PROT_READ | PROT_WRITE | PROT_EXEC
  int32_t file = -1;    // index into LoadPlan::files, or -1: anonymous
  uint64_t file_offset = 0;  // page aligned; offset in the file's bytes
  // Bytes [zero_addr, zero_addr + zero_length) of this mapping hold file
  // bytes past p_filesz and must read as zero (Linux padzero). Only set on
  // writable mappings (Linux ignores the failure on a read-only one).
  uint64_t zero_addr = 0;
  uint64_t zero_length = 0;
  MapOverlap overlap = MapOverlap::kNoReplace;
};

struct ExecArgs {
  std::vector<std::string> argv;
  std::vector<std::string> envp;
  // AT_EXECFN: the path as exec was given it (bprm->filename).
  std::string execfn;
};

enum class SecureExec : uint8_t { kNo, kYes };  // AT_SECURE

enum class VdsoSource : uint8_t { kNone, kAddress, kFromStub };

struct LoadOptions {
  uint64_t stack_top = kTaskSize;  // page aligned: the stack's end
  uint64_t stack_rlimit = kStkLim;  // RLIMIT_STACK (soft); the mapping size
  // Where an ET_DYN program goes (rounded down to its alignment), as
  // Linux's ELF_ET_DYN_BASE without randomisation.
  uint64_t dyn_base = 0x555555554000ull;
  uint32_t uid = 0, euid = 0, gid = 0, egid = 0;
  SecureExec secure = SecureExec::kNo;
  // AT_SYSINFO_EHDR: none, `vdso_addr`, or the vDSO the host kernel gave
  // the stub, filled in when the stub reports it (StubServer; a stub
  // without one leaves 0, which libc reads as "none").
  VdsoSource vdso = VdsoSource::kNone;
  uint64_t vdso_addr = 0;
  // AT_RANDOM's bytes; from getrandom(2) when unset (tests fix them).
  std::optional<std::array<uint8_t, 16>> random;
  // AT_HWCAP, AT_HWCAP2, AT_MINSIGSTKSZ; the sentry's own (getauxval)
  // when unset: the task runs on the same CPU.
  std::optional<uint64_t> hwcap, hwcap2, minsigstksz;
};

struct LoadPlan {
  std::vector<Ref<vfs::FileDescription>> files;  // mapped by `mappings`
  std::vector<Mapping> mappings;                 // in the order to map
  uint64_t entry = 0;       // where the task starts: the interpreter's, if any
  uint64_t program_entry = 0;  // AT_ENTRY: the program's own entry
  uint64_t load_bias = 0;   // 0 for ET_EXEC
  uint64_t interp_base = 0;  // AT_BASE: the interpreter's bias, or 0
  uint64_t brk_start = 0;   // page after the highest segment byte
  uint64_t phdr_addr = 0;   // AT_PHDR
  // The stack mapping [stack_start, stack_end), read-write (and exec when
  // PT_GNU_STACK asks), and the bytes at its top.
  uint64_t stack_start = 0;
  uint64_t stack_end = 0;
  uint32_t stack_prot = 0;
  uint64_t stack_image_addr = 0;     // stack_image goes here
  std::vector<uint8_t> stack_image;  // ends at stack_end
  uint64_t initial_rsp = 0;          // 16-byte aligned, points at argc
  uint64_t random_addr = 0;          // AT_RANDOM
  uint64_t execfn_addr = 0;          // AT_EXECFN
  // Where the argv and envp strings lie (Linux mm->arg_start/arg_end,
  // env_start/env_end: what /proc/PID/cmdline and environ read).
  uint64_t arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;
  // The task's name from now on (Linux __set_task_comm: the last
  // component of the path exec was given, at most 15 bytes).
  std::string comm;
  // Offset in stack_image of AT_SYSINFO_EHDR's value, when the stub is
  // to report it (VdsoSource::kFromStub).
  std::optional<size_t> vdso_slot;
};

// Where a dynamic program's interpreter goes (rounded down to its
// alignment): below the stub's region, far above program images. Linux
// puts it wherever mmap finds room near the top; ours is fixed, so the
// host kernel's later mmaps (top-down from far above) never meet it.
inline constexpr uint64_t kInterpBase = kStubRegionStart - (4ull << 30);

// A dynamic program's PT_INTERP, opened and parsed (load_elf_interp's
// input).
struct Interpreter {
  const ElfFile& elf;
  Ref<vfs::FileDescription> file;
};

// The plan for `elf`, opened as `file`, run with `args`; a dynamic
// program's interpreter is mapped too (at kInterpBase) and started
// instead, AT_BASE and AT_ENTRY telling it where it and the program are.
// Errors: ENOEXEC for a dynamic program without `interp`, E2BIG (limits
// above), EINVAL when the loaded image leaves the address space
// (load_elf_binary's BAD_ADDR checks), ENOMEM when it would cover the
// stack or the stub's region, EAGAIN/EIO if getrandom fails.
Result<LoadPlan> MakeLoadPlan(const ElfFile& elf,
                              Ref<vfs::FileDescription> file,
                              const ExecArgs& args, const LoadOptions& options,
                              const Interpreter* interp = nullptr);

// The stack part of MakeLoadPlan (stack.cc): fills the stack fields of
// `plan` (whose entry, load_bias and phdr_addr are set). Errors: E2BIG.
Result<void> BuildStack(const ElfFile& elf, const ExecArgs& args,
                        const LoadOptions& options, LoadPlan& plan);

}  // namespace veil::sentry::loader
