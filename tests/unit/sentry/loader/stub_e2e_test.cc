// SPDX-License-Identifier: Apache-2.0
//
// End to end: the real stub (veil-exec-stub from the build directory),
// exec'd by the host kernel under a seccomp filter that notifies only the
// stub's numbers and close, loads /bin/busybox from a tmpfs file through
// StubServer and runs `busybox echo hello`.
//
// The supervisor here is test-only (the sentry's platform is another part
// of #12): a fork, a filter with a listener sent back over a socketpair,
// and a small Platform over that listener.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <fstream>
#include <sstream>

#include "base/unique_fd.h"
#include "sentry/loader/prepare_exec.h"
#include "sentry/loader/stub_binary.h"
#include "sentry/loader/stub_protocol.h"
#include "sentry/loader/stub_server.h"
#include "tests/unit/sentry/loader/elf_builder.h"
#include "tests/unit/vfs/fixture.h"

namespace veil::sentry::loader::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::veil::testing::IsOk;

// A Platform over a seccomp listener; test-only, one task.
class ListenerPlatform final : public Platform {
 public:
  explicit ListenerPlatform(int listener) : listener_(listener) {}

  // ECANCELED once no task uses the filter; ETIMEDOUT after a minute of
  // silence (a hang guard, not an assertion about speed).
  Result<SyscallRequest> Receive() override {
    pollfd p{listener_, POLLIN, 0};
    const int n = poll(&p, 1, 60000);
    if (n == 0) return Errno(ETIMEDOUT);
    if (n < 0) return Errno::FromErrno();
    if (!(p.revents & POLLIN)) return Errno(ECANCELED);
    seccomp_notif notif{};
    if (ioctl(listener_, SECCOMP_IOCTL_NOTIF_RECV, &notif) < 0) {
      return Errno::FromErrno();
    }
    SyscallRequest req;
    req.id = notif.id;
    req.tid = static_cast<pid_t>(notif.pid);
    req.nr = notif.data.nr;
    for (int i = 0; i < 6; ++i) req.args[i] = notif.data.args[i];
    req.instruction_pointer = notif.data.instruction_pointer;
    return req;
  }
  Result<size_t> ReadMemory(const SyscallRequest& req, TaskAddr addr,
                            std::span<uint8_t> out) override {
    iovec local{out.data(), out.size()};
    iovec remote{reinterpret_cast<void*>(addr.value()), out.size()};
    const ssize_t n = process_vm_readv(req.tid, &local, 1, &remote, 1, 0);
    if (n < 0) return Errno::FromErrno();
    return static_cast<size_t>(n);
  }
  Result<size_t> WriteMemory(const SyscallRequest& req, TaskAddr addr,
                             std::span<const uint8_t> in) override {
    iovec local{const_cast<uint8_t*>(in.data()), in.size()};
    iovec remote{reinterpret_cast<void*>(addr.value()), in.size()};
    const ssize_t n = process_vm_writev(req.tid, &local, 1, &remote, 1, 0);
    if (n < 0) return Errno::FromErrno();
    return static_cast<size_t>(n);
  }
  bool StillPending(const SyscallRequest& req) override {
    uint64_t id = req.id;
    return ioctl(listener_, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
  }
  Result<int64_t> Answer(const SyscallRequest& req,
                         const SyscallAnswer& answer) override {
    if (answer.kind() == SyscallAnswer::Kind::kInstallFd) {
      seccomp_notif_addfd add{};
      add.id = req.id;
      add.flags = SECCOMP_ADDFD_FLAG_SEND;
      if (answer.placement() == FdPlacement::kExact) {
        add.flags |= SECCOMP_ADDFD_FLAG_SETFD;
        add.newfd = static_cast<uint32_t>(answer.number());
      }
      add.srcfd = static_cast<uint32_t>(answer.host_fd());
      add.newfd_flags = answer.cloexec() == CloseOnExec::kYes ? O_CLOEXEC : 0;
      const int fd = ioctl(listener_, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
      if (fd < 0) return Errno::FromErrno();
      return fd;
    }
    seccomp_notif_resp resp{};
    resp.id = req.id;
    switch (answer.kind()) {
      case SyscallAnswer::Kind::kValue:
        resp.val = answer.value();
        break;
      case SyscallAnswer::Kind::kError:
        resp.error = -answer.error();
        break;
      case SyscallAnswer::Kind::kContinue:
        resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        break;
      case SyscallAnswer::Kind::kInstallFd:
        break;
    }
    if (ioctl(listener_, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0) {
      return Errno::FromErrno();
    }
    return answer.kind() == SyscallAnswer::Kind::kValue ? answer.value() : 0;
  }

 private:
  int listener_;  // borrowed from the test
};

// The filter: kill any other ABI, notify the stub's numbers and close,
// allow the rest.
std::vector<sock_filter> StubFilter() {
  constexpr uint32_t kNr = offsetof(seccomp_data, nr);
  constexpr uint32_t kArch = offsetof(seccomp_data, arch);
  return {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArch),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNr),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VEIL_STUB_NR_GET_PLAN, 4, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VEIL_STUB_NR_GET_FD, 3, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VEIL_STUB_NR_FAIL, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_close, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
  };
}

struct RunResult {
  bool skipped = false;
  int status = -1;
  std::string output;
  std::optional<StubFailure> failure;
  size_t stub_calls = 0;
};

// Runs the stub with `plan`, serving it; returns its wait status and
// stdout.
RunResult RunStub(const LoadPlan& plan) {
  RunResult out;
  int sv[2], pipe_fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
      pipe2(pipe_fds, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "socketpair/pipe: " << strerror(errno);
    return out;
  }
  UniqueFd parent_sock(sv[0]), child_sock(sv[1]);
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  std::vector<sock_filter> filter = StubFilter();
  sock_fprog prog{static_cast<unsigned short>(filter.size()), filter.data()};
  const char* stub = VEIL_EXEC_STUB_PATH;
  char* const argv[] = {const_cast<char*>("veil-exec-stub"), nullptr};
  char* const envp[] = {nullptr};

  const pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls from here on.
    if (dup2(write_end.get(), 1) != 1) _exit(92);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(90);
    const long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                                  SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (listener < 0) _exit(90);
    char byte = 0;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    const int fd = static_cast<int>(listener);
    std::memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
    if (sendmsg(child_sock.get(), &msg, 0) != 1) _exit(91);
    // The listener is close-on-exec; close(2) would be notified, so the
    // child leaves every fd to exec.
    execve(stub, argv, envp);
    _exit(93);
  }
  child_sock.reset();
  write_end.reset();

