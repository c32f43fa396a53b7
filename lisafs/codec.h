// SPDX-License-Identifier: Apache-2.0
//
// The LISAFS wire codec.
//
// A message on the wire is a 16-byte header followed by its payload, all
// little-endian:
//
//   offset 0  u16  message id
//   offset 2  u16  reserved, must be 0
//   offset 4  u32  payload size (must equal the datagram size - 16)
//   offset 8  u64  tag: chosen by the client, echoed by the server's reply
//   offset 16      payload: the fields of the message's Schema, in order
//
// Field encodings: integers are fixed-width; enums use their underlying
// width; strings, byte blobs and lists are a u32 count followed by the
// elements. Nothing is padded or aligned.
//
// Decoding is pure (no I/O, no globals) and total: for any byte string it
// returns a message or an Errno, never undefined behaviour. Every length
// and count is checked against its limit and against the bytes left before
// anything is allocated or copied, every name and text field is validated,
// and leftover bytes or host descriptors the message does not expect are
// errors. Encoding runs the same checks, so a message that encodes always
// decodes back to an equal value.
//
// Thread-safety: everything here is stateless; Reader and Writer objects
// are used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "base/result.h"
#include "lisafs/message.h"

namespace veil::lisafs {

inline constexpr size_t kHeaderSize = 16;

struct Header {
  MessageId id = MessageId::kError;
  uint32_t payload_size = 0;
  uint64_t tag = 0;
};

// Parses and checks the fixed header of a whole datagram `bytes`. Errors:
// EMSGSIZE if bytes exceed kMaxMessageSize; EINVAL if shorter than a header,
// if the reserved field is set or the payload size disagrees with the
// datagram. The id is not checked here.
Result<Header> DecodeHeader(std::span<const uint8_t> bytes);

// Bounds-checked, sticky-error field reader over one payload. Once a check
// fails every later read is a no-op that leaves its field untouched, so a
// Schema runs to its end without branching on errors.
class Reader final {
 public:
  Reader(std::span<const uint8_t> payload, size_t num_fds)
      : data_(payload), num_fds_(num_fds) {}

  void Num(uint8_t& v) { v = static_cast<uint8_t>(ReadLe(1)); }
  void Num(uint16_t& v) { v = static_cast<uint16_t>(ReadLe(2)); }
  void Num(uint32_t& v) { v = static_cast<uint32_t>(ReadLe(4)); }
  void Num(uint64_t& v) { v = ReadLe(8); }
  void Num(int64_t& v) { v = static_cast<int64_t>(ReadLe(8)); }
  // An FDID; kNoFdId is EBADF.
  void Fd(FdId& v);
  template <typename T>
  void AtMost(T& v, std::type_identity_t<T> max) {
    Num(v);
    if (v > max) Fail(Errno(EINVAL));
  }
  template <typename T>
  void Mask(T& v, std::type_identity_t<T> allowed) {
    Num(v);
    if ((v & ~allowed) != 0) Fail(Errno(EINVAL));
  }
  template <typename E>
  void Enum(E& v, std::type_identity_t<E> last) {
    std::underlying_type_t<E> raw{};
    Num(raw);
    if (raw > static_cast<std::underlying_type_t<E>>(last)) {
      Fail(Errno(EINVAL));
    } else if (ok()) {
      v = static_cast<E>(raw);
    }
  }
  // A directory entry name (IsSafeName): ENAMETOOLONG or EINVAL.
  void Name(std::string& v);
  // Text without NUL bytes of at most `max_len` bytes.
  void Text(std::string& v, size_t max_len, TextRule rule);
  // Arbitrary bytes, at most `max_len`.
  void Blob(std::vector<uint8_t>& v, size_t max_len);
  template <typename T>
  void Struct(T& v) {
    T::Schema(*this, v);
  }
  template <typename T, typename F>
  void List(std::vector<T>& v, size_t max_count, F&& item) {
    const size_t count = ReadCount(max_count);
    v.clear();
    if (!ok()) return;
    // count <= remaining bytes (every element takes at least one byte) and
    // <= max_count, so this reservation is bounded by the message size.
    v.reserve(count);
    for (size_t i = 0; i < count && ok(); ++i) item(v.emplace_back());
  }
  // The message carries between `min` and `max` host descriptors.
  void Fds(size_t min, size_t max);
  void Check(bool condition, Errno error = Errno(EINVAL)) {
    if (!condition) Fail(error);
  }

  bool ok() const { return error_.code() == 0; }
  // The first failure; otherwise EINVAL if bytes are left over or if
  // descriptors came with a message that takes none.
  Result<void> Finish() const;

