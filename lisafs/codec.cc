// SPDX-License-Identifier: Apache-2.0
#include "lisafs/codec.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string_view>
#include <utility>

namespace veil::lisafs {
namespace {

// 0 if `name` may be a directory entry, else the errno Linux would use.
int NameErrno(std::string_view name) {
  if (name.size() > kMaxNameLength) return ENAMETOOLONG;
  return IsSafeName(name) ? 0 : EINVAL;
}

int TextErrno(std::string_view text, size_t max_len, TextRule rule) {
  if (text.size() > max_len) return ENAMETOOLONG;
  if (rule == TextRule::kNonEmpty && text.empty()) return EINVAL;
  // An embedded NUL would truncate the string at the first C API it meets,
  // so the server would act on a different name than it checked.
  if (text.find('\0') != std::string_view::npos) return EINVAL;
  return 0;
}

uint64_t LoadLe(const uint8_t* p, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

void StoreLe(uint8_t* p, uint64_t v, size_t width) {
  for (size_t i = 0; i < width; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// Finds the alternative of Variant whose kId is `id` and decodes it.
template <typename Variant, size_t I = 0>
Result<Variant> DecodeAlternative(MessageId id,
                                  std::span<const uint8_t> payload,
                                  size_t num_fds) {
  if constexpr (I == std::variant_size_v<Variant>) {
    return Errno(EINVAL);  // Not an id of this direction.
  } else {
    using T = std::variant_alternative_t<I, Variant>;
    if (T::kId != id) {
      return DecodeAlternative<Variant, I + 1>(id, payload, num_fds);
    }
    T message = VEIL_TRY(DecodePayload<T>(payload, num_fds));
    return Variant(std::in_place_index<I>, std::move(message));
  }
}

template <typename Variant>
Result<Decoded<Variant>> DecodeMessage(std::span<const uint8_t> bytes,
                                       size_t num_fds) {
  const Header header = VEIL_TRY(DecodeHeader(bytes));
  Variant message = VEIL_TRY(DecodeAlternative<Variant>(
      header.id, bytes.subspan(kHeaderSize), num_fds));
  return Decoded<Variant>{header, std::move(message)};
}

}  // namespace

Result<Header> DecodeHeader(std::span<const uint8_t> bytes) {
  if (bytes.size() > kMaxMessageSize) return Errno(EMSGSIZE);
  if (bytes.size() < kHeaderSize) return Errno(EINVAL);
  const uint8_t* p = bytes.data();
  if (LoadLe(p + 2, 2) != 0) return Errno(EINVAL);  // Reserved.
  Header header;
  header.id = static_cast<MessageId>(LoadLe(p, 2));
  header.payload_size = static_cast<uint32_t>(LoadLe(p + 4, 4));
  header.tag = LoadLe(p + 8, 8);
  if (header.payload_size != bytes.size() - kHeaderSize) return Errno(EINVAL);
  return header;
}

// ---- Reader ----

const uint8_t* Reader::Take(size_t n) {
  if (!ok()) return nullptr;
  if (n > data_.size() - pos_) {
    Fail(Errno(EINVAL));
    return nullptr;
  }
  const uint8_t* p = data_.data() + pos_;
  pos_ += n;
  return p;
}

uint64_t Reader::ReadLe(size_t width) {
  const uint8_t* p = Take(width);
  return p == nullptr ? 0 : LoadLe(p, width);
}

size_t Reader::ReadCount(size_t max) {
  uint32_t count = 0;
  Num(count);
  if (!ok()) return 0;
  if (count > max || count > data_.size() - pos_) {
    Fail(Errno(EINVAL));
    return 0;
  }
  return count;
}

void Reader::Fd(FdId& v) {
  Num(v);
  if (ok() && v == kNoFdId) Fail(Errno(EBADF));
}

void Reader::Name(std::string& v) {
  // Read the length first so that an over-long name reports ENAMETOOLONG
  // whether or not its bytes are all present.
  uint32_t len = 0;
  Num(len);
  if (ok() && len > kMaxNameLength) Fail(Errno(ENAMETOOLONG));
  const uint8_t* p = Take(len);
  if (p == nullptr) return;
  std::string_view name(reinterpret_cast<const char*>(p), len);
  if (int e = NameErrno(name); e != 0) return Fail(Errno(e));
  v.assign(name);
}

void Reader::Text(std::string& v, size_t max_len, TextRule rule) {
  uint32_t len = 0;
  Num(len);
  if (ok() && len > max_len) Fail(Errno(ENAMETOOLONG));
  const uint8_t* p = Take(len);
  if (p == nullptr) return;
  std::string_view text(reinterpret_cast<const char*>(p), len);
  if (int e = TextErrno(text, max_len, rule); e != 0) return Fail(Errno(e));
  v.assign(text);
}

void Reader::Blob(std::vector<uint8_t>& v, size_t max_len) {
  uint32_t len = 0;
  Num(len);
  if (ok() && len > max_len) Fail(Errno(EINVAL));
  const uint8_t* p = Take(len);
  if (p == nullptr) return;
  v.assign(p, p + len);
}

void Reader::Fds(size_t min, size_t max) {
  fds_declared_ = true;
  if (num_fds_ < min || num_fds_ > max) Fail(Errno(EINVAL));
}

Result<void> Reader::Finish() const {
  if (!ok()) return error_;
  if (pos_ != data_.size()) return Errno(EINVAL);  // Trailing bytes.
  if (!fds_declared_ && num_fds_ != 0) return Errno(EINVAL);
  return Ok();
}

// ---- Writer ----

void Writer::WriteLe(uint64_t v, size_t width) {
  if (!ok()) return;
  const size_t at = out_->size();
  out_->resize(at + width);
  StoreLe(out_->data() + at, v, width);
}

void Writer::Fd(FdId v) {
  Check(v != kNoFdId, Errno(EBADF));
  Num(v);
}

void Writer::Name(const std::string& v) {
  const int e = NameErrno(v);
  Check(e == 0, Errno(e));
  if (!ok()) return;
  Num(static_cast<uint32_t>(v.size()));
  out_->insert(out_->end(), v.begin(), v.end());
}

void Writer::Text(const std::string& v, size_t max_len, TextRule rule) {
  const int e = TextErrno(v, max_len, rule);
  Check(e == 0, Errno(e));
  if (!ok()) return;
  Num(static_cast<uint32_t>(v.size()));
  out_->insert(out_->end(), v.begin(), v.end());
}

void Writer::Blob(const std::vector<uint8_t>& v, size_t max_len) {
  Check(v.size() <= max_len);
  if (!ok()) return;
  Num(static_cast<uint32_t>(v.size()));
  out_->insert(out_->end(), v.begin(), v.end());
}

Result<void> Writer::Finish() const {
  if (!ok()) return error_;
  return Ok();
}

// ---- Whole messages ----

namespace internal {

Result<std::vector<uint8_t>> SealFrame(MessageId id, uint64_t tag,
                                       std::vector<uint8_t> frame) {
  if (frame.size() > kMaxMessageSize) return Errno(EMSGSIZE);
  StoreLe(frame.data(), static_cast<uint16_t>(id), 2);
  StoreLe(frame.data() + 2, 0, 2);
  StoreLe(frame.data() + 4, frame.size() - kHeaderSize, 4);
  StoreLe(frame.data() + 8, tag, 8);
  return frame;
}

void SetTag(std::span<uint8_t> frame, uint64_t tag) {
  if (frame.size() < kHeaderSize) std::abort();  // Caller bug.
  StoreLe(frame.data() + 8, tag, 8);
}

}  // namespace internal

Result<std::vector<uint8_t>> EncodeRequest(const Request& request,
                                           uint64_t tag) {
  return std::visit([tag](const auto& m) { return Encode(m, tag); }, request);
}

Result<std::vector<uint8_t>> EncodeResponse(const Response& response,
                                            uint64_t tag) {
  return std::visit([tag](const auto& m) { return Encode(m, tag); }, response);
}

Result<Decoded<Request>> DecodeRequest(std::span<const uint8_t> bytes,
                                       size_t num_fds) {
  return DecodeMessage<Request>(bytes, num_fds);
}

Result<Decoded<Response>> DecodeResponse(std::span<const uint8_t> bytes,
                                         size_t num_fds) {
  return DecodeMessage<Response>(bytes, num_fds);
}

}  // namespace veil::lisafs
