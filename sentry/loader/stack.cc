// SPDX-License-Identifier: Apache-2.0
//
// The initial stack of a LoadPlan, laid out as Linux's exec does it
// (do_execveat_common copies the strings, create_elf_tables the rest).
// From the top down:
//   8 zero bytes; AT_EXECFN's string; the envp strings; the argv strings
//   (argv[0] lowest); align to 16; "x86_64" (AT_PLATFORM); 16 random bytes
//   (AT_RANDOM); then, 16-byte aligned at its bottom, which is the initial
//   rsp: argc, argv[], NULL, envp[], NULL, the auxv pairs ending AT_NULL.
// Linux also moves the table down by a random amount below 8 KiB
// (arch_align_stack); the plan does not, so a plan is deterministic for
// fixed AT_RANDOM bytes.
#include <elf.h>
#include <sys/auxv.h>
#include <sys/random.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "sentry/loader/load_plan.h"

namespace veil::sentry::loader {
namespace {

// Linux uapi auxvec.h; glibc 2.36's elf.h lacks the rseq pair.
constexpr uint64_t kAtRseqFeatureSize = 27;
constexpr uint64_t kAtRseqAlign = 28;
constexpr char kPlatform[] = "x86_64";
constexpr uint64_t kClockTicks = 100;  // USER_HZ

// A downward-growing image of [sp, top) of the stack, in a buffer sized
// once for [top - capacity, top).
class StackImage final {
 public:
  StackImage(uint64_t top, size_t capacity)
      : top_(top), sp_(top), bytes_(capacity) {}

  uint64_t sp() const { return sp_; }
  // Reserves `n` bytes below the current bottom; returns their address.
  // The caller sized the buffer for everything it pushes.
  uint64_t Alloc(size_t n) {
    sp_ -= n;
    if (top_ - sp_ > bytes_.size()) std::abort();  // a sizing bug
    return sp_;
  }
  uint64_t PushBytes(const void* data, size_t n) {
    const uint64_t at = Alloc(n);
    Store(at, data, n);
    return at;
  }
  uint64_t PushString(const std::string& s) {
    return PushBytes(s.c_str(), s.size() + 1);
  }
  void AlignDown(uint64_t align) { Alloc(sp_ - (sp_ & ~(align - 1))); }
  void Store(uint64_t at, const void* data, size_t n) {
    std::memcpy(bytes_.data() + bytes_.size() - (top_ - at), data, n);
  }
  void StoreWord(uint64_t at, uint64_t word) { Store(at, &word, 8); }
  // The bytes of [sp, top).
  std::vector<uint8_t> Take() && {
    bytes_.erase(bytes_.begin(),
                 bytes_.begin() + (bytes_.size() - (top_ - sp_)));
    return std::move(bytes_);
  }

