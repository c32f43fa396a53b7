// SPDX-License-Identifier: Apache-2.0
#include "sentry/kernel/restart.h"

#include <cerrno>

namespace veil::sentry {

int InterruptedAnswer(int nr) {
  switch (nr) {
    case 7:    // poll: do_sys_poll answers -ERESTARTNOHAND (which sys_poll
               // turns into -ERESTART_RESTARTBLOCK to restart with the time
               // left; a handler sees EINTR either way)
    case 23:   // select: core_sys_select, kept by poll_select_finish
    case 270:  // pselect6: likewise
    case 271:  // ppoll: do_sys_poll, kept by poll_select_finish
      return kErestartNoHand;
    case 232:  // epoll_wait: ep_poll answers -EINTR, never restarted
    case 281:  // epoll_pwait
    case 441:  // epoll_pwait2
      return EINTR;
    default:
      // Every other wait a trapped call can make is -ERESTARTSYS in
      // Linux: pipe_read/pipe_write (read, write, readv, writev, pread*,
      // pwrite*, which a pipe answers ESPIPE before waiting), fifo_open's
      // wait_for_partner (open, openat, openat2, creat), fcntl F_SETLKW
      // and F_OFD_SETLKW and flock (locks_lock_inode_wait and
      // wait_event_interruptible in fs/locks.c).
      return kErestartSys;
  }
}

}  // namespace veil::sentry