  char byte;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  UniqueFd listener;
  if (recvmsg(parent_sock.get(), &msg, MSG_CMSG_CLOEXEC) == 1) {
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    if (cm && cm->cmsg_type == SCM_RIGHTS) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
      listener.reset(fd);
    }
  }
  if (!listener) {
    waitpid(pid, &out.status, 0);
    out.skipped = WIFEXITED(out.status) && WEXITSTATUS(out.status) == 90;
    if (!out.skipped) ADD_FAILURE() << "no listener, status " << out.status;
    return out;
  }

  ListenerPlatform platform(listener.get());
  auto server = StubServer::Create(platform, plan);
  if (!server) {
    ADD_FAILURE() << "StubServer::Create: " << server.error().code();
    kill(pid, SIGKILL);
  }
  for (;;) {
    auto req = platform.Receive();
    if (!req) {
      if (req.error().code() == EINTR) continue;
      if (req.error().code() == ETIMEDOUT) {
        ADD_FAILURE() << "the stub hung";
        kill(pid, SIGKILL);
      }
      break;
    }
    if (!server) continue;
    auto outcome = server->Serve(*req);
    if (!outcome) {
      // The task died mid-call: nothing left to answer.
      continue;
    }
    if (*outcome == StubServer::Outcome::kNotStub) {
      // Test-only: the program's own closes run natively.
      (void)platform.Answer(*req, SyscallAnswer::Continue());
    } else {
      ++out.stub_calls;
    }
  }
  waitpid(pid, &out.status, 0);
  char buf[4096];
  for (ssize_t n; (n = read(read_end.get(), buf, sizeof(buf))) > 0;) {
    out.output.append(buf, static_cast<size_t>(n));
  }
  if (server) out.failure = server->failure();
  return out;
}

