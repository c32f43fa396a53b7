/* SPDX-License-Identifier: Apache-2.0
 *
 * veil-exec-stub: the only program the host kernel ever execs in a
 * sandbox. It asks the sentry for the plan of the program the task is
 * exec'ing (stub_protocol.h), carries it out, and jumps to the program:
 *
 *   1. switch to a stack inside this image (the host's stack goes next);
 *   2. GET_PLAN into a buffer here (or a fresh anonymous one if larger),
 *      check every field before using any;
 *   3. unmap the stack the host kernel gave it (found with mincore(2),
 *      which answers ENOMEM for an address no mapping covers);
 *   4. map each segment from the fd GET_FD installs (MAP_PRIVATE, and
 *      MAP_FIXED_NOREPLACE unless the plan says the page is shared with
 *      the previous segment), zero the bss tail, map anonymous pages;
 *   5. close the fds, map the stack and copy its image in;
 *   6. clear the registers and jump to the entry with the plan's rsp.
 *
 * The stub is linked at a fixed address (the loader's kStubRegionStart)
 * that no plan maps, so it can map the program while it runs. Before the
 * jump it unmaps its data and bss; its code (one page, read and execute)
 * stays, because the jump runs from it. Nothing
 * here uses libc, the heap, SSE registers or a relocation.
 */
#include <asm/unistd.h>
#include <linux/auxvec.h>
#include <linux/mman.h>
#include <stddef.h>
#include <stdint.h>

#include "sentry/loader/stub_protocol.h"

#define PAGE 4096ul
#define STACK_BYTES 16384
#define SMALL_PLAN_BYTES 16384

/* Referenced from the entry code below, so not static. */
__attribute__((visibility("hidden"), aligned(16))) uint8_t
    veil_stub_stack[STACK_BYTES];
/* From the linker: the image's end. */
extern char _end[] __attribute__((visibility("hidden")));
/* The end of the code (the default linker script's etext). */
extern const char etext[] __attribute__((visibility("hidden")));

static uint8_t small_plan[SMALL_PLAN_BYTES] __attribute__((aligned(16)));

static long sys6(long nr, long a1, long a2, long a3, long a4, long a5,
                 long a6) {
  long ret;
  register long r10 __asm__("r10") = a4;
  register long r8 __asm__("r8") = a5;
  register long r9 __asm__("r9") = a6;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8),
                     "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
static long sys3(long nr, long a1, long a2, long a3) {
  return sys6(nr, a1, a2, a3, 0, 0, 0);
}

/* The compiler may emit calls to these even freestanding. */
void* memcpy(void* dst, const void* src, size_t n) {
  uint8_t* d = dst;
  const uint8_t* s = src;
  while (n--) *d++ = *s++;
  return dst;
}
void* memset(void* dst, int c, size_t n) {
  uint8_t* d = dst;
  while (n--) *d++ = (uint8_t)c;
  return dst;
}

__attribute__((noreturn)) static void fail(long step, long err) {
  sys3(VEIL_STUB_NR_FAIL, step, err, 0);
  for (;;) sys3(__NR_exit_group, 127, 0, 0);
}

static int aligned(uint64_t v) { return (v & (PAGE - 1)) == 0; }
static int in_task(uint64_t addr, uint64_t len) {
  return addr <= VEIL_STUB_TASK_SIZE && len <= VEIL_STUB_TASK_SIZE - addr;
}

