// SPDX-License-Identifier: Apache-2.0
#include "tests/unit/snapshot/crafted_images.h"

#include <cstdlib>
#include <span>

#include "overlay/snapshot/codec.h"
#include "overlay/snapshot/snapshot.h"
#include "vfs/tmpfs/tmpfs.h"
#include "vfs/vfs.h"

namespace veil::snapshot::testing {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Aborts: a crafted image that does not build is a bug in this file.
template <typename T>
T Must(SnapshotResult<T> r) {
  if (!r) std::abort();
  return std::move(r).value();
}

}  // namespace

std::string ZeroChunkImage(uint32_t chunk_size) {
  vfs::Vfs vfs(vfs::tmpfs::Tmpfs::Create({0755, 0, 0}));
  auto ctx = vfs.RootContext();
  auto file = vfs.OpenAt(ctx, vfs.RootLocation(), "/zeros",
                         vfs::OpenHow{O_CREAT | O_WRONLY, 0644, 0});
  if (!file) std::abort();
  std::string zeros(chunk_size, '\0');
  if (!(*file)->PWrite(Bytes(zeros), 0)) std::abort();
  StringSink sink;
  WriteOptions options;
  options.chunk_size = chunk_size;
  options.threads = 1;
  (void)Must(WriteImage(vfs, vfs.RootLocation(), sink, options));
  // Times of 0, so that the same call gives the same bytes (the seeds).
  return EditManifest(sink.data(), [](Manifest& m) {
    for (Entry& e : m.entries) e.atime = e.mtime = Timestamp{};
  });
}

std::string EditManifest(const std::string& image,
                         const std::function<void(Manifest&)>& edit) {
  const auto header = Must(DecodeHeader(Bytes(image).first(kHeaderSize)));
  const auto trailer = Must(DecodeTrailer(Bytes(image).last(kTrailerSize)));
  Manifest m = Must(DecodeManifest(
      Bytes(image).subspan(trailer.manifest_offset, trailer.manifest_size),
      header, trailer.manifest_offset));
  edit(m);
  std::string encoded = EncodeManifest(m);
  std::string out = image.substr(0, trailer.manifest_offset) + encoded;
  out += EncodeTrailer(Trailer{trailer.manifest_offset, encoded.size(),
                               Checksum(Bytes(encoded))});
  return out;
}

Entry DirEntry(uint32_t parent, std::string name) {
  Entry e;
  e.type = EntryType::kDirectory;
  e.perm = 0755;
  e.names.push_back(EntryName{parent, std::move(name)});
  return e;
}

Entry FileEntry(uint32_t parent, std::string name) {
  Entry e;
  e.type = EntryType::kRegular;
  e.perm = 0644;
  e.names.push_back(EntryName{parent, std::move(name)});
  return e;
}

std::string DedupBomb(uint64_t data_bytes, uint32_t chunk_size) {
  return EditManifest(ZeroChunkImage(chunk_size), [&](Manifest& m) {
    Entry& zeros = m.entries.at(1);
    zeros.extents.clear();
    for (uint64_t at = 0; at + chunk_size <= data_bytes; at += chunk_size)
      zeros.extents.push_back(Extent{at, 0});
    zeros.size = data_bytes;
  });
}

std::string DeepTree(uint32_t depth, size_t name_length) {
  return EditManifest(ZeroChunkImage(kMinChunkSize), [&](Manifest& m) {
    for (uint32_t i = 0; i < depth; ++i) {
      const auto parent =
          i == 0 ? 0u : static_cast<uint32_t>(m.entries.size() - 1);
      m.entries.push_back(DirEntry(parent, std::string(name_length, 'd')));
    }
  });
}

std::string DeviceImage(uint32_t major, uint32_t minor) {
  return EditManifest(ZeroChunkImage(kMinChunkSize), [&](Manifest& m) {
    Entry e = FileEntry(0, "dev");
    e.type = EntryType::kCharDevice;
    e.rdev_major = major;
    e.rdev_minor = minor;
    m.entries.push_back(e);
  });
}

std::string LinksImage(uint32_t names) {
  return EditManifest(ZeroChunkImage(kMinChunkSize), [&](Manifest& m) {
    // Names of two bytes from 64 letters, 4096 to a directory.
    static constexpr char kLetters[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    const uint32_t dirs = (names + 4095) / 4096;
    const auto first_dir = static_cast<uint32_t>(m.entries.size());
    for (uint32_t d = 0; d < dirs; ++d)
      m.entries.push_back(DirEntry(0, "d" + std::to_string(d)));
    Entry file = FileEntry(first_dir, "f");
    file.names.clear();
    for (uint32_t i = 0; i < names; ++i)
      file.names.push_back(
          EntryName{first_dir + i / 4096,
                    std::string{kLetters[(i % 4096) / 64], kLetters[i % 64]}});
    m.entries.push_back(std::move(file));
  });
}

std::string XattrImage(uint32_t count, size_t value_size) {
  return EditManifest(ZeroChunkImage(kMinChunkSize), [&](Manifest& m) {
    Entry& file = m.entries.at(1);
    for (uint32_t i = 0; i < count; ++i)
      file.xattrs.push_back(
          Xattr{"user.x" + std::to_string(i), std::string(value_size, 'v')});
  });
}

std::string HugeFileImage(uint64_t size) {
  return EditManifest(ZeroChunkImage(kMinChunkSize), [&](Manifest& m) {
    Entry e = FileEntry(0, "huge");
    e.size = size;
    m.entries.push_back(e);
  });
}

SparseImage SparseManifest(const std::string& image, uint64_t apparent_size) {
  const auto trailer = Must(DecodeTrailer(Bytes(image).last(kTrailerSize)));
  SparseImage out;
  out.head = image.substr(0, image.size() - kTrailerSize);
  out.trailer = EncodeTrailer(
      Trailer{trailer.manifest_offset,
              apparent_size - kTrailerSize - trailer.manifest_offset,
              trailer.manifest_checksum});
  return out;
}

}  // namespace veil::snapshot::testing
