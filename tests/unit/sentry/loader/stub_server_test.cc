// SPDX-License-Identifier: Apache-2.0
//
// The plan's wire form (round trip, and every way a buffer can be bad) and
// StubServer's answers, over a recording Platform with one flat piece of
// task memory.
#include "sentry/loader/stub_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/syscall.h>

#include <cstring>

#include "sentry/loader/plan_codec.h"
#include "tests/unit/sentry/loader/elf_builder.h"
#include "tests/unit/vfs/fixture.h"

namespace veil::sentry::loader::testing {
namespace {

using ::veil::testing::ErrnoIs;
using ::veil::testing::IsOk;
using ::veil::testing::IsOkAndHolds;

// Task memory [base, base + size); answers recorded; InstallFd answers
// with next_fd.
class RecordingPlatform final : public Platform {
 public:
  RecordingPlatform(uint64_t base, size_t size) : base_(base), mem_(size) {}

  Result<SyscallRequest> Receive() override { return Errno(ECANCELED); }
  Result<size_t> ReadMemory(const SyscallRequest&, TaskAddr addr,
                            std::span<uint8_t> out) override {
    if (addr.value() < base_ || addr.value() >= base_ + mem_.size()) {
      return Errno(EFAULT);
    }
    const size_t n = std::min(out.size(), base_ + mem_.size() - addr.value());
    std::memcpy(out.data(), mem_.data() + (addr.value() - base_), n);
    return n;
  }
  Result<size_t> WriteMemory(const SyscallRequest&, TaskAddr addr,
                             std::span<const uint8_t> in) override {
    if (addr.value() < base_ || addr.value() >= base_ + mem_.size()) {
      return Errno(EFAULT);
    }
    const size_t n = std::min(in.size(), base_ + mem_.size() - addr.value());
    std::memcpy(mem_.data() + (addr.value() - base_), in.data(), n);
    return n;
  }
  bool StillPending(const SyscallRequest&) override { return true; }
  Result<int64_t> Answer(const SyscallRequest&,
                         const SyscallAnswer& answer) override {
    answers.push_back(answer);
    if (interrupt_next) {
      interrupt_next = false;
      return Errno(ENOENT);
    }
    switch (answer.kind()) {
      case SyscallAnswer::Kind::kInstallFd:
        return next_fd++;
      case SyscallAnswer::Kind::kValue:
        return answer.value();
      case SyscallAnswer::Kind::kError:
        return -answer.error();
      case SyscallAnswer::Kind::kContinue:
        return 0;
    }
    return 0;
  }

  std::span<const uint8_t> Memory(size_t n) const { return {mem_.data(), n}; }

  std::vector<SyscallAnswer> answers;
  int next_fd = 3;
  bool interrupt_next = false;

 private:
  uint64_t base_;
  std::vector<uint8_t> mem_;
};

SyscallRequest Call(int nr, uint64_t a0 = 0, uint64_t a1 = 0,
                    uint64_t a2 = 0) {
  SyscallRequest req;
  req.id = 1;
  req.tid = 100;
  req.nr = nr;
  req.args = {a0, a1, a2, 0, 0, 0};
  return req;
}

class StubServerTest : public vfs::testing::VfsTest {
 protected:
  void SetUp() override {
    WriteFile("/prog", ElfBuilder().Build(), 0755);
    auto file = Open("/prog", O_RDONLY);
    ASSERT_THAT(file, IsOk());
    auto elf = ElfFile::Read(**file);
    ASSERT_THAT(elf, IsOk());
    LoadOptions options;
    options.vdso = VdsoSource::kFromStub;
    auto plan = MakeLoadPlan(*elf, *file, {{"prog"}, {"A=1"}, "/prog"},
                             options);
    ASSERT_THAT(plan, IsOk());
    plan_.emplace(std::move(*plan));
  }

