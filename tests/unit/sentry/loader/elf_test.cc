// SPDX-License-Identifier: Apache-2.0
//
// ElfFile: the host's static busybox through the VFS, and hostile headers
// with the errno Linux's binfmt_elf gives.
#include "sentry/loader/elf.h"

#include <elf.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "tests/unit/sentry/loader/elf_builder.h"
#include "tests/unit/vfs/fixture.h"

namespace veil::sentry::loader::testing {
namespace {

using ::veil::testing::ErrnoIs;
using ::veil::testing::IsOk;

std::string HostFile(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class ElfFileTest : public vfs::testing::VfsTest {};

TEST_F(ElfFileTest, ParsesHostBusyboxThroughTheVfs) {
  const std::string bytes = HostFile("/bin/busybox");
  if (bytes.size() < 4 || bytes.compare(0, 4, ELFMAG) != 0) {
    GTEST_SKIP() << "no /bin/busybox on this host";
  }
  WriteFile("/busybox", bytes, 0755);
  auto file = Open("/busybox", O_RDONLY);
  ASSERT_THAT(file, IsOk());
  auto elf = ElfFile::Read(**file);
  ASSERT_THAT(elf, IsOk());
  Elf64_Ehdr eh;
  std::memcpy(&eh, bytes.data(), sizeof(eh));
  EXPECT_EQ(elf->kind(), eh.e_type == ET_EXEC ? ElfKind::kExec : ElfKind::kDyn);
  EXPECT_EQ(elf->entry(), eh.e_entry);
  EXPECT_EQ(elf->phnum(), eh.e_phnum);
  EXPECT_FALSE(elf->interpreter().has_value());  // busybox-static
  EXPECT_EQ(elf->stack_exec(), StackExec::kNotExecutable);
  EXPECT_EQ(elf->file_size(), bytes.size());
  // The same PT_LOADs as the file says, in order.
  std::vector<ElfSegment> expected;
  for (int i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, bytes.data() + eh.e_phoff + i * sizeof(ph), sizeof(ph));
    if (ph.p_type == PT_LOAD) {
      expected.push_back({ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz,
                          ph.p_align, ph.p_flags});
    }
  }
  ASSERT_EQ(elf->loads().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(elf->loads()[i].vaddr, expected[i].vaddr) << i;
    EXPECT_EQ(elf->loads()[i].offset, expected[i].offset) << i;
    EXPECT_EQ(elf->loads()[i].filesz, expected[i].filesz) << i;
    EXPECT_EQ(elf->loads()[i].memsz, expected[i].memsz) << i;
    EXPECT_EQ(elf->loads()[i].flags, expected[i].flags) << i;
  }
  // The first PT_LOAD covers the headers: AT_PHDR = its vaddr + e_phoff.
  EXPECT_EQ(elf->phdr_vaddr(), expected[0].vaddr + eh.e_phoff);
}

TEST_F(ElfFileTest, ReadsThroughPReadOfADescription) {
  ElfBuilder b;
  WriteFile("/prog", b.Build(), 0755);
  auto file = Open("/prog", O_RDONLY);
  ASSERT_THAT(file, IsOk());
  auto elf = ElfFile::Read(**file);
  ASSERT_THAT(elf, IsOk());
  EXPECT_EQ(elf->loads().size(), 2u);
  EXPECT_EQ(elf->phdr_vaddr(), 0x400000u + sizeof(Elf64_Ehdr));
  // A write-only description cannot be read: PRead's EBADF comes through.
  auto wo = Open("/prog", O_WRONLY);
  ASSERT_THAT(wo, IsOk());
  EXPECT_THAT(ElfFile::Read(**wo), ErrnoIs(EBADF));
}

TEST(ElfParseTest, AcceptsTheBuilderDefault) {
  auto elf = ParseBytes(ElfBuilder().Build());
  ASSERT_THAT(elf, IsOk());
  EXPECT_EQ(elf->kind(), ElfKind::kExec);
  EXPECT_EQ(elf->entry(), 0x400100u);
  EXPECT_EQ(elf->max_align(), 0x1000u);
}

TEST(ElfParseTest, BadIdentificationIsEnoexec) {
  EXPECT_THAT(ParseBytes(""), ErrnoIs(ENOEXEC));
  EXPECT_THAT(ParseBytes("\x7f" "ELF"), ErrnoIs(ENOEXEC));  // zeros after
  EXPECT_THAT(ParseBytes(std::string(ElfBuilder().Build()).substr(0, 40)),
              ErrnoIs(ENOEXEC));  // truncated header: no headers
  ElfBuilder magic;
  magic.eh.e_ident[1] = 'X';
  EXPECT_THAT(ParseBytes(magic.Build()), ErrnoIs(ENOEXEC));
  ElfBuilder machine;
  machine.eh.e_machine = EM_AARCH64;
  EXPECT_THAT(ParseBytes(machine.Build()), ErrnoIs(ENOEXEC));
  ElfBuilder i386;
  i386.eh.e_machine = EM_386;
  EXPECT_THAT(ParseBytes(i386.Build()), ErrnoIs(ENOEXEC));
  ElfBuilder type;
  type.eh.e_type = ET_REL;
  EXPECT_THAT(ParseBytes(type.Build()), ErrnoIs(ENOEXEC));
  ElfBuilder core;
  core.eh.e_type = ET_CORE;
  EXPECT_THAT(ParseBytes(core.Build()), ErrnoIs(ENOEXEC));
  ElfBuilder klass;
  klass.eh.e_ident[EI_CLASS] = ELFCLASS32;
  EXPECT_THAT(ParseBytes(klass.Build()), ErrnoIs(ENOEXEC));
  ElfBuilder endian;
  endian.eh.e_ident[EI_DATA] = ELFDATA2MSB;
  EXPECT_THAT(ParseBytes(endian.Build()), ErrnoIs(ENOEXEC));
}

TEST(ElfParseTest, ProgramHeaderTableLimits) {
  ElfBuilder entsize;
  entsize.eh.e_phentsize = sizeof(Elf64_Phdr) - 1;
  EXPECT_THAT(ParseBytes(entsize.Build()), ErrnoIs(ENOEXEC));
  ElfBuilder none;
  none.ph.clear();
  EXPECT_THAT(ParseBytes(none.Build()), ErrnoIs(ENOEXEC));
  // ELF_MIN_ALIGN: 73 headers (4088 bytes) fit in a page, 74 do not.
  ElfBuilder fits;
  fits.file_size = 0x6000;
  while (fits.ph.size() < 73) fits.ph.push_back(Elf64_Phdr{});  // PT_NULL
  fits.ph[0].p_offset = 0;  // text still covers the table
  EXPECT_THAT(ParseBytes(fits.Build()), IsOk());
  ElfBuilder too_many = fits;
  too_many.ph.push_back(Elf64_Phdr{});
  EXPECT_THAT(ParseBytes(too_many.Build()), ErrnoIs(ENOEXEC));
  // e_phnum = 0xffff (PN_XNUM) is far over the page.
  std::string huge = ElfBuilder().Build();
  reinterpret_cast<Elf64_Ehdr*>(huge.data())->e_phnum = 0xffff;
  EXPECT_THAT(ParseBytes(huge), ErrnoIs(ENOEXEC));
  // The table beyond the end of the file, or wrapping around.
  ElfBuilder beyond;
  beyond.eh.e_phoff = beyond.file_size - 8;
  EXPECT_THAT(ParseBytes(beyond.Build()), ErrnoIs(ENOEXEC));
  ElfBuilder wrap;
  wrap.eh.e_phoff = ~uint64_t{0} - 8;
  EXPECT_THAT(ParseBytes(wrap.Build()), ErrnoIs(ENOEXEC));
}

TEST(ElfParseTest, LoadSegmentChecks) {
  ElfBuilder filesz;
  filesz.ph[1].p_filesz = filesz.ph[1].p_memsz + 1;
  EXPECT_THAT(ParseBytes(filesz.Build()), ErrnoIs(EINVAL));
  ElfBuilder misaligned;
  misaligned.ph[1].p_offset = 0x1104;  // vaddr 0x...100: not congruent
  EXPECT_THAT(ParseBytes(misaligned.Build()), ErrnoIs(EINVAL));
  ElfBuilder high;
  high.ph[1].p_vaddr = kTaskSize - 0x1000 + 0x100;  // memsz crosses it
  EXPECT_THAT(ParseBytes(high.Build()), ErrnoIs(EINVAL));
  ElfBuilder wrap;
  wrap.ph[1].p_vaddr = ~uint64_t{0} - 0xeff;
  EXPECT_THAT(ParseBytes(wrap.Build()), ErrnoIs(EINVAL));
  ElfBuilder past_eof;
  past_eof.ph[1].p_offset = 0x5100;
  past_eof.ph[1].p_vaddr = 0x405100;
  EXPECT_THAT(ParseBytes(past_eof.Build()), ErrnoIs(ENOEXEC));
  ElfBuilder overlap;
  overlap.ph[1].p_vaddr = 0x400f00;
  overlap.ph[1].p_offset = 0x1f00;
  EXPECT_THAT(ParseBytes(overlap.Build()), ErrnoIs(ENOEXEC));
  ElfBuilder unsorted;
  std::swap(unsorted.ph[0], unsorted.ph[1]);
  EXPECT_THAT(ParseBytes(unsorted.Build()), ErrnoIs(ENOEXEC));
  ElfBuilder entry;
  entry.eh.e_entry = kTaskSize;
  EXPECT_THAT(ParseBytes(entry.Build()), ErrnoIs(EINVAL));
  // Adjacent segments sharing a page but no byte are fine.
  ElfBuilder adjacent;
  adjacent.ph[1].p_vaddr = 0x401000 + 0x100;
  EXPECT_THAT(ParseBytes(adjacent.Build()), IsOk());
}

TEST(ElfParseTest, InterpreterAndStack) {
  ElfBuilder dynamic;
  dynamic.AddInterp(std::string("/lib64/ld-linux-x86-64.so.2") + '\0');
  auto elf = ParseBytes(dynamic.Build());
  ASSERT_THAT(elf, IsOk());
  EXPECT_EQ(elf->interpreter(), "/lib64/ld-linux-x86-64.so.2");

  ElfBuilder unterminated;
  unterminated.AddInterp("/lib/ld.so");
  EXPECT_THAT(ParseBytes(unterminated.Build()), ErrnoIs(ENOEXEC));
  ElfBuilder tiny;
  tiny.AddInterp(std::string(1, '\0'));
  EXPECT_THAT(ParseBytes(tiny.Build()), ErrnoIs(ENOEXEC));
  ElfBuilder long_path;
  long_path.AddInterp(std::string(PATH_MAX, 'a') + '\0');
  EXPECT_THAT(ParseBytes(long_path.Build()), ErrnoIs(ENOEXEC));
  ElfBuilder cut;  // the path runs past the end of the file: elf_read
  cut.AddInterp(std::string("/ld.so") + '\0', cut.file_size - 3);
  EXPECT_THAT(ParseBytes(cut.Build()), ErrnoIs(EIO));

  ElfBuilder exec_stack;
  exec_stack.ph[2].p_flags |= PF_X;
  EXPECT_EQ(ParseBytes(exec_stack.Build())->stack_exec(),
            StackExec::kExecutable);
  ElfBuilder no_stack;
  no_stack.ph.pop_back();
  EXPECT_EQ(ParseBytes(no_stack.Build())->stack_exec(), StackExec::kDefault);
}

TEST(ElfParseTest, PieAlignmentAndPhdr) {
  ElfBuilder pie;
  pie.eh.e_type = ET_DYN;
  pie.eh.e_entry = 0x100;
  pie.ph[0].p_vaddr = 0;
  pie.ph[1].p_vaddr = 0x1100;
  pie.ph[1].p_align = 0x200000;
  auto elf = ParseBytes(pie.Build());
  ASSERT_THAT(elf, IsOk());
  EXPECT_EQ(elf->kind(), ElfKind::kDyn);
  EXPECT_EQ(elf->max_align(), 0x200000u);
  EXPECT_EQ(elf->phdr_vaddr(), sizeof(Elf64_Ehdr));
  ElfBuilder odd_align = pie;
  odd_align.ph[1].p_align = 0x3000;  // not a power of two: ignored
  EXPECT_EQ(ParseBytes(odd_align.Build())->max_align(), 0x1000u);
  // No PT_LOAD holds the table: AT_PHDR would be just the bias.
  ElfBuilder detached;
  detached.eh.e_phoff = 0x2800;
  EXPECT_EQ(ParseBytes(detached.Build())->phdr_vaddr(), 0u);
}

}  // namespace
}  // namespace veil::sentry::loader::testing