class StubEndToEndTest : public vfs::testing::VfsTest {
 protected:
  void SetUp() override {
    std::ifstream in("/bin/busybox", std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    if (s.str().size() < 4 || s.str().compare(0, 4, "\x7f" "ELF") != 0) {
      GTEST_SKIP() << "no /bin/busybox on this host";
    }
    WriteFile("/busybox", s.str(), 0755);
  }

  Result<LoadPlan> Plan(std::vector<std::string> argv) {
    auto file = Open("/busybox", O_RDONLY);
    if (!file) return file.error();
    auto elf = ElfFile::Read(**file);
    if (!elf) return elf.error();
    if (elf->interpreter()) return Errno(ENOEXEC, "busybox is dynamic");
    LoadOptions options;
    options.vdso = VdsoSource::kFromStub;
    return MakeLoadPlan(*elf, *file, {std::move(argv), {"A=1"}, "/bin/busybox"},
                        options);
  }
};

TEST(StubBinaryTest, FindsAndChecksTheStub) {
  auto fd = OpenStubBinary(VEIL_EXEC_STUB_PATH);
  EXPECT_THAT(fd, IsOk());
  EXPECT_THAT(OpenStubBinary("/bin/busybox"), ::veil::testing::ErrnoIs(ENOEXEC));
  EXPECT_THAT(OpenStubBinary("/nonexistent/stub"),
              ::veil::testing::ErrnoIs(ENOENT));
  EXPECT_THAT(OpenStubBinary("/"), ::veil::testing::ErrnoIs(EACCES));
  auto path = StubPathNextToSelf();
  ASSERT_THAT(path, IsOk());
  EXPECT_THAT(*path, ::testing::EndsWith("/veil-exec-stub"));
}

TEST_F(StubEndToEndTest, RunsBusyboxEchoHello) {
  auto plan = Plan({"busybox", "echo", "hello"});
  ASSERT_THAT(plan, IsOk());
  RunResult run = RunStub(*plan);
  if (run.skipped) GTEST_SKIP() << "seccomp user notification unavailable";
  EXPECT_FALSE(run.failure.has_value())
      << "step " << run.failure->step << " errno " << run.failure->error;
  ASSERT_TRUE(WIFEXITED(run.status)) << run.status;
  EXPECT_EQ(WEXITSTATUS(run.status), 0);
  EXPECT_EQ(run.output, "hello\n");
  // GET_PLAN, GET_FD and the close of that fd, at least.
  EXPECT_GE(run.stub_calls, 3u);
}

TEST_F(StubEndToEndTest, ArgvEnvAndAuxvReachTheProgram) {
  // busybox sh sees its argv and envp; AT_EXECFN-independent.
  auto plan = Plan({"sh", "-c", "echo \"$0|$1|$A\"; exit 7", "zero", "one"});
  ASSERT_THAT(plan, IsOk());
  RunResult run = RunStub(*plan);
  if (run.skipped) GTEST_SKIP() << "seccomp user notification unavailable";
  ASSERT_TRUE(WIFEXITED(run.status)) << run.status;
  EXPECT_EQ(WEXITSTATUS(run.status), 7);
  EXPECT_EQ(run.output, "zero|one|1\n");
}

TEST_F(StubEndToEndTest, RunsAScriptThroughItsInterpreter) {
  WriteFile("/script", "#!/busybox echo\nnot read by echo\n", 0755);
  LoadOptions options;
  options.vdso = VdsoSource::kFromStub;
  auto plan = PrepareExec(
      [this](std::string_view path) { return Open(path, O_RDONLY); },
      {"/script", {"script", "x"}, {}}, options);
  ASSERT_THAT(plan, IsOk());
  RunResult run = RunStub(*plan);
  if (run.skipped) GTEST_SKIP() << "seccomp user notification unavailable";
  ASSERT_TRUE(WIFEXITED(run.status)) << run.status;
  EXPECT_EQ(WEXITSTATUS(run.status), 0);
  EXPECT_EQ(run.output, "/script x\n");
}

TEST_F(StubEndToEndTest, RunsAStaticPieAtItsBias) {
  std::ifstream in(VEIL_LOADER_PIE_PATH, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  WriteFile("/pie", bytes.str(), 0755);
  auto file = Open("/pie", O_RDONLY);
  ASSERT_THAT(file, IsOk());
  auto elf = ElfFile::Read(**file);
  ASSERT_THAT(elf, IsOk());
  ASSERT_EQ(elf->kind(), ElfKind::kDyn);
  LoadOptions options;
  options.vdso = VdsoSource::kFromStub;
  auto plan = MakeLoadPlan(*elf, *file, {{"pie", "hello"}, {}, "/pie"},
                           options);
  ASSERT_THAT(plan, IsOk());
  EXPECT_EQ(plan->load_bias, 0x555555554000u & ~(elf->max_align() - 1));
  RunResult run = RunStub(*plan);
  if (run.skipped) GTEST_SKIP() << "seccomp user notification unavailable";
  ASSERT_TRUE(WIFEXITED(run.status)) << run.status;
  EXPECT_EQ(WEXITSTATUS(run.status), 0);
  EXPECT_EQ(run.output, "pie hello biased\n");
}

TEST_F(StubEndToEndTest, LargePlanTakesTheSecondBuffer) {
  // A 100,000-byte argument: the plan outgrows the stub's 16 KiB buffer.
  const std::string big(100000, 'b');
  auto plan = Plan({"sh", "-c", "echo ${#0}", big});
  ASSERT_THAT(plan, IsOk());
  ASSERT_GT(plan->stack_image.size(), 16384u);
  RunResult run = RunStub(*plan);
  if (run.skipped) GTEST_SKIP() << "seccomp user notification unavailable";
  ASSERT_TRUE(WIFEXITED(run.status)) << run.status;
  EXPECT_EQ(WEXITSTATUS(run.status), 0);
  EXPECT_EQ(run.output, "100000\n");
  EXPECT_GE(run.stub_calls, 4u);  // two GET_PLANs, GET_FD, close
}

TEST_F(StubEndToEndTest, HandMadeProgramStartsAsLinuxStartsIt) {
  // exit((rsp & 15) | bss byte | rbx | rbp): 0 when the stack is aligned,
  // the bss tail of the last file page was zeroed (the file has 42 there)
  // and the registers were cleared.
  const uint8_t code[] = {
      0x48, 0x89, 0xe0,                                // mov %rsp,%rax
      0x83, 0xe0, 0x0f,                                // and $15,%eax
      0x0f, 0xb6, 0x3c, 0x25, 0x00, 0x12, 0x40, 0x00,  // movzbl 0x401200,%edi
      0x09, 0xc7,                                      // or %eax,%edi
      0x09, 0xdf,                                      // or %ebx,%edi
      0x09, 0xef,                                      // or %ebp,%edi
      0xb8, 0x3c, 0x00, 0x00, 0x00,                    // mov $60,%eax
      0x0f, 0x05,                                      // syscall
  };
  ElfBuilder b;  // entry 0x400100; data 0x401100 filesz 0x100 memsz 0x2000
  b.payloads.emplace_back(0x100, std::string(reinterpret_cast<const char*>(code),
                                             sizeof(code)));
  b.payloads.emplace_back(0x1200, std::string(1, '\x2a'));
  WriteFile("/tiny", b.Build(), 0755);
  auto file = Open("/tiny", O_RDONLY);
  ASSERT_THAT(file, IsOk());
  auto elf = ElfFile::Read(**file);
  ASSERT_THAT(elf, IsOk());
  auto plan = MakeLoadPlan(*elf, *file, {{"tiny"}, {}, "/tiny"}, {});
  ASSERT_THAT(plan, IsOk());
  RunResult run = RunStub(*plan);
  if (run.skipped) GTEST_SKIP() << "seccomp user notification unavailable";
  ASSERT_TRUE(WIFEXITED(run.status)) << run.status;
  EXPECT_EQ(WEXITSTATUS(run.status), 0);
}

TEST_F(StubEndToEndTest, AddressSpaceIsThePlans) {
  auto plan = Plan({"cat", "/proc/self/maps"});
  ASSERT_THAT(plan, IsOk());
  RunResult run = RunStub(*plan);
  if (run.skipped) GTEST_SKIP() << "seccomp user notification unavailable";
  ASSERT_TRUE(WIFEXITED(run.status)) << run.status;
  EXPECT_EQ(WEXITSTATUS(run.status), 0);
  // The program's segments, from the tmpfs file's memory.
  EXPECT_THAT(run.output, HasSubstr("00400000-00401000 r--p 00000000 "));
  // The host kernel's stack is gone; the plan's is there.
  EXPECT_THAT(run.output, Not(HasSubstr("[stack]")));
  EXPECT_THAT(run.output, HasSubstr("7fffff7ff000-7ffffffff000 rw-p "));
  // Of the stub, one page of code stays (the jump ran from it).
  EXPECT_THAT(run.output, HasSubstr("7e5700000000-7e5700001000 r-xp "));
  EXPECT_THAT(run.output, Not(HasSubstr("7e5700001000-")));
  EXPECT_THAT(run.output, HasSubstr("[vdso]"));
}

TEST_F(StubEndToEndTest, CollisionIsReportedAndTheStubExits) {
  auto plan = Plan({"busybox", "true"});
  ASSERT_THAT(plan, IsOk());
  // A mapping over the stub's own image: MAP_FIXED_NOREPLACE refuses it.
  Mapping m;
  m.addr = kStubRegionStart;
  m.length = kPageSize;
  m.prot = PROT_READ;
  plan->mappings.push_back(m);
  RunResult run = RunStub(*plan);
  if (run.skipped) GTEST_SKIP() << "seccomp user notification unavailable";
  ASSERT_TRUE(run.failure.has_value());
  EXPECT_EQ(run.failure->step, VEIL_STUB_STEP_MAP);
  EXPECT_EQ(run.failure->error, EEXIST);
  ASSERT_TRUE(WIFEXITED(run.status)) << run.status;
  EXPECT_EQ(WEXITSTATUS(run.status), 127);
}

}  // namespace
}  // namespace veil::sentry::loader::testing
