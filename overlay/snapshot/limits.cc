// SPDX-License-Identifier: Apache-2.0
//
// What a verified manifest would make a restore do, checked against what
// the target holds before anything is created (codec.h, CheckLimits), and
// the paths messages name entries by.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "overlay/snapshot/codec.h"

namespace veil::snapshot {
namespace {

// "1.0 GiB (1073741824 bytes)".
std::string Size(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"bytes", "KiB", "MiB", "GiB",
                                           "TiB",   "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 6) v /= 1024, ++unit;
  if (unit == 0) return std::to_string(bytes) + " bytes";
  char text[64];
  std::snprintf(text, sizeof text, "%.1f %s (%llu bytes)", v, kUnits[unit],
                static_cast<unsigned long long>(bytes));
  return text;
}

SnapshotError Refuse(int code, uint32_t index, const Manifest& m,
                     const std::string& what) {
  return SnapshotError{code, "manifest: entry " + std::to_string(index) +
                                 " ('" + EntryPath(m, index) + "'): " + what};
}

}  // namespace

uint64_t DataBytes(const Manifest& m) {
  uint64_t total = 0;
  for (const Entry& e : m.entries)
    for (const Extent& x : e.extents)
      if (__builtin_add_overflow(total, m.chunks[x.chunk].raw_size, &total))
        return UINT64_MAX;
  return total;
}

SnapshotResult<void> CheckLimits(const Manifest& m, const ImageLimits& limits) {
  // Deduplication lets a small image name one chunk from many extents
  // (a 12-byte extent can stand for 4 MiB): what counts is what the
  // restore writes, not what the image stores.
  const uint64_t data = DataBytes(m);
  if (data > limits.max_data_bytes) {
    uint64_t stored = 0;
    for (const ChunkRecord& c : m.chunks) stored += c.stored_size;
    return SnapshotError{
        EFBIG, "the image expands to " + Size(data) + " of file data (from " +
                   Size(stored) + " stored), more than the limit of " +
                   Size(limits.max_data_bytes) +
                   (limits.data_limit_source.empty()
                        ? std::string()
                        : " (" + limits.data_limit_source + ")")};
  }
  for (uint32_t i = 0; i < m.entries.size(); ++i) {
    const Entry& e = m.entries[i];
    // link(2) fails with EMLINK past ext4's limit; tmpfs has none.
    if (e.names.size() > limits.max_links)
      return Refuse(EMLINK, i, m,
                    std::to_string(e.names.size()) +
                        " names (hard links), more than the target allows (" +
                        std::to_string(limits.max_links) + "; EMLINK)");
    uint64_t list = 0, total = 0;
    for (const Xattr& x : e.xattrs) {
      list += x.name.size() + 1;
      total += x.name.size() + x.value.size();
    }
    if (list > limits.max_xattr_list || total > limits.max_xattr_bytes)
      return Refuse(
          ENOSPC, i, m,
          "xattrs of " + std::to_string(list) + " bytes of names, " +
              std::to_string(total) + " in all, more than one inode holds (" +
              std::to_string(limits.max_xattr_list) + " of names, " +
              std::to_string(limits.max_xattr_bytes) + " in all; ENOSPC)");
    if (e.type == EntryType::kRegular && e.size > limits.max_file_size)
      return Refuse(EFBIG, i, m,
                    "size " + std::to_string(e.size) +
                        " bytes, more than the target's largest file (" +
                        std::to_string(limits.max_file_size) +
                        " bytes; EFBIG)");
  }
  if (limits.max_depth != UINT32_MAX) {
    // A first name's parent precedes it (validated), so one pass in order
    // finds every directory's depth.
    std::vector<uint32_t> depth(m.entries.size(), 0);
    for (uint32_t i = 1; i < m.entries.size(); ++i) {
      if (m.entries[i].type != EntryType::kDirectory) continue;
      depth[i] = depth[m.entries[i].names[0].parent] + 1;
      if (depth[i] > limits.max_depth)
        return Refuse(EMFILE, i, m,
                      "directories nested " + std::to_string(depth[i]) +
                          " deep, more than the limit of " +
                          std::to_string(limits.max_depth) +
                          " (a restore holds a descriptor per level)");
    }
  }
  if (limits.max_directories != UINT32_MAX) {
    // Siblings count as much as nesting: every directory keeps its
    // descriptor until the restore ends (100,000 directories side by side
    // under a limit of 65,536 would fail with EMFILE half way).
    uint64_t directories = 0;
    for (uint32_t i = 1; i < m.entries.size(); ++i)
      directories += m.entries[i].type == EntryType::kDirectory;
    if (directories > limits.max_directories)
      return SnapshotError{
          EMFILE, "manifest: " + std::to_string(directories) +
                      " directories, more than the limit of " +
                      std::to_string(limits.max_directories) +
                      " (a restore holds a descriptor per directory until "
                      "it ends)"};
  }
  return Done();
}

std::string EntryPath(const Manifest& m, uint32_t index) {
  if (index == 0 || index >= m.entries.size() || m.entries[index].names.empty())
    return "/";
  const EntryName& n = m.entries[index].names[0];
  return EntryPath(m, n.parent, n.name);
}

std::string EntryPath(const Manifest& m, uint32_t parent,
                      std::string_view leaf) {
  // Collected leaf first, and only as far up as a message shows: a deep
  // tree's paths are long, and building each whole would cost O(depth).
  std::vector<std::string_view> parts{leaf};
  size_t length = leaf.size() + 1;
  uint32_t index = parent;
  // Bounded: a validated manifest's first-name parents strictly decrease
  // (and the loop stops on anything else).
  while (index != 0 && index < m.entries.size() &&
         !m.entries[index].names.empty()) {
    if (length > kMessagePathMax) break;  // MessagePath cuts here anyway
    const EntryName& n = m.entries[index].names[0];
    parts.push_back(n.name);
    length += n.name.size() + 1;
    if (n.parent >= index) break;
    index = n.parent;
  }
  std::string path;
  path.reserve(length);
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    path += '/';
    path += *it;
  }
  // Longer than a message shows exactly when the walk stopped early, and
  // then MessagePath marks the cut.
  return MessagePath(path);
}

}  // namespace veil::snapshot