  std::optional<LoadPlan> plan_;
};

TEST_F(StubServerTest, PlanRoundTrip) {
  const std::vector<uint64_t> offsets = {0x10000};
  auto wire = EncodePlan(*plan_, offsets, 0x7fff00001000);
  ASSERT_THAT(wire, IsOk());
  auto back = DecodePlan(*wire);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->header.entry, plan_->entry);
  EXPECT_EQ(back->header.initial_rsp, plan_->initial_rsp);
  EXPECT_EQ(back->header.stack_start, plan_->stack_start);
  EXPECT_EQ(back->header.stack_end, plan_->stack_end);
  EXPECT_EQ(back->header.nfiles, 1u);
  ASSERT_EQ(back->mappings.size(), plan_->mappings.size());
  for (size_t i = 0; i < back->mappings.size(); ++i) {
    const Mapping& m = plan_->mappings[i];
    const veil_stub_mapping& w = back->mappings[i];
    EXPECT_EQ(w.addr, m.addr);
    EXPECT_EQ(w.length, m.length);
    EXPECT_EQ(w.prot, m.prot);
    EXPECT_EQ(w.file, m.file);
    // The host offset of the file's bytes is added.
    EXPECT_EQ(w.file_offset, m.file >= 0 ? 0x10000 + m.file_offset : 0);
    EXPECT_EQ(w.zero_addr, m.zero_addr);
    EXPECT_EQ(w.zero_length, m.zero_length);
  }
  // The image, with the reported vDSO in its slot.
  ASSERT_EQ(back->stack_image.size(), plan_->stack_image.size());
  uint64_t vdso;
  std::memcpy(&vdso, back->stack_image.data() + *plan_->vdso_slot, 8);
  EXPECT_EQ(vdso, 0x7fff00001000u);
  std::memcpy(back->stack_image.data() + *plan_->vdso_slot, "\0\0\0\0\0\0\0\0",
              8);
  EXPECT_EQ(back->stack_image, plan_->stack_image);
}

TEST_F(StubServerTest, DecodeRejectsTruncatedAndCorruptPlans) {
  auto wire = EncodePlan(*plan_, std::vector<uint64_t>{0}, 0);
  ASSERT_THAT(wire, IsOk());
  // Every proper prefix, and one byte too many.
  for (size_t n = 0; n < wire->size(); n += (n < 512 ? 1 : 97)) {
    EXPECT_THAT(DecodePlan({wire->data(), n}), ErrnoIs(EINVAL)) << n;
  }
  std::vector<uint8_t> longer = *wire;
  longer.push_back(0);
  EXPECT_THAT(DecodePlan(longer), ErrnoIs(EINVAL));

  auto corrupt = [&](size_t offset, auto value) {
    std::vector<uint8_t> bad = *wire;
    std::memcpy(bad.data() + offset, &value, sizeof(value));
    return DecodePlan(bad);
  };
  using H = veil_stub_plan_header;
  using M = veil_stub_mapping;
  const size_t m0 = sizeof(H);
  EXPECT_THAT(corrupt(offsetof(H, magic), uint64_t{1}), ErrnoIs(EINVAL));
  EXPECT_THAT(corrupt(offsetof(H, version), uint32_t{2}), ErrnoIs(EINVAL));
  EXPECT_THAT(corrupt(offsetof(H, nmappings), uint32_t{100000}),
              ErrnoIs(EINVAL));
  EXPECT_THAT(corrupt(offsetof(H, nfiles), uint32_t{5}), ErrnoIs(EINVAL));
  EXPECT_THAT(corrupt(offsetof(H, entry), uint64_t{kTaskSize}),
              ErrnoIs(EINVAL));
  EXPECT_THAT(corrupt(offsetof(H, initial_rsp), plan_->initial_rsp + 8),
              ErrnoIs(EINVAL));
  EXPECT_THAT(corrupt(offsetof(H, stack_end), plan_->stack_end + 4096),
              ErrnoIs(EINVAL));
  EXPECT_THAT(corrupt(offsetof(H, stack_image_len), uint64_t{1} << 40),
              ErrnoIs(EINVAL));
  EXPECT_THAT(corrupt(m0 + offsetof(M, addr), uint64_t{0x400001}),
              ErrnoIs(EINVAL));
  EXPECT_THAT(corrupt(m0 + offsetof(M, addr), uint64_t{kTaskSize}),
              ErrnoIs(EINVAL));
  EXPECT_THAT(corrupt(m0 + offsetof(M, length), uint64_t{0}),
              ErrnoIs(EINVAL));
  EXPECT_THAT(corrupt(m0 + offsetof(M, file), int32_t{1}), ErrnoIs(EINVAL));
  EXPECT_THAT(corrupt(m0 + offsetof(M, file), int32_t{-2}), ErrnoIs(EINVAL));
  EXPECT_THAT(corrupt(m0 + offsetof(M, prot), uint32_t{8}), ErrnoIs(EINVAL));
  EXPECT_THAT(corrupt(m0 + offsetof(M, flags), uint32_t{2}), ErrnoIs(EINVAL));
  // A zero range on the read-only text, or outside the data mapping.
  EXPECT_THAT(corrupt(m0 + offsetof(M, zero_length), uint64_t{16}),
              ErrnoIs(EINVAL));
  const size_t m1 = m0 + sizeof(M);
  EXPECT_THAT(corrupt(m1 + offsetof(M, zero_length), uint64_t{0x1000}),
              ErrnoIs(EINVAL));
  EXPECT_THAT(corrupt(m1 + offsetof(M, zero_addr), uint64_t{0x400000}),
              ErrnoIs(EINVAL));
}

TEST_F(StubServerTest, EncodeRefusesBadOffsets) {
  EXPECT_THAT(EncodePlan(*plan_, std::vector<uint64_t>{}, 0),
              ErrnoIs(EINVAL));
  EXPECT_THAT(EncodePlan(*plan_, std::vector<uint64_t>{100}, 0),
              ErrnoIs(EINVAL));
}

TEST_F(StubServerTest, ServesThePlanIntoTheStubsBuffer) {
  RecordingPlatform platform(0x10000, 1 << 20);
  auto server = StubServer::Create(platform, *plan_);
  ASSERT_THAT(server, IsOk());
  // Too small a buffer: the size only, nothing written.
  ASSERT_THAT(server->Serve(Call(VEIL_STUB_NR_GET_PLAN, 0x10000, 16, 0)),
              IsOkAndHolds(StubServer::Outcome::kServed));
  ASSERT_EQ(platform.answers.size(), 1u);
  const int64_t size = platform.answers[0].value();
  EXPECT_GT(size, 16);
  EXPECT_THAT(platform.Memory(8), ::testing::Each(0));
  // Big enough: the plan, with the stub's vDSO in it.
  ASSERT_THAT(server->Serve(Call(VEIL_STUB_NR_GET_PLAN, 0x10000, 1 << 20,
                                 0x7fff00002000)),
              IsOk());
  EXPECT_EQ(platform.answers[1].value(), size);
  auto decoded = DecodePlan(platform.Memory(size));
  ASSERT_THAT(decoded, IsOk());
  uint64_t vdso;
  std::memcpy(&vdso, decoded->stack_image.data() + *plan_->vdso_slot, 8);
  EXPECT_EQ(vdso, 0x7fff00002000u);
  // A vDSO that is not a page-aligned user address reads as none.
  ASSERT_THAT(server->Serve(Call(VEIL_STUB_NR_GET_PLAN, 0x10000, 1 << 20,
                                 0x7fff00002001)),
              IsOk());
  decoded = DecodePlan(platform.Memory(size));
  std::memcpy(&vdso, decoded->stack_image.data() + *plan_->vdso_slot, 8);
  EXPECT_EQ(vdso, 0u);
}

TEST_F(StubServerTest, BadBuffersAreEfault) {
  RecordingPlatform platform(0x10000, 256);  // smaller than the plan
  auto server = StubServer::Create(platform, *plan_);
  ASSERT_THAT(server, IsOk());
  // Runs off the end of task memory: a short write.
  ASSERT_THAT(server->Serve(Call(VEIL_STUB_NR_GET_PLAN, 0x10000, 1 << 20)),
              IsOk());
  // Wraps around the address space.
  ASSERT_THAT(server->Serve(Call(VEIL_STUB_NR_GET_PLAN, ~uint64_t{0} - 10,
                                 ~uint64_t{0})),
              IsOk());
  // Unmapped.
  ASSERT_THAT(server->Serve(Call(VEIL_STUB_NR_GET_PLAN, 0x1000, 1 << 20)),
              IsOk());
  ASSERT_EQ(platform.answers.size(), 3u);
  for (const SyscallAnswer& a : platform.answers) {
    EXPECT_EQ(a.kind(), SyscallAnswer::Kind::kError);
    EXPECT_EQ(a.error(), EFAULT);
  }
}

TEST_F(StubServerTest, FdsAndClose) {
  RecordingPlatform platform(0x10000, 4096);
  auto server = StubServer::Create(platform, *plan_);
  ASSERT_THAT(server, IsOk());
  ASSERT_THAT(server->Serve(Call(VEIL_STUB_NR_GET_FD, 1)), IsOk());
  EXPECT_EQ(platform.answers.back().error(), EBADF);  // no file 1
  ASSERT_THAT(server->Serve(Call(VEIL_STUB_NR_GET_FD, 0)), IsOk());
  const SyscallAnswer& install = platform.answers.back();
  ASSERT_EQ(install.kind(), SyscallAnswer::Kind::kInstallFd);
  EXPECT_EQ(install.placement(), FdPlacement::kLowest);
  EXPECT_EQ(install.cloexec(), CloseOnExec::kYes);
  EXPECT_GE(install.host_fd(), 0);
  EXPECT_EQ(server->open_fds(), std::vector<int>{3});
  // close of another fd is not the stub's business.
  EXPECT_THAT(server->Serve(Call(SYS_close, 4)),
              IsOkAndHolds(StubServer::Outcome::kNotStub));
  EXPECT_THAT(server->Serve(Call(SYS_close, 3)),
              IsOkAndHolds(StubServer::Outcome::kServed));
  EXPECT_EQ(platform.answers.back().kind(), SyscallAnswer::Kind::kContinue);
  EXPECT_TRUE(server->open_fds().empty());
  EXPECT_THAT(server->Serve(Call(SYS_close, 3)),
              IsOkAndHolds(StubServer::Outcome::kNotStub));
  // An interrupted GET_FD installs nothing and is not an error.
  platform.interrupt_next = true;
  EXPECT_THAT(server->Serve(Call(VEIL_STUB_NR_GET_FD, 0)),
              IsOkAndHolds(StubServer::Outcome::kServed));
  EXPECT_TRUE(server->open_fds().empty());
  EXPECT_THAT(server->Serve(Call(SYS_getpid)),
              IsOkAndHolds(StubServer::Outcome::kNotStub));
}

TEST_F(StubServerTest, FailureIsRecorded) {
  RecordingPlatform platform(0x10000, 4096);
  auto server = StubServer::Create(platform, *plan_);
  ASSERT_THAT(server, IsOk());
  EXPECT_THAT(server->Serve(Call(VEIL_STUB_NR_FAIL, VEIL_STUB_STEP_MAP, 17)),
              IsOkAndHolds(StubServer::Outcome::kFailed));
  ASSERT_TRUE(server->failure().has_value());
  EXPECT_EQ(server->failure()->step, VEIL_STUB_STEP_MAP);
  EXPECT_EQ(server->failure()->error, 17);
}

}  // namespace
}  // namespace veil::sentry::loader::testing
