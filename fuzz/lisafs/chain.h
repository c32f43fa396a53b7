// SPDX-License-Identifier: Apache-2.0
//
// BuildChain: a chain of directories as deep as a hostile client likes,
// made over raw LISAFS at O(1) requests per level (issue #10, item 14):
// mkdir a new top in the root, rename the previous top into it as "d",
// close the previous top's FDID. Only the deepest level's FDID (and the
// top's) stay: the deepest pins the whole chain in the server, and with a
// small node-descriptor budget every use of it reopens thousands of closed
// ancestors, which must not recurse; freeing it must not either. A node
// cap stops the chain early with ENFILE.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "lisafs/message.h"

namespace veil::fuzz {

// `call` sends a request and returns its reply (nullopt if the channel is
// gone). Mounts, then builds up to `depth` levels named "chain0"/"chain1"
// at the top; returns the FDIDs of the root, the deepest level and the
// top (fewer if a step failed early).
template <typename Call>
std::vector<lisafs::FdId> BuildChain(Call call, size_t depth) {
  using namespace lisafs;
  std::vector<FdId> kept;
  auto child = [](const std::optional<Response>& r) -> FdId {
    const auto* made = r ? std::get_if<MkdirAtResp>(&*r) : nullptr;
    return made ? made->child.control_fd : kNoFdId;
  };
  auto mounted = call(MountReq{kProtocolVersion, kMaxMessageSize});
  const auto* mount = mounted ? std::get_if<MountResp>(&*mounted) : nullptr;
  if (mount == nullptr) return kept;
  const FdId root = mount->root.control_fd;
  kept.push_back(root);
  const FdId deepest =
      child(call(MkdirAtReq{root, "chain0", 0755, kNoId, kNoId}));
  if (deepest == kNoFdId) return kept;
  kept.push_back(deepest);
  FdId top = deepest;
  std::string top_name = "chain0";
  for (size_t i = 1; i < depth; ++i) {
    std::string name = i % 2 ? "chain1" : "chain0";
    const FdId made = child(call(MkdirAtReq{root, name, 0755, kNoId, kNoId}));
    if (made == kNoFdId) break;  // ENFILE past a node cap
    (void)call(RenameAtReq{root, top_name, made, "d", 0});
    if (top != deepest) (void)call(CloseReq{{top}});
    top = made;
    top_name = std::move(name);
  }
  if (top != deepest) kept.push_back(top);
  return kept;
}

}  // namespace veil::fuzz
