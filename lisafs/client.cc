// SPDX-License-Identifier: Apache-2.0
#include "base/blocking.h"
#include "lisafs/client.h"

#include <algorithm>
#include <cerrno>

#include "base/logging.h"

namespace veil::lisafs {
namespace {

// Bytes of a PWrite request (or PRead reply) that are not data: header,
// FDID, offset and length prefix, rounded up.
constexpr size_t kIoOverhead = 64;

const Errno kConnectionLost(ECONNRESET, "lisafs: connection to server lost");

}  // namespace

Result<std::unique_ptr<Client>> Client::Create(Channel channel) {
  std::unique_ptr<Client> client(new Client(std::move(channel)));
  VEIL_TRY_VOID(client->Mount());
  client->receiver_ = std::thread([c = client.get()] { c->ReceiveLoop(); });
  return client;
}

Client::~Client() {
  channel_.Shutdown();
  if (receiver_.joinable()) receiver_.join();
}

Result<void> Client::Mount() {
  // Synchronous: no receiver thread runs yet, and nothing else may be sent
  // before the server has accepted our version.
  // The tag counter is the receiver's too once it runs; held for form.
  MutexLock lock(mu_);
  MountReq request;
  request.max_message_size = static_cast<uint32_t>(channel_.max_send_size());
  std::vector<uint8_t> bytes = VEIL_TRY(Encode(request, next_tag_));
  VEIL_TRY_VOID(channel_.Send(bytes, {}));

  Frame frame;
  frame.bytes.resize(kMaxMessageSize);
  Channel::Received got = VEIL_TRY(channel_.Recv(frame.bytes));
  frame.bytes.resize(got.size);
  frame.fds = std::move(got.fds);

  Result<Header> header = ParseReplyHeader(frame, MessageId::kMount);
  if (!header && header.error().code() == EPROTONOSUPPORT) {
    VEIL_LOG(kWarning) << "lisafs: server refused protocol version "
                       << kProtocolVersion;
    return Errno(EPROTONOSUPPORT,
                 "lisafs: server speaks another protocol version");
  }
  if (!header) return header.error();
  if (header->tag != next_tag_) return MalformedReply(Errno(EINVAL));
  ++next_tag_;
  Result<MountResp> reply = DecodePayload<MountResp>(
      std::span<const uint8_t>(frame.bytes).subspan(kHeaderSize),
      frame.fds.size());
  if (!reply) return MalformedReply(reply.error());

  root_ = reply->root;
  supported_ = std::move(reply->supported);
  const size_t limit =
      std::min<size_t>(channel_.max_send_size(), reply->max_message_size);
  max_io_size_ = std::min(kMaxIoSize, limit - kIoOverhead);
  return Ok();
}

Errno Client::MalformedReply(Errno decode_error) {
  if (decode_error.code() == EPROTONOSUPPORT) {
    return Errno(EPROTONOSUPPORT,
                 "lisafs: server speaks another protocol version");
  }
  return Errno(EPROTO, "lisafs: malformed reply from server");
}

Result<Header> Client::ParseReplyHeader(const Frame& frame,
                                        MessageId expected) {
  Result<Header> header = DecodeHeader(frame.bytes);
  if (!header) return MalformedReply(header.error());
  if (header->id == MessageId::kError) {
    Result<ErrorResp> error = DecodePayload<ErrorResp>(
        std::span<const uint8_t>(frame.bytes).subspan(kHeaderSize),
        frame.fds.size());
    if (!error) return MalformedReply(error.error());
    return Errno(static_cast<int>(error->error));
  }
  if (header->id != expected) return MalformedReply(Errno(EINVAL));
  return *header;
}

Result<Client::Frame> Client::RoundTrip(std::vector<uint8_t> request) {
  Pending pending;
  uint64_t tag;
  {
    MutexLock lock(mu_);
    if (broken_.code() != 0) return broken_;
    tag = next_tag_++;
    // Registered before sending, so that even an instant reply finds us.
    pending_.emplace(tag, &pending);
  }
  internal::SetTag(request, tag);
  Result<void> sent = channel_.Send(request, {});
  // The reply takes a round trip to the gofer (a disk's fsync, perhaps):
  // a sentry thread lets another serve the tasks meanwhile.
  if (sent) MayBlock();

  MutexLock lock(mu_);
  if (!sent) {
    // The receiver may already have failed this call (connection lost);
    // either way it must stop referring to `pending`.
    pending_.erase(tag);
    return sent.error();
  }
  while (!pending.done) pending.done_cv.Wait(mu_);
  if (pending.error.code() != 0) return pending.error;
  return std::move(pending.frame);
}

void Client::ReceiveLoop() {
  // One buffer for the life of the connection; each reply is copied out at
  // its real size for the waiting caller.
  std::vector<uint8_t> buffer(kMaxMessageSize);
  while (true) {
    Result<Channel::Received> got = channel_.Recv(buffer);
    if (!got) {
      if (got.error().code() != ECONNRESET) {
        VEIL_LOG(kWarning) << "lisafs: client receive failed, errno "
                           << got.error().code();
      }
      return Fail(got.error().code() == ECONNRESET ? kConnectionLost
                                                   : got.error());
    }
    std::span<const uint8_t> bytes(buffer.data(), got->size);
    Result<Header> header = DecodeHeader(bytes);
    if (!header) {
      VEIL_LOG(kWarning) << "lisafs: unparsable reply header from server";
      return Fail(Errno(EPROTO, "lisafs: malformed reply from server"));
    }
    if (!Deliver(header->tag, bytes, std::move(got->fds))) {
      // Not ours to guess about: a server that answers requests nobody
      // made (or answers one twice) cannot be trusted with the next ones.
      VEIL_LOG(kWarning) << "lisafs: reply with unknown tag " << header->tag;
      return Fail(Errno(EPROTO, "lisafs: reply with an unknown tag"));
    }
  }
}

bool Client::Deliver(uint64_t tag, std::span<const uint8_t> bytes,
                     std::vector<UniqueFd> fds) {
  MutexLock lock(mu_);
  auto it = pending_.find(tag);
  if (it == pending_.end()) return false;
  Pending* pending = it->second;
  pending_.erase(it);
  pending->frame.bytes.assign(bytes.begin(), bytes.end());
  pending->frame.fds = std::move(fds);
  pending->done = true;
  pending->done_cv.Signal();
  return true;
}

void Client::Fail(Errno error) {
  {
    MutexLock lock(mu_);
    if (broken_.code() == 0) broken_ = error;
    for (auto& [tag, pending] : pending_) {
      pending->error = broken_;
      pending->done = true;
      pending->done_cv.Signal();
    }
    pending_.clear();
  }
  // Stop the server from sending more to a client that gave up.
  channel_.Shutdown();
}

}  // namespace veil::lisafs
