// SPDX-License-Identifier: Apache-2.0
//
// LoadPlan: the mappings of hand-made executables, Linux's argument
// limits, and the initial stack checked word by word.
#include "sentry/loader/load_plan.h"
#include "sentry/loader/prepare_exec.h"

#include <elf.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>
#include <fstream>

#include "tests/unit/sentry/loader/elf_builder.h"
#include "tests/unit/vfs/fixture.h"

namespace veil::sentry::loader::testing {
namespace {

using ::testing::ElementsAreArray;
using ::veil::testing::ErrnoIs;
using ::veil::testing::IsOk;

constexpr std::array<uint8_t, 16> kRandom = {1, 2,  3,  4,  5,  6,  7,  8,
                                             9, 10, 11, 12, 13, 14, 15, 16};

class LoadPlanTest : public vfs::testing::VfsTest {
 protected:
  LoadPlanTest() {
    options_.random = kRandom;
    options_.hwcap = 0x1234;
    options_.hwcap2 = 2;
    options_.minsigstksz = 3632;
    options_.uid = 1;
    options_.euid = 2;
    options_.gid = 3;
    options_.egid = 4;
  }

  Result<LoadPlan> Plan(const ElfBuilder& b, const ExecArgs& args) {
    WriteFile("/prog", b.Build(), 0755);
    auto file = Open("/prog", O_RDONLY);
    if (!file) return file.error();
    auto elf = ElfFile::Read(**file);
    if (!elf) return elf.error();
    return MakeLoadPlan(*elf, *file, args, options_);
  }
  Result<LoadPlan> Plan(const ElfBuilder& b) { return Plan(b, args_); }

  LoadOptions options_;
  ExecArgs args_{{"prog", "-x"}, {"A=1", "HOME=/root"}, "/bin/prog"};
};

// Reads the stack image of `plan` as the task will see it.
struct StackReader {
  const LoadPlan& plan;
  uint64_t Word(uint64_t addr) const {
    uint64_t w;
    EXPECT_GE(addr, plan.stack_image_addr);
    EXPECT_LE(addr + 8, plan.stack_end);
    std::memcpy(&w, plan.stack_image.data() + (addr - plan.stack_image_addr),
                8);
    return w;
  }
  std::string String(uint64_t addr) const {
    EXPECT_GE(addr, plan.stack_image_addr);
    EXPECT_LT(addr, plan.stack_end);
    return std::string(reinterpret_cast<const char*>(
        plan.stack_image.data() + (addr - plan.stack_image_addr)));
  }
};

TEST_F(LoadPlanTest, StaticExecutableMappings) {
  auto plan = Plan(ElfBuilder());
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->load_bias, 0u);
  EXPECT_EQ(plan->entry, 0x400100u);
  EXPECT_EQ(plan->phdr_addr, 0x400040u);
  ASSERT_EQ(plan->mappings.size(), 3u);
  const Mapping& text = plan->mappings[0];
  EXPECT_EQ(text.addr, 0x400000u);
  EXPECT_EQ(text.length, 0x1000u);
  EXPECT_EQ(text.prot, uint32_t{PROT_READ | PROT_EXEC});
  EXPECT_EQ(text.file, 0);
  EXPECT_EQ(text.file_offset, 0u);
  EXPECT_EQ(text.zero_length, 0u);
  const Mapping& data = plan->mappings[1];
  EXPECT_EQ(data.addr, 0x401000u);
  EXPECT_EQ(data.length, 0x1000u);
  EXPECT_EQ(data.prot, uint32_t{PROT_READ | PROT_WRITE});
  EXPECT_EQ(data.file_offset, 0x1000u);
  EXPECT_EQ(data.zero_addr, 0x401200u);  // padzero from p_filesz
  EXPECT_EQ(data.zero_length, 0xe00u);
  EXPECT_EQ(data.overlap, MapOverlap::kNoReplace);
  const Mapping& bss = plan->mappings[2];
  EXPECT_EQ(bss.addr, 0x402000u);
  EXPECT_EQ(bss.length, 0x2000u);  // up to 0x403100, page rounded
  EXPECT_EQ(bss.file, -1);
  EXPECT_EQ(plan->brk_start, 0x404000u);
  EXPECT_EQ(plan->stack_end, kTaskSize);
  EXPECT_EQ(plan->stack_end - plan->stack_start, kStkLim);
  EXPECT_EQ(plan->stack_prot, uint32_t{PROT_READ | PROT_WRITE});
}

TEST_F(LoadPlanTest, SharedPageReplacesAndReadOnlyBssIsNotZeroed) {
  ElfBuilder b;
  b.ph[0].p_filesz = b.ph[0].p_memsz = 0x800;
  b.ph[1] = ElfBuilder::Load(0x400900, 0x900, 0x100, 0x200, PF_R);
  auto plan = Plan(b);
  ASSERT_THAT(plan, IsOk());
  ASSERT_EQ(plan->mappings.size(), 2u);
  EXPECT_EQ(plan->mappings[1].addr, 0x400000u);
  EXPECT_EQ(plan->mappings[1].overlap, MapOverlap::kReplace);
  EXPECT_EQ(plan->mappings[1].zero_length, 0u);  // not writable
}

TEST_F(LoadPlanTest, PieGetsALoadBias) {
  ElfBuilder b;
  b.eh.e_type = ET_DYN;
  b.eh.e_entry = 0x100;
  b.ph[0].p_vaddr = 0;
  b.ph[1].p_vaddr = 0x1100;
  b.ph[1].p_align = 0x200000;
  options_.dyn_base = 0x555555554000;
  auto plan = Plan(b);
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->load_bias, 0x555555400000u);  // aligned to 2 MiB
  EXPECT_EQ(plan->entry, 0x555555400100u);
  EXPECT_EQ(plan->phdr_addr, 0x555555400040u);
  EXPECT_EQ(plan->mappings[0].addr, 0x555555400000u);
  // A first p_vaddr above the base wraps the bias: BAD_ADDR, EINVAL.
  b.ph[0].p_vaddr = 0x600000000000;
  b.ph[1].p_vaddr = 0x600000001100;
  EXPECT_THAT(Plan(b), ErrnoIs(EINVAL));
}