 private:
  const uint64_t top_;
  uint64_t sp_;
  std::vector<uint8_t> bytes_;
};

// do_execveat_common / bprm_stack_limits / copy_strings.
Result<void> CheckLimits(const std::vector<std::string>& argv,
                         const ExecArgs& args, uint64_t stack_rlimit) {
  uint64_t strings = 0;
  auto add = [&strings](const std::string& s) -> Result<void> {
    // copy_strings: valid_arg_len, the length counting the NUL.
    if (s.size() + 1 > kMaxArgStrlen) return Errno(E2BIG);
    strings += s.size() + 1;
    return Ok();
  };
  VEIL_TRY_VOID(add(args.execfn));
  for (const std::string& s : args.envp) VEIL_TRY_VOID(add(s));
  for (const std::string& s : argv) VEIL_TRY_VOID(add(s));
  // bprm_stack_limits: a quarter of the rlimit, at most 3/4 of _STK_LIM,
  // at least ARG_MAX; the pointers come off it first.
  uint64_t limit = std::min(kStkLim / 4 * 3, stack_rlimit / 4);
  limit = std::max(limit, kArgMax);
  const uint64_t ptr_size = (argv.size() + args.envp.size()) * 8;
  if (limit <= ptr_size) {
    return Errno(E2BIG);  // bprm_stack_limits: no room for pointers
  }
  if (strings > limit - ptr_size) {
    return Errno(E2BIG);  // get_arg_page: below bprm->argmin
  }
  return Ok();
}

}  // namespace

Result<void> BuildStack(const ElfFile& elf, const ExecArgs& args,
                        const LoadOptions& options, LoadPlan& plan) {
  // do_execveat_common (5.18+): an empty argv gets "" as argv[0].
  std::vector<std::string> argv = args.argv;
  if (argv.empty()) argv.emplace_back();
  VEIL_TRY_VOID(CheckLimits(argv, args, options.stack_rlimit));

  std::array<uint8_t, 16> random{};
  if (options.random) {
    random = *options.random;
  } else if (getrandom(random.data(), random.size(), 0) !=
             static_cast<ssize_t>(random.size())) {
    return Errno::FromErrno();  // get_random_bytes cannot fail; we can
  }

  // Everything pushed below: the top word, the strings, 15 bytes of
  // alignment, the platform and random bytes, the tables (at most 64 auxv
  // pairs) and 15 more bytes of alignment.
  size_t capacity = 8 + args.execfn.size() + 1 + 15 + sizeof(kPlatform) +
                    16 + 15 + 8 * (argv.size() + args.envp.size() + 3 + 128);
  for (const std::string& s : args.envp) capacity += s.size() + 1;
  for (const std::string& s : argv) capacity += s.size() + 1;
  StackImage st(plan.stack_end, capacity);
  st.Alloc(8);  // bprm->p starts a pointer below the top
  plan.execfn_addr = st.PushString(args.execfn);
  std::vector<uint64_t> env_ptrs(args.envp.size());
  for (size_t i = args.envp.size(); i-- > 0;) {
    env_ptrs[i] = st.PushString(args.envp[i]);
  }
  std::vector<uint64_t> arg_ptrs(argv.size());
  for (size_t i = argv.size(); i-- > 0;) arg_ptrs[i] = st.PushString(argv[i]);
  // The strings lie argv[0] lowest, then envp, then execfn.
  plan.arg_start = arg_ptrs.front();
  plan.arg_end = plan.env_start =
      env_ptrs.empty() ? plan.execfn_addr : env_ptrs.front();
  plan.env_end = plan.execfn_addr;

  st.AlignDown(16);  // arch_align_stack, without its random offset
  const uint64_t platform_addr = st.PushBytes(kPlatform, sizeof(kPlatform));
  plan.random_addr = st.PushBytes(random.data(), random.size());

  // create_elf_tables, in its order (x86-64 ARCH_DLINFO first).
  std::vector<std::pair<uint64_t, uint64_t>> auxv;
  std::optional<size_t> vdso_index;
  if (options.vdso == VdsoSource::kAddress) {
    auxv.emplace_back(AT_SYSINFO_EHDR, options.vdso_addr);
  } else if (options.vdso == VdsoSource::kFromStub) {
    vdso_index = auxv.size();
    auxv.emplace_back(AT_SYSINFO_EHDR, 0);
  }
  auxv.emplace_back(AT_MINSIGSTKSZ, options.minsigstksz.value_or(
                                        getauxval(AT_MINSIGSTKSZ)));
  auxv.emplace_back(AT_HWCAP, options.hwcap.value_or(getauxval(AT_HWCAP)));
  auxv.emplace_back(AT_PAGESZ, kPageSize);
  auxv.emplace_back(AT_CLKTCK, kClockTicks);
  auxv.emplace_back(AT_PHDR, plan.phdr_addr);
  auxv.emplace_back(AT_PHENT, sizeof(Elf64_Phdr));
  auxv.emplace_back(AT_PHNUM, elf.phnum());
  auxv.emplace_back(AT_BASE, plan.interp_base);  // 0: no interpreter
  auxv.emplace_back(AT_FLAGS, 0);
  auxv.emplace_back(AT_ENTRY, plan.program_entry);
  auxv.emplace_back(AT_UID, options.uid);
  auxv.emplace_back(AT_EUID, options.euid);
  auxv.emplace_back(AT_GID, options.gid);
  auxv.emplace_back(AT_EGID, options.egid);
  auxv.emplace_back(AT_SECURE, options.secure == SecureExec::kYes ? 1 : 0);
  auxv.emplace_back(AT_RANDOM, plan.random_addr);
  auxv.emplace_back(AT_HWCAP2, options.hwcap2.value_or(getauxval(AT_HWCAP2)));
  auxv.emplace_back(AT_EXECFN, plan.execfn_addr);
  auxv.emplace_back(AT_PLATFORM, platform_addr);
  auxv.emplace_back(kAtRseqFeatureSize, getauxval(kAtRseqFeatureSize));
  auxv.emplace_back(kAtRseqAlign, getauxval(kAtRseqAlign));
  auxv.emplace_back(AT_NULL, 0);

  // STACK_ADD then STACK_ROUND: room for the auxv and the items, the
  // bottom (where argc goes) aligned to 16.
  const size_t items = (argv.size() + 1) + (args.envp.size() + 1) + 1;
  const size_t words = items + 2 * auxv.size();
  const uint64_t sp = (st.sp() - words * 8) & ~uint64_t{15};
  st.Alloc(st.sp() - sp);

  uint64_t at = sp;
  auto word = [&st, &at](uint64_t w) {
    st.StoreWord(at, w);
    at += 8;
  };
  word(argv.size());
  for (uint64_t p : arg_ptrs) word(p);
  word(0);
  for (uint64_t p : env_ptrs) word(p);
  word(0);
  for (auto [key, value] : auxv) {
    word(key);
    if (vdso_index && key == AT_SYSINFO_EHDR) {
      plan.vdso_slot = at - sp;
    }
    word(value);
  }

  if (plan.stack_end - sp > plan.stack_end - plan.stack_start) {
    return Errno(E2BIG);  // the image does not fit the stack mapping
  }
  plan.initial_rsp = sp;
  plan.stack_image_addr = sp;
  plan.stack_image = std::move(st).Take();
  return Ok();
}

}  // namespace veil::sentry::loader
