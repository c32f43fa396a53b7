// SPDX-License-Identifier: Apache-2.0
//
// Fuzzes the gofer's file server end to end: each input is one LISAFS
// session from a hostile client against lisafs::Server over the real
// HostBackend, serving a scratch directory on tmpfs (scratch_tree.h). The
// server runs in-process on its own thread, reached through a real
// socketpair, so every request goes through the channel, the decoder, the
// dispatcher and its FDID table, and the backend's openat2-relative calls.
// The production gofer also confines itself (pivot_root, seccomp); the
// fuzzer does not: the backend's own containment is what is under test.
//
// Properties checked beyond "no crash, no sanitizer report":
//  - every reply decodes, carries the request's tag and is the request's
//    response type or an Error;
//  - nothing outside the export changes (canaries beside it, reachable
//    through symlinks inside it);
//  - when the session ends, the server has closed every host descriptor
//    it opened (the process's /proc/self/fd count is back where it was)
//    and released every node but the export root.
//
// Input layout (FuzzedDataProvider: integers come from the end, byte
// strings from the front): option bits (read-only export, descriptor
// donation, worker pool, a budget of two node descriptors, a deep chain
// of directories built first, small caps on nodes and open files, a
// descriptor attached to every request), then up to kMaxSteps steps. A
// step is a choice
// 0..31: 1..29 send that message with fields picked by the provider (FDIDs
// mostly from those the server handed out, names from a small vocabulary
// that includes escaping symlinks), 0 sends raw bytes as a datagram, 30-31
// raw bytes as the payload of a chosen id. Seeds:
// fuzz/corpus/lisafs_server/, written by fuzz/make_seeds.py.
#include <fuzzer/FuzzedDataProvider.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "base/logging.h"
#include "fuzz/lisafs/chain.h"
#include "fuzz/lisafs/scratch_tree.h"
#include "gofer/server/host_backend.h"
#include "lisafs/channel.h"
#include "lisafs/codec.h"
#include "lisafs/server.h"

namespace {

namespace lisafs = veil::lisafs;
using lisafs::FdId;
using lisafs::MessageId;

constexpr int kMaxSteps = 200;
constexpr size_t kChainDepth = 3000;  // option 16: chain.h's levels
constexpr size_t kMaxChannels = 3;
// Bound on what a request may allocate on the tmpfs (fallocate), so the
// scratch tree stays small whatever the input; sparse sizes are free.
constexpr uint64_t kMaxAllocate = 1 << 20;

void Require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "lisafs_server fuzzer: property violated: %s\n",
                 what);
    std::abort();
  }
}

// VEIL_FUZZ_TRACE=1 prints each request and its answer, to check that a
// hand-made seed does what it means to.
bool Trace() {
  static const bool trace = std::getenv("VEIL_FUZZ_TRACE") != nullptr;
  return trace;
}

const char* const kNames[] = {"file", "dir",   "inner", "esc", "escdir",
                              "abs",  "dotdot", "fifo", "new", "n2"};
const char* const kXattrNames[] = {
    "user.x", "user.y", "trusted.overlay.opaque", "trusted.overlay.z",
    "security.capability", "system.posix_acl_access", "trusted.x"};

// Which requests carry a host descriptor (none is expected; the server must
// close each unread, before it replies).
enum class Attach : uint8_t {
  kSomeRaw,  // one raw datagram in eight: a directory outside the export
  // Also every structured request with an even tag, alternately that
  // directory and the client's own end of the channel (which, left unread
  // in the server's queue, would keep the client's end open: issue #10,
  // item 15). Such a request is malformed (EINVAL); the odd ones between
  // them go through, so the session still gets somewhere.
  kEvery,
};

class Session final {
 public:
  Session(FuzzedDataProvider& in, std::string outside, Attach attach)
      : in_(in),
        attach_(attach),
        outside_(std::move(outside)),
        outside_fd_(::open(outside_.c_str(), O_PATH | O_CLOEXEC)) {}