TEST_F(LoadPlanTest, RefusesDynamicProgramsAndCollisions) {
  ElfBuilder dynamic;
  dynamic.AddInterp(std::string("/lib/ld.so") + '\0');
  EXPECT_THAT(Plan(dynamic), ErrnoIs(ENOEXEC));  // no interpreter given
  ElfBuilder in_stub;
  in_stub.ph[1].p_vaddr = kStubRegionStart + 0x100;
  EXPECT_THAT(Plan(in_stub), ErrnoIs(ENOMEM));
  ElfBuilder in_stack;
  in_stack.ph[1].p_vaddr = kTaskSize - 0x100000 + 0x100;
  EXPECT_THAT(Plan(in_stack), ErrnoIs(ENOMEM));
  options_.stack_top = kTaskSize + kPageSize;
  EXPECT_THAT(Plan(ElfBuilder()), ErrnoIs(EINVAL));
}

TEST_F(LoadPlanTest, ExecutableStackWhenAsked) {
  ElfBuilder b;
  b.ph[2].p_flags |= PF_X;
  auto plan = Plan(b);
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->stack_prot, uint32_t{PROT_READ | PROT_WRITE | PROT_EXEC});
}

TEST_F(LoadPlanTest, ArgumentLimitsAreLinuxs) {
  // MAX_ARG_STRLEN counts the NUL.
  ExecArgs args = args_;
  args.argv.push_back(std::string(kMaxArgStrlen - 1, 'a'));
  EXPECT_THAT(Plan(ElfBuilder(), args), IsOk());
  args.argv.back().push_back('a');
  EXPECT_THAT(Plan(ElfBuilder(), args), ErrnoIs(E2BIG));
  args = args_;
  args.envp.push_back("K=" + std::string(kMaxArgStrlen, 'v'));
  EXPECT_THAT(Plan(ElfBuilder(), args), ErrnoIs(E2BIG));
  // The total: a quarter of the 8 MiB rlimit, 2 MiB, pointers included.
  args = args_;
  const std::string chunk(100000, 'c');
  while (args.argv.size() < 30) args.argv.push_back(chunk);
  EXPECT_THAT(Plan(ElfBuilder(), args), ErrnoIs(E2BIG));
  options_.stack_rlimit = 64ull << 20;  // 16 MiB / 4, capped at 6 MiB
  EXPECT_THAT(Plan(ElfBuilder(), args), IsOk());
  // A tiny rlimit still allows ARG_MAX (128 KiB) of strings.
  options_.stack_rlimit = 64 << 10;
  args = args_;
  args.argv.push_back(std::string(100000, 'd'));
  EXPECT_THAT(Plan(ElfBuilder(), args), IsOk());
  args.argv.push_back(std::string(40000, 'e'));
  EXPECT_THAT(Plan(ElfBuilder(), args), ErrnoIs(E2BIG));
}