 private:
  void Fail(Errno error) {
    if (ok()) error_ = error;
  }
  uint64_t ReadLe(size_t width);
  // Reads a u32 count; fails unless count <= max and count <= remaining.
  size_t ReadCount(size_t max);
  // Consumes `n` bytes; nullptr (and failure) if fewer are left.
  const uint8_t* Take(size_t n);

  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  size_t num_fds_;
  bool fds_declared_ = false;
  Errno error_{0};
};

// Appending field writer; mirrors Reader and applies the same checks, with
// a sticky error.
class Writer final {
 public:
  // `out` is borrowed and must outlive the Writer.
  explicit Writer(std::vector<uint8_t>* out) : out_(out) {}

  void Num(uint8_t v) { WriteLe(v, 1); }
  void Num(uint16_t v) { WriteLe(v, 2); }
  void Num(uint32_t v) { WriteLe(v, 4); }
  void Num(uint64_t v) { WriteLe(v, 8); }
  void Num(int64_t v) { WriteLe(static_cast<uint64_t>(v), 8); }
  void Fd(FdId v);
  template <typename T>
  void AtMost(const T& v, std::type_identity_t<T> max) {
    Check(v <= max);
    Num(v);
  }
  template <typename T>
  void Mask(const T& v, std::type_identity_t<T> allowed) {
    Check((v & ~allowed) == 0);
    Num(v);
  }
  template <typename E>
  void Enum(const E& v, std::type_identity_t<E> last) {
    const auto raw = static_cast<std::underlying_type_t<E>>(v);
    Check(raw <= static_cast<std::underlying_type_t<E>>(last));
    Num(raw);
  }
  void Name(const std::string& v);
  void Text(const std::string& v, size_t max_len, TextRule rule);
  void Blob(const std::vector<uint8_t>& v, size_t max_len);
  template <typename T>
  void Struct(const T& v) {
    T::Schema(*this, v);
  }
  template <typename T, typename F>
  void List(const std::vector<T>& v, size_t max_count, F&& item) {
    Check(v.size() <= max_count);
    if (!ok()) return;
    Num(static_cast<uint32_t>(v.size()));
    for (const T& element : v) item(element);
  }
  void Fds(size_t, size_t) {}  // Descriptors travel beside the bytes.
  void Check(bool condition, Errno error = Errno(EINVAL)) {
    if (!condition && ok()) error_ = error;
  }

  bool ok() const { return error_.code() == 0; }
  Result<void> Finish() const;

 private:
  void WriteLe(uint64_t v, size_t width);

  std::vector<uint8_t>* out_;  // Borrowed.
  Errno error_{0};
};

namespace internal {
// Fills in the header of `frame` (whose first kHeaderSize bytes are
// reserved); EMSGSIZE if the whole exceeds kMaxMessageSize.
Result<std::vector<uint8_t>> SealFrame(MessageId id, uint64_t tag,
                                       std::vector<uint8_t> frame);
// Rewrites the tag of an encoded frame. Precondition: the frame came from
// Encode (at least kHeaderSize bytes).
void SetTag(std::span<uint8_t> frame, uint64_t tag);
}  // namespace internal

// Encodes one message with its header. Errors: whatever the Schema's checks
// report (EINVAL, EBADF for kNoFdId, ENAMETOOLONG), EMSGSIZE if too large.
template <typename T>
Result<std::vector<uint8_t>> Encode(const T& message, uint64_t tag) {
  std::vector<uint8_t> frame(kHeaderSize, 0);
  Writer writer(&frame);
  T::Schema(writer, message);
  VEIL_TRY_VOID(writer.Finish());
  return internal::SealFrame(T::kId, tag, std::move(frame));
}

Result<std::vector<uint8_t>> EncodeRequest(const Request& request,
                                           uint64_t tag);
Result<std::vector<uint8_t>> EncodeResponse(const Response& response,
                                            uint64_t tag);

// Decodes the payload of a message known to be a T.
template <typename T>
Result<T> DecodePayload(std::span<const uint8_t> payload, size_t num_fds) {
  Reader reader(payload, num_fds);
  T message;
  T::Schema(reader, message);
  VEIL_TRY_VOID(reader.Finish());
  return message;
}

template <typename Message>
struct Decoded {
  Header header;
  Message message;
};

// Decodes a whole datagram (header and payload) that arrived with
// `num_fds` host descriptors. Errors: those of DecodeHeader; EINVAL for an
// id that is not a request (or not a response) or a malformed payload;
// EBADF for a kNoFdId field; ENAMETOOLONG for an over-long name or text;
// EPROTONOSUPPORT for a Mount of another protocol version.
Result<Decoded<Request>> DecodeRequest(std::span<const uint8_t> bytes,
                                       size_t num_fds);
Result<Decoded<Response>> DecodeResponse(std::span<const uint8_t> bytes,
                                         size_t num_fds);

}  // namespace veil::lisafs
