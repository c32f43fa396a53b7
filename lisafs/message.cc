// SPDX-License-Identifier: Apache-2.0
#include "lisafs/message.h"

#include <sys/stat.h>

#include <cstring>

namespace veil::lisafs {

const char* MessageName(MessageId id) {
  switch (id) {
    case MessageId::kError: return "Error";
    case MessageId::kMount: return "Mount";
    case MessageId::kChannel: return "Channel";
    case MessageId::kFStat: return "FStat";
    case MessageId::kSetStat: return "SetStat";
    case MessageId::kWalk: return "Walk";
    case MessageId::kWalkStat: return "WalkStat";
    case MessageId::kOpenAt: return "OpenAt";
    case MessageId::kOpenCreateAt: return "OpenCreateAt";
    case MessageId::kClose: return "Close";
    case MessageId::kFSync: return "FSync";
    case MessageId::kPWrite: return "PWrite";
    case MessageId::kPRead: return "PRead";
    case MessageId::kMkdirAt: return "MkdirAt";
    case MessageId::kMknodAt: return "MknodAt";
    case MessageId::kSymlinkAt: return "SymlinkAt";
    case MessageId::kLinkAt: return "LinkAt";
    case MessageId::kFStatFS: return "FStatFS";
    case MessageId::kFAllocate: return "FAllocate";
    case MessageId::kReadLinkAt: return "ReadLinkAt";
    case MessageId::kFlush: return "Flush";
    case MessageId::kConnect: return "Connect";
    case MessageId::kUnlinkAt: return "UnlinkAt";
    case MessageId::kRenameAt: return "RenameAt";
    case MessageId::kGetdents64: return "Getdents64";
    case MessageId::kFGetXattr: return "FGetXattr";
    case MessageId::kFSetXattr: return "FSetXattr";
    case MessageId::kFListXattr: return "FListXattr";
    case MessageId::kFRemoveXattr: return "FRemoveXattr";
    case MessageId::kBindAt: return "BindAt";
    case MessageId::kSeekData: return "SeekData";
  }
  return "Unknown";
}

bool IsSafeName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  if (name == "." || name == "..") return false;
  // One memchr-style scan each; names are short.
  return name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

bool IsValidFileType(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
    case S_IFDIR:
    case S_IFLNK:
    case S_IFCHR:
    case S_IFBLK:
    case S_IFIFO:
    case S_IFSOCK:
      return true;
    default:
      return false;
  }
}

}  // namespace veil::lisafs