  void Run(lisafs::Channel channel, size_t chain_depth) {
    channels_.push_back(std::move(channel));
    if (chain_depth > 0) BuildChain(chain_depth);
    for (int step = 0; step < kMaxSteps && in_.remaining_bytes() > 0 &&
                       !channels_.empty();
         ++step) {
      Step();
    }
  }

 private:
  void Step() {
    const size_t ch = channels_.size() > 1
                          ? in_.ConsumeIntegralInRange<size_t>(
                                0, channels_.size() - 1)
                          : 0;
    const int choice = in_.ConsumeIntegralInRange(0, 31);
    if (choice == 0) {
      SendRaw(ch, in_.ConsumeBytes<uint8_t>(
                      in_.ConsumeIntegralInRange<size_t>(0, 600)));
    } else if (choice >= 30) {
      const auto id = static_cast<MessageId>(
          in_.ConsumeIntegralInRange<uint16_t>(0, lisafs::kMaxMessageIdValue));
      std::vector<uint8_t> frame(lisafs::kHeaderSize);
      std::vector<uint8_t> payload = in_.ConsumeBytes<uint8_t>(
          in_.ConsumeIntegralInRange<size_t>(0, 300));
      frame.insert(frame.end(), payload.begin(), payload.end());
      auto sealed = lisafs::internal::SealFrame(id, ++tag_, std::move(frame));
      if (sealed) SendRaw(ch, std::move(*sealed));
    } else {
      auto request = Build(static_cast<MessageId>(choice));
      auto bytes = lisafs::EncodeRequest(request, ++tag_);
      // A field the encoder refuses (an unsafe random name) skips the
      // step; raw steps cover what the decoder does with such bytes.
      if (bytes) Exchange(ch, *bytes, IdOf(request), Attached(ch));
    }
  }