TEST_F(LoadPlanTest, StackLayoutWordByWord) {
  options_.vdso = VdsoSource::kAddress;
  options_.vdso_addr = 0x7fff12345000;
  auto plan = Plan(ElfBuilder());
  ASSERT_THAT(plan, IsOk());
  StackReader st{*plan};
  const uint64_t sp = plan->initial_rsp;
  EXPECT_EQ(sp % 16, 0u);
  EXPECT_EQ(plan->stack_image_addr, sp);
  EXPECT_EQ(plan->stack_image_addr + plan->stack_image.size(),
            plan->stack_end);
  EXPECT_EQ(st.Word(plan->stack_end - 8), 0u);  // the top word

  uint64_t at = sp;
  auto next = [&] {
    const uint64_t w = st.Word(at);
    at += 8;
    return w;
  };
  ASSERT_EQ(next(), 2u);  // argc
  const uint64_t argv0 = next(), argv1 = next();
  EXPECT_EQ(st.String(argv0), "prog");
  EXPECT_EQ(st.String(argv1), "-x");
  EXPECT_EQ(next(), 0u);
  const uint64_t env0 = next(), env1 = next();
  EXPECT_EQ(st.String(env0), "A=1");
  EXPECT_EQ(st.String(env1), "HOME=/root");
  EXPECT_EQ(next(), 0u);
  // Strings in Linux's order: argv[0] lowest, then envp, then execfn.
  EXPECT_LT(argv0, argv1);
  EXPECT_LT(argv1, env0);
  EXPECT_LT(env1, plan->execfn_addr);

  std::vector<uint64_t> keys;
  std::map<uint64_t, uint64_t> aux;
  for (;;) {
    const uint64_t key = next(), value = next();
    keys.push_back(key);
    aux[key] = value;
    if (key == AT_NULL) break;
  }
  EXPECT_EQ(aux[AT_SYSINFO_EHDR], 0x7fff12345000u);
  EXPECT_EQ(aux[AT_MINSIGSTKSZ], 3632u);
  EXPECT_EQ(aux[AT_HWCAP], 0x1234u);
  EXPECT_EQ(aux[AT_PAGESZ], 4096u);
  EXPECT_EQ(aux[AT_CLKTCK], 100u);
  EXPECT_EQ(aux[AT_PHDR], 0x400040u);
  EXPECT_EQ(aux[AT_PHENT], sizeof(Elf64_Phdr));
  EXPECT_EQ(aux[AT_PHNUM], 3u);
  EXPECT_EQ(aux[AT_BASE], 0u);
  EXPECT_EQ(aux[AT_FLAGS], 0u);
  EXPECT_EQ(aux[AT_ENTRY], 0x400100u);
  EXPECT_EQ(aux[AT_UID], 1u);
  EXPECT_EQ(aux[AT_EUID], 2u);
  EXPECT_EQ(aux[AT_GID], 3u);
  EXPECT_EQ(aux[AT_EGID], 4u);
  EXPECT_EQ(aux[AT_SECURE], 0u);
  EXPECT_EQ(aux[AT_HWCAP2], 2u);
  EXPECT_EQ(st.String(aux[AT_EXECFN]), "/bin/prog");
  EXPECT_EQ(st.String(aux[AT_PLATFORM]), "x86_64");
  ASSERT_EQ(aux[AT_RANDOM], plan->random_addr);
  EXPECT_EQ(std::memcmp(plan->stack_image.data() +
                            (aux[AT_RANDOM] - plan->stack_image_addr),
                        kRandom.data(), 16),
            0);
  // AT_RANDOM's bytes lie above the tables, inside the image.
  EXPECT_GE(aux[AT_RANDOM], at);
  EXPECT_LE(aux[AT_RANDOM] + 16, plan->stack_end);

  // The keys in the order this host's kernel gives them to us.
  std::ifstream in("/proc/self/auxv", std::ios::binary);
  std::vector<uint64_t> host_keys;
  for (uint64_t pair[2]; in.read(reinterpret_cast<char*>(pair), 16);) {
    host_keys.push_back(pair[0]);
    if (pair[0] == AT_NULL) break;
  }
  if (!host_keys.empty() && host_keys[0] == AT_SYSINFO_EHDR) {
    EXPECT_THAT(keys, ElementsAreArray(host_keys));
  }
}