/* The checks of plan_codec.cc's DecodePlan; 0 if the plan is sound. */
static int check_plan(const uint8_t* buf, uint64_t size) {
  const struct veil_stub_plan_header* h = (const void*)buf;
  const uint32_t all_prot = PROT_READ | PROT_WRITE | PROT_EXEC;
  if (size < sizeof(*h) || size > VEIL_STUB_MAX_PLAN_BYTES) return -1;
  if (h->magic != VEIL_STUB_PLAN_MAGIC ||
      h->version != VEIL_STUB_PLAN_VERSION || h->reserved || h->reserved2)
    return -1;
  if (h->nmappings > VEIL_STUB_MAX_MAPPINGS || h->nfiles > VEIL_STUB_MAX_FILES)
    return -1;
  uint64_t fixed = sizeof(*h) + (uint64_t)h->nmappings *
                                    sizeof(struct veil_stub_mapping);
  if (h->stack_image_len > VEIL_STUB_MAX_PLAN_BYTES ||
      fixed + h->stack_image_len != size)
    return -1;
  if (h->entry >= VEIL_STUB_TASK_SIZE || !aligned(h->stack_start) ||
      !aligned(h->stack_end) || h->stack_start >= h->stack_end ||
      !in_task(h->stack_start, h->stack_end - h->stack_start) ||
      (h->stack_prot & ~all_prot))
    return -1;
  if (h->stack_image_len > h->stack_end - h->stack_start ||
      h->stack_image_addr != h->stack_end - h->stack_image_len)
    return -1;
  if ((h->initial_rsp & 15) || h->initial_rsp < h->stack_image_addr ||
      h->initial_rsp >= h->stack_end)
    return -1;
  const struct veil_stub_mapping* m = (const void*)(buf + sizeof(*h));
  for (uint32_t i = 0; i < h->nmappings; i++, m++) {
    if (!aligned(m->addr) || !aligned(m->length) || !m->length ||
        !in_task(m->addr, m->length))
      return -1;
    if (m->file < -1 || (m->file >= 0 && (uint32_t)m->file >= h->nfiles))
      return -1;
    if (!aligned(m->file_offset) || (m->prot & ~all_prot) ||
        (m->flags & ~VEIL_STUB_MAP_REPLACE) || m->reserved)
      return -1;
    if (m->zero_length &&
        (!(m->prot & PROT_WRITE) || m->zero_addr < m->addr ||
         m->zero_addr - m->addr > m->length ||
         m->zero_length > m->addr + m->length - m->zero_addr))
      return -1;
  }
  return 0;
}

/* Whether the page at `addr` is mapped (mincore fails with ENOMEM on an
 * unmapped one). */
static int mapped(uint64_t addr) {
  unsigned char vec;
  return sys3(__NR_mincore, (long)addr, PAGE, (long)&vec) == 0;
}

/* Unmaps the stack mapping the host kernel made around `sp`. */
static void unmap_host_stack(uint64_t sp) {
  uint64_t lo = sp & ~(PAGE - 1), hi = lo + PAGE;
  /* The stack VMA is at most the rlimit; the bounds only stop a loop. */
  for (int i = 0; i < (1 << 20) && lo > PAGE && mapped(lo - PAGE); i++)
    lo -= PAGE;
  for (int i = 0; i < (1 << 20) && hi < VEIL_STUB_TASK_SIZE && mapped(hi); i++)
    hi += PAGE;
  long r = sys3(__NR_munmap, (long)lo, (long)(hi - lo), 0);
  if (r < 0) fail(VEIL_STUB_STEP_UNMAP, -r);
}

static void map_at(uint64_t addr, uint64_t len, long prot, long flags, long fd,
                   uint64_t off, long step) {
  long r = sys6(__NR_mmap, (long)addr, (long)len, prot, flags, fd, (long)off);
  if (r < 0 && r > -4096) fail(step, -r);
  /* A kernel older than 4.17 takes MAP_FIXED_NOREPLACE as a hint. */
  if ((uint64_t)r != addr) fail(step, 17 /* EEXIST */);
}

