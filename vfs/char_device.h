// SPDX-License-Identifier: Apache-2.0
//
// CharDevice: the driver of a character device number. Linux: a cdev
// found by chrdev_open through the inode's i_rdev. Opening a character
// device node asks the Vfs's driver for its number (Vfs::
// RegisterCharDevice), whatever filesystem holds the node: a node in a
// tmpfs, in an overlay's upper or in a gofer's tree (whose server never
// opens host device nodes) opens the same driver. A number without a
// driver opens the filesystem's own way (ENXIO for tmpfs and the gofer:
// chrdev_open finds no cdev).
//
// Thread-safety: Open may be called concurrently, with the node's
// filesystem mutex held: it must not take VFS locks.
#pragma once

#include <memory>

#include "base/result.h"
#include "vfs/file_description.h"

namespace veil::vfs {

class CharDevice {
 public:
  virtual ~CharDevice() = default;
  // The file of one open of the device; `flags` are open's.
  virtual Result<std::unique_ptr<FileImpl>> Open(int flags) = 0;
};

}  // namespace veil::vfs
