/* SPDX-License-Identifier: Apache-2.0
 *
 * The protocol between the exec stub (sentry/loader/stub/, C, freestanding)
 * and the sentry (StubServer). Shared by both sides, so plain C.
 *
 * The stub talks only through syscalls the sentry's filter notifies:
 *   GET_PLAN(buf, cap, vdso): the sentry answers the plan's size in bytes
 *     and, if it fits in `cap`, has written it to `buf` first. `vdso` is
 *     the stub's AT_SYSINFO_EHDR (0 if none), reported so the plan's auxv
 *     can name it.
 *   GET_FD(i): the sentry installs the host fd of the plan's file `i` at
 *     the lowest free number (close-on-exec) and answers that number.
 *   FAIL(step, err): the stub could not carry the plan out (`step` is a
 *     VEIL_STUB_STEP_*, `err` a positive errno); it exits with 127 next.
 *   close(fd): the standard syscall, for the fds GET_FD installed.
 * Errors come back as -errno, as from any syscall.
 *
 * The numbers: VEIL_STUB_NR_BASE | op. No x86-64 syscall is anywhere near
 * (the table ends below 0x200), bit 30 (__X32_SYSCALL_BIT) is clear, and
 * each value fits seccomp_data.nr, so a filter matches each exactly. The
 * host kernel would answer ENOSYS if one ever reached it.
 *
 * The plan (all fields little-endian, as the CPU stores them):
 *   struct veil_stub_plan_header
 *   struct veil_stub_mapping[header.nmappings]
 *   header.stack_image_len bytes of stack image
 * and nothing after. Every address and length is checked by both sides.
 */
#ifndef VEIL_SENTRY_LOADER_STUB_PROTOCOL_H_
#define VEIL_SENTRY_LOADER_STUB_PROTOCOL_H_

#ifdef __cplusplus
#include <cstdint>
#else
#include <stdint.h>
#endif

#define VEIL_STUB_NR_BASE 0x7e5700
#define VEIL_STUB_NR_GET_PLAN (VEIL_STUB_NR_BASE | 1)
#define VEIL_STUB_NR_GET_FD (VEIL_STUB_NR_BASE | 2)
#define VEIL_STUB_NR_FAIL (VEIL_STUB_NR_BASE | 3)

#define VEIL_STUB_PLAN_MAGIC 0x316e616c50746556ull /* "VetPlan1" */
#define VEIL_STUB_PLAN_VERSION 1u
/* Bounds the stub trusts (and the sentry never exceeds). */
#define VEIL_STUB_MAX_MAPPINGS 256u
#define VEIL_STUB_MAX_FILES 4u
#define VEIL_STUB_MAX_PLAN_BYTES (64u << 20)
/* The user address space of x86-64 with 4-level paging (TASK_SIZE). */
#define VEIL_STUB_TASK_SIZE 0x7ffffffff000ull

/* veil_stub_mapping.flags */
#define VEIL_STUB_MAP_REPLACE 1u /* MAP_FIXED, not MAP_FIXED_NOREPLACE */

/* FAIL's steps. */
#define VEIL_STUB_STEP_PLAN 1     /* GET_PLAN failed or the plan is bad */
#define VEIL_STUB_STEP_FD 2       /* GET_FD failed */
#define VEIL_STUB_STEP_MAP 3      /* a segment mmap failed */
#define VEIL_STUB_STEP_STACK 4    /* the stack mmap failed */
#define VEIL_STUB_STEP_UNMAP 5    /* unmapping the host stack failed */

struct veil_stub_plan_header {
  uint64_t magic;
  uint32_t version;
  uint32_t nmappings;
  uint32_t nfiles;
  uint32_t reserved;
  uint64_t entry;
  uint64_t initial_rsp;
  uint64_t stack_start; /* the stack mapping */
  uint64_t stack_end;
  uint32_t stack_prot;
  uint32_t reserved2;
  uint64_t stack_image_addr; /* the image ends at stack_end */
  uint64_t stack_image_len;
};

struct veil_stub_mapping {
  uint64_t addr;
  uint64_t length;
  uint64_t file_offset; /* in the host fd GET_FD(file) installs */
  uint64_t zero_addr;   /* [zero_addr, +zero_length) is zeroed */
  uint64_t zero_length;
  int32_t file; /* < nfiles, or -1 for anonymous memory */
  uint32_t prot;
  uint32_t flags; /* VEIL_STUB_MAP_* */
  uint32_t reserved;
};

#ifdef __cplusplus
static_assert(sizeof(veil_stub_plan_header) == 80);
static_assert(sizeof(veil_stub_mapping) == 56);
#endif

#endif /* VEIL_SENTRY_LOADER_STUB_PROTOCOL_H_ */
