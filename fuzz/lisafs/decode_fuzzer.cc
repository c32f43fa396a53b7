// SPDX-License-Identifier: Apache-2.0
//
// Fuzzes the LISAFS decoder with untrusted bytes for every message id, in
// both directions, with 0-3 attached descriptors.
//
// Properties checked beyond "no crash, no sanitizer report":
//  - whatever decodes re-encodes to exactly the same bytes (the encoding
//    is canonical and the decoder accepts nothing the encoder would not
//    produce), and
//  - decoding those bytes again gives an equal message.
//
// Input layout (FuzzedDataProvider takes integers from the end):
//   last byte: bit 0 = response (else request); bit 1 = raw (the rest is
//              the whole datagram, header included); bits 2-3 = number of
//              descriptors.
//   if not raw, before it: the message id (1 byte, 0..30) and the tag
//              (8 bytes); the remaining prefix is the payload, and the
//              header is built around it so the fuzzer reaches the payload
//              decoders at once.
// Seeds (fuzz/corpus/lisafs_decode/) use the raw layout: an encoded sample
// message followed by one mode byte.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "lisafs/codec.h"

namespace {

using veil::lisafs::Decoded;
using veil::lisafs::MessageId;

// A violated property is a bug in the codec: crash loudly so that libFuzzer
// saves the input.
void Require(bool condition) {
  if (!condition) std::abort();
}

template <typename Message, typename DecodeFn, typename EncodeFn>
void CheckRoundTrip(const std::vector<uint8_t>& frame, size_t num_fds,
                    DecodeFn decode, EncodeFn encode) {
  auto decoded = decode(frame, num_fds);
  if (!decoded.has_value()) return;
  auto encoded = encode(decoded->message, decoded->header.tag);
  Require(encoded.has_value());
  Require(*encoded == frame);
  auto again = decode(*encoded, num_fds);
  Require(again.has_value());
  Require(again->message == decoded->message);
  Require(again->header.tag == decoded->header.tag);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider provider(data, size);
  const uint8_t mode = provider.ConsumeIntegral<uint8_t>();
  const bool response = (mode & 1) != 0;
  const bool raw = (mode & 2) != 0;
  const size_t num_fds = (mode >> 2) & 3;

  std::vector<uint8_t> frame;
  if (raw) {
    frame = provider.ConsumeRemainingBytes<uint8_t>();
  } else {
    const auto id =
        static_cast<MessageId>(provider.ConsumeIntegralInRange<uint16_t>(
            0, veil::lisafs::kMaxMessageIdValue + 1));
    const uint64_t tag = provider.ConsumeIntegral<uint64_t>();
    frame.resize(veil::lisafs::kHeaderSize);
    std::vector<uint8_t> payload = provider.ConsumeRemainingBytes<uint8_t>();
    frame.insert(frame.end(), payload.begin(), payload.end());
    auto sealed = veil::lisafs::internal::SealFrame(id, tag, std::move(frame));
    if (!sealed.has_value()) return 0;  // Larger than any message.
    frame = std::move(*sealed);
  }

  if (response) {
    CheckRoundTrip<veil::lisafs::Response>(
        frame, num_fds,
        [](std::span<const uint8_t> b, size_t n) {
          return veil::lisafs::DecodeResponse(b, n);
        },
        [](const veil::lisafs::Response& m, uint64_t tag) {
          return veil::lisafs::EncodeResponse(m, tag);
        });
  } else {
    CheckRoundTrip<veil::lisafs::Request>(
        frame, num_fds,
        [](std::span<const uint8_t> b, size_t n) {
          return veil::lisafs::DecodeRequest(b, n);
        },
        [](const veil::lisafs::Request& m, uint64_t tag) {
          return veil::lisafs::EncodeRequest(m, tag);
        });
  }
  // The header parser on its own, on the raw bytes as given.
  (void)veil::lisafs::DecodeHeader(std::span<const uint8_t>(data, size));
  return 0;
}