  lisafs::Request Build(MessageId id) {
    using namespace lisafs;
    switch (id) {
      case MessageId::kMount:
        return MountReq{kProtocolVersion,
                        in_.ConsumeIntegralInRange<uint32_t>(kMinMessageSize,
                                                             kMaxMessageSize)};
      case MessageId::kChannel: return ChannelReq{};
      case MessageId::kFStat: return FStatReq{Fd()};
      case MessageId::kSetStat: {
        SetStatReq r;
        r.fd = Fd();
        r.mask = in_.ConsumeIntegral<uint32_t>() &
                 (kSetStatChanges | kSetStatAtimeNow | kSetStatMtimeNow);
        r.mode = Perm();
        r.uid = Id();
        r.gid = Id();
        r.size = in_.ConsumeIntegralInRange<uint64_t>(0, 1 << 21);
        r.atime = Time();
        r.mtime = Time();
        return r;
      }
      case MessageId::kWalk: return WalkReq{Fd(), Names()};
      case MessageId::kWalkStat:
        return WalkStatReq{Fd(),
                           in_.ConsumeBool() ? WalkStatStart::kInclude
                                             : WalkStatStart::kSkip,
                           Names()};
      case MessageId::kOpenAt: return OpenAtReq{Fd(), OpenFlags()};
      case MessageId::kOpenCreateAt:
        return OpenCreateAtReq{Fd(), Name(), Perm(), Id(), Id(), OpenFlags()};
      case MessageId::kClose: return CloseReq{Fds()};
      case MessageId::kFSync: return FSyncReq{Fds()};
      case MessageId::kPWrite:
        return PWriteReq{Fd(), Offset(),
                         in_.ConsumeBytes<uint8_t>(
                             in_.ConsumeIntegralInRange<size_t>(0, 4096))};
      case MessageId::kPRead:
        return PReadReq{Fd(), Offset(),
                        in_.ConsumeIntegralInRange<uint32_t>(0, 1 << 16)};
      case MessageId::kMkdirAt:
        return MkdirAtReq{Fd(), Name(), Perm(), Id(), Id()};
      case MessageId::kMknodAt: {
        static constexpr uint32_t kTypes[] = {S_IFREG, S_IFCHR, S_IFBLK,
                                              S_IFIFO, S_IFSOCK};
        MknodAtReq r;
        r.dir_fd = Fd();
        r.name = Name();
        r.mode = in_.PickValueInArray(kTypes) | Perm();
        r.uid = Id();
        r.gid = Id();
        r.rdev_major = in_.ConsumeBool() ? 0 : in_.ConsumeIntegral<uint8_t>();
        r.rdev_minor = in_.ConsumeBool() ? 0 : in_.ConsumeIntegral<uint8_t>();
        return r;
      }
      case MessageId::kSymlinkAt:
        return SymlinkAtReq{Fd(), Name(), Target(), Id(), Id()};
      case MessageId::kLinkAt: return LinkAtReq{Fd(), Name(), Fd()};
      case MessageId::kFStatFS: return FStatFSReq{Fd()};
      case MessageId::kFAllocate: {
        FAllocateReq r;
        r.fd = Fd();
        r.mode = in_.ConsumeIntegral<uint64_t>() & kFallocateModes;
        r.offset = in_.ConsumeIntegralInRange<uint64_t>(0, kMaxAllocate);
        r.length = in_.ConsumeIntegralInRange<uint64_t>(0, kMaxAllocate);
        return r;
      }
      case MessageId::kReadLinkAt: return ReadLinkAtReq{Fd()};
      case MessageId::kFlush: return FlushReq{Fd()};
      case MessageId::kConnect: return ConnectReq{Fd(), SockType()};
      case MessageId::kUnlinkAt:
        return UnlinkAtReq{Fd(), Name(),
                           in_.ConsumeBool() ? uint32_t{AT_REMOVEDIR} : 0};
      case MessageId::kRenameAt: {
        static constexpr uint32_t kFlags[] = {0, RENAME_NOREPLACE,
                                              RENAME_EXCHANGE};
        RenameAtReq r;
        r.old_dir_fd = Fd();
        r.old_name = Name();
        r.new_dir_fd = Fd();
        r.new_name = Name();
        r.flags = in_.PickValueInArray(kFlags);
        return r;
      }
      case MessageId::kGetdents64:
        return Getdents64Req{Fd(), in_.ConsumeIntegralInRange<uint32_t>(
                                       0, kMaxGetdentsBytes)};
      case MessageId::kFGetXattr:
        return FGetXattrReq{Fd(), XattrName(),
                            in_.ConsumeIntegralInRange<uint32_t>(
                                0, kMaxXattrSize)};
      case MessageId::kFSetXattr: {
        static constexpr uint32_t kFlags[] = {0, XATTR_CREATE, XATTR_REPLACE};
        FSetXattrReq r;
        r.fd = Fd();
        r.name = XattrName();
        r.value = in_.ConsumeBytes<uint8_t>(
            in_.ConsumeIntegralInRange<size_t>(0, 256));
        r.flags = in_.PickValueInArray(kFlags);
        return r;
      }
      case MessageId::kFListXattr:
        return FListXattrReq{Fd(), in_.ConsumeIntegralInRange<uint32_t>(
                                       0, kMaxXattrSize)};
      case MessageId::kFRemoveXattr: return FRemoveXattrReq{Fd(), XattrName()};
      case MessageId::kBindAt:
        return BindAtReq{Fd(), Name(), SockType(), Perm(), Id(), Id()};
      case MessageId::kSeekData:
        return SeekDataReq{
            Fd(), in_.ConsumeIntegralInRange<uint64_t>(0, kMaxAllocate),
            in_.ConsumeBool() ? uint32_t{SEEK_DATA} : uint32_t{SEEK_HOLE}};
      case MessageId::kError: break;
    }
    return FStatReq{Fd()};
  }

