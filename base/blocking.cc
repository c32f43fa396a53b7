// SPDX-License-Identifier: Apache-2.0
#include "base/blocking.h"

namespace veil {
namespace {
thread_local MayBlockHook may_block_hook = nullptr;
}  // namespace

void SetMayBlockHook(MayBlockHook hook) { may_block_hook = hook; }

void MayBlock() {
  if (may_block_hook != nullptr) may_block_hook();
}

}  // namespace veil