TEST_F(LoadPlanTest, EmptyArgvGetsAnEmptyArgvZero) {
  ExecArgs args{{}, {}, "/p"};
  auto plan = Plan(ElfBuilder(), args);
  ASSERT_THAT(plan, IsOk());
  StackReader st{*plan};
  EXPECT_EQ(st.Word(plan->initial_rsp), 1u);
  EXPECT_EQ(st.String(st.Word(plan->initial_rsp + 8)), "");
  EXPECT_EQ(st.Word(plan->initial_rsp + 16), 0u);
}

TEST_F(LoadPlanTest, VdsoSlotForTheStub) {
  options_.vdso = VdsoSource::kFromStub;
  auto plan = Plan(ElfBuilder());
  ASSERT_THAT(plan, IsOk());
  ASSERT_TRUE(plan->vdso_slot.has_value());
  StackReader st{*plan};
  const uint64_t slot = plan->stack_image_addr + *plan->vdso_slot;
  EXPECT_EQ(st.Word(slot - 8), uint64_t{AT_SYSINFO_EHDR});
  EXPECT_EQ(st.Word(slot), 0u);
  options_.vdso = VdsoSource::kNone;
  auto none = Plan(ElfBuilder());
  ASSERT_THAT(none, IsOk());
  EXPECT_FALSE(none->vdso_slot.has_value());
  EXPECT_NE(StackReader{*none}.Word(none->initial_rsp + 6 * 8),
            uint64_t{AT_SYSINFO_EHDR});
}

TEST_F(LoadPlanTest, RandomBytesComeFromGetrandom) {
  options_.random.reset();
  auto a = Plan(ElfBuilder());
  auto b = Plan(ElfBuilder());
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_NE(a->stack_image, b->stack_image);
}

}  // namespace
}  // namespace veil::sentry::loader::testing