  // Option 16: a deep chain first (chain.h); the steps may use its FDIDs.
  void BuildChain(size_t depth) {
    auto call = [&](const lisafs::Request& request) {
      std::optional<lisafs::Response> none;
      auto bytes = lisafs::EncodeRequest(request, ++tag_);
      Require(bytes.has_value(), "chain request encodes");
      if (channels_.empty() || !channels_[0].Send(*bytes, {})) return none;
      auto got = channels_[0].Recv(buffer_);
      if (!got) return none;
      auto reply = lisafs::DecodeResponse(
          std::span<const uint8_t>(buffer_.data(), got->size),
          got->fds.size());
      Require(reply.has_value(), "chain reply decodes");
      return std::optional<lisafs::Response>(std::move(reply->message));
    };
    for (FdId fd : veil::fuzz::BuildChain(call, depth)) control_.push_back(fd);
  }

  // ---- Fields ----

  // Mostly an FDID the server handed out (of either kind: using one of
  // the wrong kind is part of the test), sometimes any number.
  FdId Fd() {
    const size_t known = control_.size() + open_.size();
    const size_t pick = in_.ConsumeIntegralInRange<size_t>(0, known);
    if (pick == known) return in_.ConsumeIntegralInRange<FdId>(1, 64);
    return pick < control_.size() ? control_[pick]
                                  : open_[pick - control_.size()];
  }
  std::vector<FdId> Fds() {
    std::vector<FdId> fds(in_.ConsumeIntegralInRange<size_t>(1, 3));
    for (FdId& fd : fds) fd = Fd();
    return fds;
  }
  std::string Name() {
    const size_t pick = in_.ConsumeIntegralInRange<size_t>(
        0, std::size(kNames));
    if (pick < std::size(kNames)) return kNames[pick];
    return in_.ConsumeRandomLengthString(64);
  }
  std::vector<std::string> Names() {
    std::vector<std::string> names(in_.ConsumeIntegralInRange<size_t>(0, 4));
    for (std::string& name : names) name = Name();
    return names;
  }
  std::string XattrName() {
    const size_t pick = in_.ConsumeIntegralInRange<size_t>(
        0, std::size(kXattrNames));
    if (pick < std::size(kXattrNames)) return kXattrNames[pick];
    return "user." + in_.ConsumeRandomLengthString(32);
  }
  std::string Target() {
    switch (in_.ConsumeIntegralInRange(0, 4)) {
      case 0: return "../outside/secret";
      case 1: return outside_;
      case 2: return "..";
      case 3: return "file";
      default: return in_.ConsumeRandomLengthString(64);
    }
  }
  uint32_t Perm() { return in_.ConsumeIntegralInRange<uint32_t>(0, 07777); }
  uint32_t Id() {
    static constexpr uint32_t kIds[] = {lisafs::kNoId, 0, 1000};
    return in_.PickValueInArray(kIds);
  }
  lisafs::Timestamp Time() {
    return {in_.ConsumeIntegral<int64_t>(),
            in_.ConsumeIntegralInRange<uint32_t>(0, 999'999'999)};
  }
  uint64_t Offset() {
    return in_.ConsumeBool() ? in_.ConsumeIntegralInRange<uint64_t>(0, 1 << 20)
                             : in_.ConsumeIntegralInRange<uint64_t>(
                                   0, lisafs::kMaxOffset);
  }
  uint32_t OpenFlags() {
    static constexpr uint32_t kAccess[] = {O_RDONLY, O_WRONLY, O_RDWR};
    return in_.PickValueInArray(kAccess) |
           (in_.ConsumeIntegral<uint32_t>() & lisafs::kOpenFlags &
            ~uint32_t{O_ACCMODE});
  }
  uint32_t SockType() {
    static constexpr uint32_t kTypes[] = {SOCK_STREAM, SOCK_DGRAM,
                                          SOCK_SEQPACKET};
    return in_.PickValueInArray(kTypes);
  }