__attribute__((noreturn, used, visibility("hidden"))) void veil_stub_main(
    uint64_t* sp0) {
  /* argc, argv..., NULL, envp..., NULL, auxv. */
  uint64_t* p = sp0 + 1 + sp0[0] + 1;
  while (*p) p++;
  uint64_t vdso = 0;
  for (p++; p[0] != AT_NULL; p += 2)
    if (p[0] == AT_SYSINFO_EHDR) vdso = p[1];

  uint8_t* plan = small_plan;
  long size = sys3(VEIL_STUB_NR_GET_PLAN, (long)plan, sizeof(small_plan),
                   (long)vdso);
  if (size < 0) fail(VEIL_STUB_STEP_PLAN, -size);
  if ((uint64_t)size > VEIL_STUB_MAX_PLAN_BYTES) fail(VEIL_STUB_STEP_PLAN, 22);
  uint64_t big = 0;
  if ((uint64_t)size > sizeof(small_plan)) {
    big = ((uint64_t)size + PAGE - 1) & ~(PAGE - 1);
    long r = sys6(__NR_mmap, 0, (long)big, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r < 0 && r > -4096) fail(VEIL_STUB_STEP_PLAN, -r);
    plan = (uint8_t*)r;
    long again = sys3(VEIL_STUB_NR_GET_PLAN, (long)plan, (long)big,
                      (long)vdso);
    if (again != size) fail(VEIL_STUB_STEP_PLAN, again < 0 ? -again : 22);
  }
  if (check_plan(plan, (uint64_t)size) != 0) fail(VEIL_STUB_STEP_PLAN, 22);
  const struct veil_stub_plan_header* h = (const void*)plan;
  const struct veil_stub_mapping* maps = (const void*)(plan + sizeof(*h));
  const uint8_t* image = plan + sizeof(*h) + h->nmappings * sizeof(*maps);

  unmap_host_stack((uint64_t)sp0);

  long fds[VEIL_STUB_MAX_FILES];
  for (uint32_t i = 0; i < VEIL_STUB_MAX_FILES; i++) fds[i] = -1;
  for (uint32_t i = 0; i < h->nmappings; i++) {
    const struct veil_stub_mapping* m = &maps[i];
    long flags = MAP_PRIVATE | ((m->flags & VEIL_STUB_MAP_REPLACE)
                                    ? MAP_FIXED
                                    : MAP_FIXED_NOREPLACE);
    long fd = -1;
    if (m->file >= 0) {
      if (fds[m->file] < 0) {
        fds[m->file] = sys3(VEIL_STUB_NR_GET_FD, m->file, 0, 0);
        if (fds[m->file] < 0) fail(VEIL_STUB_STEP_FD, -fds[m->file]);
      }
      fd = fds[m->file];
    } else {
      flags |= MAP_ANONYMOUS;
    }
    map_at(m->addr, m->length, m->prot, flags, fd,
           m->file >= 0 ? m->file_offset : 0, VEIL_STUB_STEP_MAP);
    /* padzero: only on writable mappings (check_plan). */
    if (m->zero_length) memset((void*)m->zero_addr, 0, m->zero_length);
  }
  for (uint32_t i = 0; i < VEIL_STUB_MAX_FILES; i++)
    if (fds[i] >= 0) sys3(__NR_close, fds[i], 0, 0);

  map_at(h->stack_start, h->stack_end - h->stack_start, h->stack_prot,
         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_NORESERVE,
         -1, 0, VEIL_STUB_STEP_STACK);
  memcpy((void*)h->stack_image_addr, image, h->stack_image_len);

  const uint64_t entry = h->entry, rsp = h->initial_rsp;
  if (big) sys3(__NR_munmap, (long)plan, (long)big, 0);

  /* Leave only the code: the image is one segment of headers and code
   * (linked with -z noseparate-code), then the data and bss, which hold
   * this stack and go in the last steps. */
  const uint64_t data_lo = ((uint64_t)etext + PAGE - 1) & ~(PAGE - 1);
  const uint64_t data_hi = ((uint64_t)_end + PAGE - 1) & ~(PAGE - 1);

  /* On the program's stack: unmap the data pages, then start the program
   * as Linux's start_thread does, every general register zero and flags
   * with only the always-one bit and IF (user code cannot change IF).
   * The entry address goes through the word just below the initial rsp,
   * which the program owns as free stack. */
  register uint64_t r8 __asm__("r8") = rsp;
  __asm__ volatile(
      "mov %%r8, %%rsp\n\t"
      "mov %%rdx, %%r12\n\t"
      "mov $11, %%eax\n\t" /* __NR_munmap(rdi, rsi) */
      "syscall\n\t"
      "push %%r12\n\t"
      "xor %%eax, %%eax\n\t"
      "xor %%ebx, %%ebx\n\t"
      "xor %%ecx, %%ecx\n\t"
      "xor %%edx, %%edx\n\t"
      "xor %%esi, %%esi\n\t"
      "xor %%edi, %%edi\n\t"
      "xor %%ebp, %%ebp\n\t"
      "xor %%r8d, %%r8d\n\t"
      "xor %%r9d, %%r9d\n\t"
      "xor %%r10d, %%r10d\n\t"
      "xor %%r11d, %%r11d\n\t"
      "xor %%r12d, %%r12d\n\t"
      "xor %%r13d, %%r13d\n\t"
      "xor %%r14d, %%r14d\n\t"
      "xor %%r15d, %%r15d\n\t"
      "pushq $0x202\n\t"
      "popfq\n\t"
      "ret\n\t"
      :
      : "D"(data_lo), "S"(data_hi - data_lo), "d"(entry), "r"(r8)
      : "memory");
  __builtin_unreachable();
}

/* The entry: keep the kernel's rsp (argc) for veil_stub_main, and run on
 * the stack inside this image. */
__asm__(
    ".text\n"
    ".globl _start\n"
    ".type _start, @function\n"
    "_start:\n"
    "  mov %rsp, %rdi\n"
    "  lea veil_stub_stack+" "16384" "(%rip), %rsp\n"
    "  call veil_stub_main\n"
    "  ud2\n");