namespace veil::sentry::loader::testing {
namespace {

class PrepareExecTest : public LoadPlanTest {
 protected:
  OpenExecFn Opener() {
    return [this](std::string_view path) { return Open(path, O_RDONLY); };
  }
  Result<LoadPlan> Prepare(std::string path, std::vector<std::string> argv) {
    return PrepareExec(Opener(), {std::move(path), std::move(argv), {}},
                       options_);
  }
  // argv of `plan`, read back from its stack.
  static std::vector<std::string> Argv(const LoadPlan& plan) {
    StackReader st{plan};
    std::vector<std::string> out;
    const uint64_t argc = st.Word(plan.initial_rsp);
    for (uint64_t i = 0; i < argc; ++i) {
      out.push_back(st.String(st.Word(plan.initial_rsp + 8 + 8 * i)));
    }
    return out;
  }
};

TEST_F(PrepareExecTest, FollowsScriptsAndRewritesArgv) {
  WriteFile("/prog", ElfBuilder().Build(), 0755);
  WriteFile("/s0", "#!/prog -a b\n", 0755);
  WriteFile("/s1", "#! /s0\n", 0755);
  auto plan = Prepare("/s1", {"name", "x"});
  ASSERT_THAT(plan, IsOk());
  EXPECT_THAT(Argv(*plan),
              ::testing::ElementsAre("/prog", "-a b", "/s0", "/s1", "x"));
  // AT_EXECFN stays the path exec was given.
  EXPECT_EQ(StackReader{*plan}.String(plan->execfn_addr), "/s1");
  EXPECT_EQ(plan->entry, 0x400100u);
}

TEST_F(PrepareExecTest, DepthLimitAndErrors) {
  WriteFile("/prog", ElfBuilder().Build(), 0755);
  WriteFile("/s0", "#!/prog\n", 0755);
  for (int i = 1; i <= 6; ++i) {
    WriteFile("/s" + std::to_string(i),
              "#!/s" + std::to_string(i - 1) + "\n", 0755);
  }
  // Five scripts deep runs (as on this host); six is ELOOP.
  EXPECT_THAT(Prepare("/s4", {"s4"}), IsOk());
  EXPECT_THAT(Prepare("/s5", {"s5"}), ErrnoIs(ELOOP));
  EXPECT_THAT(Prepare("/missing", {"m"}), ErrnoIs(ENOENT));
  WriteFile("/bad", "#!/missing\n", 0755);
  EXPECT_THAT(Prepare("/bad", {"bad"}), ErrnoIs(ENOENT));
  WriteFile("/text", "hello\n", 0755);
  EXPECT_THAT(Prepare("/text", {"text"}), ErrnoIs(ENOEXEC));
  WriteFile("/empty", "", 0755);
  EXPECT_THAT(Prepare("/empty", {"e"}), ErrnoIs(ENOEXEC));
}

// A dynamic program: its interpreter (ET_DYN) is mapped at kInterpBase
// and started; AT_BASE and AT_ENTRY say where it and the program are.
TEST_F(PrepareExecTest, MapsTheInterpreterOfADynamicProgram) {
  ElfBuilder interp;
  interp.eh.e_type = ET_DYN;
  interp.eh.e_entry = 0x120;
  interp.ph[0] = ElfBuilder::Load(0, 0, 0x1000, 0x1000, PF_R | PF_X);
  interp.ph[1] = ElfBuilder::Load(0x1100, 0x1100, 0x100, 0x2000, PF_R | PF_W);
  ASSERT_THAT(Mkdir("/lib"), IsOk());
  WriteFile("/lib/ld.so", interp.Build(), 0755);
  ElfBuilder prog;
  prog.AddInterp(std::string("/lib/ld.so") + '\0');
  WriteFile("/prog", prog.Build(), 0755);

  auto plan = Prepare("/prog", {"prog"});
  ASSERT_THAT(plan, IsOk());
  ASSERT_EQ(plan->files.size(), 2u);
  EXPECT_EQ(plan->interp_base, kInterpBase);
  EXPECT_EQ(plan->entry, kInterpBase + 0x120);
  EXPECT_EQ(plan->program_entry, 0x400100u);
  std::vector<std::pair<uint64_t, int32_t>> where;
  for (const Mapping& m : plan->mappings) where.emplace_back(m.addr, m.file);
  EXPECT_THAT(where, ::testing::Contains(std::pair<uint64_t, int32_t>(
                         kInterpBase, 1)));
  EXPECT_THAT(where, ::testing::Contains(std::pair<uint64_t, int32_t>(
                         0x400000, 0)));
  // The heap follows the program, not the interpreter.
  EXPECT_EQ(plan->brk_start, 0x404000u);

  StackReader st{*plan};
  uint64_t at = plan->initial_rsp + 8 * 4;  // argc, argv[0], NULL, NULL
  std::map<uint64_t, uint64_t> aux;
  for (;;) {
    const uint64_t key = st.Word(at), value = st.Word(at + 8);
    at += 16;
    aux[key] = value;
    if (key == AT_NULL) break;
  }
  EXPECT_EQ(aux[AT_BASE], kInterpBase);
  EXPECT_EQ(aux[AT_ENTRY], 0x400100u);
  EXPECT_EQ(aux[AT_PHDR], 0x400040u);

  // The interpreter is opened as exec opens files; one that is not an ELF
  // this machine runs is ELIBBAD (load_elf_binary).
  WriteFile("/lib/ld.so", "#!/bin/sh\n", 0755);
  EXPECT_THAT(Prepare("/prog", {"prog"}), ErrnoIs(ELIBBAD));
  ElfBuilder missing;
  missing.AddInterp(std::string("/lib/none.so") + '\0');
  WriteFile("/prog2", missing.Build(), 0755);
  EXPECT_THAT(Prepare("/prog2", {"prog2"}), ErrnoIs(ENOENT));
}

}  // namespace
}  // namespace veil::sentry::loader::testing