  // ---- Wire ----

  // The descriptor a structured request carries (Attach), or -1.
  int Attached(size_t ch) const {
    if (attach_ != Attach::kEvery || tag_ % 2 != 0) return -1;
    return tag_ % 4 == 0 ? outside_fd_.get() : channels_[ch].fd();
  }

  // Sends bytes the encoder did not vet. Sometimes a host descriptor
  // rides along (the server must close it unread).
  void SendRaw(size_t ch, std::vector<uint8_t> bytes) {
    if (bytes.empty()) return;  // Reads as end-of-stream; not a request.
    auto decoded = lisafs::DecodeRequest(bytes, 0);
    if (decoded) {
      if (auto* f = std::get_if<lisafs::FAllocateReq>(&decoded->message)) {
        if (f->offset > kMaxAllocate || f->length > kMaxAllocate) return;
      }
    }
    auto header = lisafs::DecodeHeader(bytes);
    if (!header) {
      // The server ends a channel that sends a datagram without a readable
      // header; it will not answer.
      (void)channels_[ch].Send(bytes, {});
      Drop(ch);
      return;
    }
    const bool attach = in_.ConsumeIntegralInRange(0, 7) == 0;
    (void)Exchange(ch, bytes, header->id, attach ? outside_fd_.get() : -1);
  }

  // Sends one request and checks and learns from its reply. False if the
  // channel is gone.
  bool Exchange(size_t ch, const std::vector<uint8_t>& bytes, MessageId id,
                int attach = -1) {
    const lisafs::Channel& channel = channels_[ch];
    std::span<const int> fds;
    if (attach >= 0) fds = std::span<const int>(&attach, 1);
    if (!channel.Send(bytes, fds)) return Drop(ch);
    auto got = channel.Recv(buffer_);
    if (!got) return Drop(ch);
    auto reply = lisafs::DecodeResponse(
        std::span<const uint8_t>(buffer_.data(), got->size), got->fds.size());
    Require(reply.has_value(), "reply decodes");
    auto header = lisafs::DecodeHeader(bytes);
    Require(reply->header.tag == header->tag, "reply carries the tag");
    const MessageId reply_id = IdOf(reply->message);
    Require(reply_id == MessageId::kError || reply_id == id,
            "reply answers the request's id");
    if (Trace()) {
      const auto* error = std::get_if<lisafs::ErrorResp>(&reply->message);
      std::fprintf(stderr, "lisafs_server: channel %zu %s -> %s %u\n", ch,
                   lisafs::MessageName(id), lisafs::MessageName(reply_id),
                   error ? error->error : 0);
    }
    Learn(reply->message, got->fds);
    return true;
  }

  bool Drop(size_t ch) {
    channels_.erase(channels_.begin() + static_cast<ptrdiff_t>(ch));
    return false;
  }

  void Learn(const lisafs::Response& reply,
             std::vector<veil::UniqueFd>& fds) {
    using namespace lisafs;
    std::visit(
        [&](const auto& m) {
          using T = std::decay_t<decltype(m)>;
          if constexpr (std::is_same_v<T, MountResp>) {
            control_.push_back(m.root.control_fd);
          } else if constexpr (std::is_same_v<T, WalkResp>) {
            for (const Inode& inode : m.inodes)
              control_.push_back(inode.control_fd);
          } else if constexpr (std::is_same_v<T, OpenAtResp>) {
            open_.push_back(m.open_fd);
          } else if constexpr (std::is_same_v<T, OpenCreateAtResp>) {
            control_.push_back(m.child.control_fd);
            open_.push_back(m.open_fd);
          } else if constexpr (std::is_same_v<T, MkdirAtResp> ||
                               std::is_same_v<T, MknodAtResp> ||
                               std::is_same_v<T, SymlinkAtResp> ||
                               std::is_same_v<T, LinkAtResp> ||
                               std::is_same_v<T, BindAtResp>) {
            control_.push_back(m.child.control_fd);
          } else if constexpr (std::is_same_v<T, ChannelResp>) {
            if (channels_.size() < kMaxChannels && fds.size() == 1) {
              auto extra = Channel::Adopt(std::move(fds[0]));
              if (extra) channels_.push_back(std::move(*extra));
            }
          }
        },
        reply);
    // Donated descriptors (and an unwanted channel) close here.
  }

