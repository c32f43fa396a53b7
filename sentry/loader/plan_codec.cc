// SPDX-License-Identifier: Apache-2.0
#include "sentry/loader/plan_codec.h"

#include <sys/mman.h>

#include <cstring>

namespace veil::sentry::loader {
namespace {

constexpr uint32_t kAllProt = PROT_READ | PROT_WRITE | PROT_EXEC;

bool Aligned(uint64_t v) { return v % kPageSize == 0; }

// [addr, addr + len) lies in the user address space without wrapping.
bool InTask(uint64_t addr, uint64_t len) {
  return addr <= VEIL_STUB_TASK_SIZE && len <= VEIL_STUB_TASK_SIZE - addr;
}

Result<void> CheckMapping(const veil_stub_mapping& m, uint32_t nfiles) {
  if (!Aligned(m.addr) || !Aligned(m.length) || m.length == 0 ||
      !InTask(m.addr, m.length)) {
    return Errno(EINVAL);
  }
  if (m.file < -1 || (m.file >= 0 && static_cast<uint32_t>(m.file) >= nfiles)) {
    return Errno(EINVAL);
  }
  if (!Aligned(m.file_offset) || (m.prot & ~kAllProt) != 0 ||
      (m.flags & ~VEIL_STUB_MAP_REPLACE) != 0 || m.reserved != 0) {
    return Errno(EINVAL);
  }
  if (m.zero_length != 0) {
    if (!(m.prot & PROT_WRITE) || m.zero_addr < m.addr ||
        m.zero_length > m.addr + m.length - m.zero_addr ||
        m.zero_addr - m.addr > m.length) {
      return Errno(EINVAL);
    }
  }
  return Ok();
}

Result<void> CheckHeader(const veil_stub_plan_header& h, size_t wire_size) {
  if (h.magic != VEIL_STUB_PLAN_MAGIC || h.version != VEIL_STUB_PLAN_VERSION ||
      h.reserved != 0 || h.reserved2 != 0) {
    return Errno(EINVAL);
  }
  if (h.nmappings > VEIL_STUB_MAX_MAPPINGS || h.nfiles > VEIL_STUB_MAX_FILES) {
    return Errno(EINVAL);
  }
  const uint64_t fixed = sizeof(veil_stub_plan_header) +
                         uint64_t{h.nmappings} * sizeof(veil_stub_mapping);
  if (h.stack_image_len > VEIL_STUB_MAX_PLAN_BYTES ||
      fixed + h.stack_image_len != wire_size) {
    return Errno(EINVAL);
  }
  if (h.entry >= VEIL_STUB_TASK_SIZE || !Aligned(h.stack_start) ||
      !Aligned(h.stack_end) || h.stack_start >= h.stack_end ||
      !InTask(h.stack_start, h.stack_end - h.stack_start) ||
      (h.stack_prot & ~kAllProt) != 0) {
    return Errno(EINVAL);
  }
  if (h.stack_image_len > h.stack_end - h.stack_start ||
      h.stack_image_addr != h.stack_end - h.stack_image_len) {
    return Errno(EINVAL);
  }
  if (h.initial_rsp % 16 != 0 || h.initial_rsp < h.stack_image_addr ||
      h.initial_rsp >= h.stack_end) {
    return Errno(EINVAL);
  }
  return Ok();
}

}  // namespace

Result<std::vector<uint8_t>> EncodePlan(const LoadPlan& plan,
                                        std::span<const uint64_t> file_offsets,
                                        uint64_t vdso) {
  if (plan.mappings.size() > VEIL_STUB_MAX_MAPPINGS ||
      plan.files.size() > VEIL_STUB_MAX_FILES ||
      file_offsets.size() != plan.files.size() ||
      plan.stack_image.size() > VEIL_STUB_MAX_PLAN_BYTES) {
    return Errno(EINVAL);
  }
  veil_stub_plan_header h{};
  h.magic = VEIL_STUB_PLAN_MAGIC;
  h.version = VEIL_STUB_PLAN_VERSION;
  h.nmappings = static_cast<uint32_t>(plan.mappings.size());
  h.nfiles = static_cast<uint32_t>(plan.files.size());
  h.entry = plan.entry;
  h.initial_rsp = plan.initial_rsp;
  h.stack_start = plan.stack_start;
  h.stack_end = plan.stack_end;
  h.stack_prot = plan.stack_prot;
  h.stack_image_addr = plan.stack_image_addr;
  h.stack_image_len = plan.stack_image.size();

  std::vector<uint8_t> wire(sizeof(h) +
                            plan.mappings.size() * sizeof(veil_stub_mapping) +
                            plan.stack_image.size());
  std::memcpy(wire.data(), &h, sizeof(h));
  size_t pos = sizeof(h);
  for (const Mapping& m : plan.mappings) {
    veil_stub_mapping w{};
    w.addr = m.addr;
    w.length = m.length;
    w.file = m.file;
    if (m.file >= 0) {
      if (static_cast<size_t>(m.file) >= file_offsets.size()) {
        return Errno(EINVAL);
      }
      const uint64_t base = file_offsets[m.file];
      if (!Aligned(base) || m.file_offset > UINT64_MAX - base) {
        return Errno(EINVAL);
      }
      w.file_offset = base + m.file_offset;
    }
    w.zero_addr = m.zero_addr;
    w.zero_length = m.zero_length;
    w.prot = m.prot;
    w.flags = m.overlap == MapOverlap::kReplace ? VEIL_STUB_MAP_REPLACE : 0;
    std::memcpy(wire.data() + pos, &w, sizeof(w));
    pos += sizeof(w);
  }
  std::memcpy(wire.data() + pos, plan.stack_image.data(),
              plan.stack_image.size());
  if (plan.vdso_slot) {
    if (plan.stack_image.size() < 8 ||
        *plan.vdso_slot > plan.stack_image.size() - 8) {
      return Errno(EINVAL);
    }
    std::memcpy(wire.data() + pos + *plan.vdso_slot, &vdso, 8);
  }
  // The stub would refuse what DecodePlan refuses: never send it.
  if (auto checked = DecodePlan(wire); !checked) return checked.error();
  return wire;
}

Result<DecodedPlan> DecodePlan(std::span<const uint8_t> wire) {
  DecodedPlan out;
  if (wire.size() < sizeof(out.header) ||
      wire.size() > VEIL_STUB_MAX_PLAN_BYTES) {
    return Errno(EINVAL);
  }
  std::memcpy(&out.header, wire.data(), sizeof(out.header));
  VEIL_TRY_VOID(CheckHeader(out.header, wire.size()));
  size_t pos = sizeof(out.header);
  out.mappings.resize(out.header.nmappings);
  for (veil_stub_mapping& m : out.mappings) {
    std::memcpy(&m, wire.data() + pos, sizeof(m));
    pos += sizeof(m);
    VEIL_TRY_VOID(CheckMapping(m, out.header.nfiles));
  }
  out.stack_image.assign(wire.begin() + static_cast<ptrdiff_t>(pos),
                         wire.end());
  return out;
}

}  // namespace veil::sentry::loader
