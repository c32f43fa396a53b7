// SPDX-License-Identifier: Apache-2.0
//
// What a trapped call answers when a signal ended its wait in the sentry
// (Task::Interrupt: the task's ThreadWaiter answered EINTR). Linux's
// interruptible waits return one of the kernel's restart codes, which
// never reach a program: on the way out, arch/x86/kernel/signal.c
// (handle_signal when a handler runs, arch_do_signal_or_restart when none
// does) turns them into EINTR or into the call made again. The seccomp
// answer carries them as they are (kernel/seccomp.c seccomp_notify_send
// copies resp.error unchecked; syscall_set_return_value puts it in rax),
// so the host kernel applies the same rules to a trapped call.
//
//  - -ERESTARTSYS: EINTR if a handler without SA_RESTART runs, the call
//    again otherwise;
//  - -ERESTARTNOHAND: EINTR if a handler runs, the call again otherwise;
//  - -EINTR: never restarted.
//
// A restart code must only be answered while the task has a signal
// pending that it does not block: with none, nothing on the way out looks
// at it and the program would see errno 512.
//
// Thread-safety: pure functions.
#pragma once

namespace veil::sentry {

// include/linux/errno.h (kernel-internal, not in the uapi headers).
inline constexpr int kErestartSys = 512;
inline constexpr int kErestartNoIntr = 513;
inline constexpr int kErestartNoHand = 514;

// The (positive) code call `nr` answers when interrupted by a signal
// before it did anything: kErestartSys, kErestartNoHand or EINTR.
int InterruptedAnswer(int nr);

}  // namespace veil::sentry