  FuzzedDataProvider& in_;
  const Attach attach_;
  const std::string outside_;
  // Attached to some raw requests: a way out, if the server used it.
  const veil::UniqueFd outside_fd_;
  std::vector<lisafs::Channel> channels_;
  std::vector<FdId> control_;
  std::vector<FdId> open_;
  uint64_t tag_ = 0;
  std::vector<uint8_t> buffer_ = std::vector<uint8_t>(lisafs::kMaxMessageSize);
};

veil::fuzz::ScratchTree* Scratch() {
  static veil::fuzz::ScratchTree* tree = [] {
    veil::SetLogLevel(veil::LogLevel::kError);
    ::umask(0);  // As `veil gofer` runs: the client sends final modes.
    auto* t = new veil::fuzz::ScratchTree();
    if (!t->Init()) {
      delete t;
      return static_cast<veil::fuzz::ScratchTree*>(nullptr);
    }
    // Removes the tree when the fuzzer exits normally.
    std::atexit([] { delete Scratch(); });
    return t;
  }();
  return tree;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  veil::fuzz::ScratchTree* scratch = Scratch();
  if (scratch == nullptr) return 0;  // No tmpfs here: nothing to test.
  FuzzedDataProvider in(data, size);
  const uint8_t options = in.ConsumeIntegral<uint8_t>();

  const int fds_before = veil::fuzz::CountOpenFds();
  veil::UniqueFd root = scratch->Reset();
  Require(root.valid(), "scratch tree rebuilt");
  const auto outside_before = scratch->Fingerprint();
  {
    veil::gofer::HostBackendOptions backend_options;
    if (options & 1) backend_options.access = veil::gofer::Access::kReadOnly;
    if (options & 2) backend_options.donation = veil::gofer::Donation::kNever;
    // A budget of 2 walked nodes' descriptors: nodes are closed and opened
    // again by name throughout the session (host_node.h).
    if (options & 8) backend_options.max_node_fds = 2;
    // Small caps on nodes and open files: their ENFILE paths.
    if (options & 32) backend_options.max_nodes = 64;
    if (options & 32) backend_options.max_open_files = 4;
    auto backend =
        veil::gofer::HostBackend::Create(std::move(root), backend_options);
    Require(backend.has_value(), "backend serves the scratch root");
    const size_t nodes_before = (*backend)->live_nodes();

    lisafs::ServerOptions server_options;
    server_options.workers_per_channel = (options & 4) ? 2 : 1;
    lisafs::Server server(**backend, server_options);
    auto pair = lisafs::Channel::CreatePair();
    Require(pair.has_value(), "socketpair");
    std::thread serving([&server, channel = std::move(pair->first)]() mutable {
      (void)server.Serve(std::move(channel));
    });
    {
      Session session(in, scratch->Outside(),
                      (options & 64) ? Attach::kEvery : Attach::kSomeRaw);
      session.Run(std::move(pair->second), (options & 16) ? kChainDepth : 0);
    }  // The client's channels close: Serve returns.
    serving.join();
    Require((*backend)->live_nodes() == nodes_before,
            "every node released when the session ends");
  }
  Require(veil::fuzz::CountOpenFds() == fds_before,
          "no host descriptor leaked by the session");
  Require(scratch->Fingerprint() == outside_before,
          "nothing outside the export changed");
  return 0;
}
