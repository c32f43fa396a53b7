// SPDX-License-Identifier: Apache-2.0
//
// MayBlock: a thread about to wait for something outside itself (another
// task, a peer's open, a reply from the gofer) says so first. The
// sentry's receiver pool uses it: the thread that receives the tasks'
// calls serves them itself while they are quick, and hands the receiving
// on to another thread only when one of them may block (sentry/sandbox
// README, "Receivers"). A thread without a hook ignores the call.
//
// Thread-safety: the hook is per thread.
#pragma once

namespace veil {

using MayBlockHook = void (*)();

// Sets the calling thread's hook (null: none).
void SetMayBlockHook(MayBlockHook hook);

// Calls the calling thread's hook, if any. Cheap when there is none.
void MayBlock();

}  // namespace veil
