// SPDX-License-Identifier: Apache-2.0
//
// The loader's parsers on hostile bytes. The first byte picks a target:
//   0: an executable file: ElfFile::Parse; when it parses, its PT_LOADs
//      must be sorted, disjoint and inside the file, and MakeLoadPlan's
//      plan (if any) must be one the stub accepts: EncodePlan, which
//      checks with DecodePlan, must succeed, and every mapping must stay
//      below TASK_SIZE, off the stack and the stub's region;
//   1: a `#!` line: ParseShebang never reads past 256 bytes and never
//      yields a newline;
//   2: a plan buffer as the stub gets it: DecodePlan never crashes, and
//      what it accepts is inside the address space.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdlib>
#include <string>

#include "sentry/loader/elf.h"
#include "sentry/loader/load_plan.h"
#include "sentry/loader/plan_codec.h"
#include "sentry/loader/shebang.h"
#include "vfs/tmpfs/tmpfs.h"
#include "vfs/vfs.h"

namespace {

using namespace veil::sentry::loader;  // NOLINT: a fuzzer's one scope

void Require(bool condition) {
  if (!condition) std::abort();
}

void FuzzElf(std::span<const uint8_t> bytes) {
  ElfFile::ReadAt read_at = [bytes](std::span<uint8_t> out,
                                    uint64_t offset) -> veil::Result<size_t> {
    if (offset >= bytes.size()) return size_t{0};
    const size_t n = std::min<size_t>(out.size(), bytes.size() - offset);
    std::memcpy(out.data(), bytes.data() + offset, n);
    return n;
  };
  auto elf = ElfFile::Parse(read_at, bytes.size());
  if (!elf) return;
  uint64_t prev_end = 0;
  for (const ElfSegment& s : elf->loads()) {
    Require(s.filesz <= s.memsz);
    Require(s.offset <= bytes.size() && s.filesz <= bytes.size() - s.offset);
    Require(s.vaddr >= prev_end);
    prev_end = s.vaddr + s.memsz;
  }

  static veil::vfs::Vfs* vfs = new veil::vfs::Vfs(
      veil::vfs::tmpfs::Tmpfs::Create(veil::vfs::tmpfs::TmpfsOptions{0755, 0, 0}));
  veil::vfs::Context ctx = vfs->RootContext();
  auto file = vfs->OpenAt(ctx, ctx.cwd, "/f",
                          veil::vfs::OpenHow{O_CREAT | O_RDWR | O_TRUNC, 0755, 0});
  Require(file.has_value());
  Require((*file)->PWrite(bytes, 0).has_value());
  LoadOptions options;
  options.random = std::array<uint8_t, 16>{};
  options.vdso = VdsoSource::kFromStub;
  auto plan = MakeLoadPlan(*elf, *file, {{"a"}, {"B=c"}, "/f"}, options);
  if (!plan) return;
  for (const Mapping& m : plan->mappings) {
    Require(m.addr + m.length <= kTaskSize);
    Require(m.addr + m.length <= plan->stack_start ||
            m.addr >= plan->stack_end);
    Require(m.addr + m.length <= kStubRegionStart || m.addr >= kStubRegionEnd);
  }
  Require(EncodePlan(*plan, std::vector<uint64_t>{0}, 0x7fff00000000)
              .has_value());
}

void FuzzShebang(std::span<const uint8_t> bytes) {
  auto sb = ParseShebang(bytes);
  if (!sb) return;
  Require(sb->interpreter.size() < kBinprmBufSize);
  Require(sb->interpreter.find('\n') == std::string::npos);
  if (sb->argument) Require(sb->argument->find('\n') == std::string::npos);
}

void FuzzPlan(std::span<const uint8_t> bytes) {
  auto plan = DecodePlan(bytes);
  if (!plan) return;
  for (const veil_stub_mapping& m : plan->mappings) {
    Require(m.addr + m.length <= VEIL_STUB_TASK_SIZE && m.length > 0);
    Require(m.file < static_cast<int32_t>(plan->header.nfiles));
  }
  Require(plan->header.initial_rsp >= plan->header.stack_image_addr);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::span<const uint8_t> rest(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0: FuzzElf(rest); break;
    case 1: FuzzShebang(rest); break;
    case 2: FuzzPlan(rest); break;
  }
  return 0;
}
