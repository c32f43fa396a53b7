// SPDX-License-Identifier: Apache-2.0
//
// ExportPolicy: what a client may do to ownership and set-id bits in an
// export (gofer/README.md, "Trust boundary"). LISAFS carries no
// per-request credentials, so the gofer, which runs with CAP_CHOWN and
// CAP_FOWNER, would otherwise apply any owner and mode a client names: a
// compromised sentry could leave a setuid-root binary in DIR for a host
// user to run, or hand files to any host user. The policy is the gofer's
// own and a client cannot change it.
//
//  - Set-id bits (SetIdBits::kStrip, the default): S_ISUID and S_ISGID are
//    never created on, nor kept by, anything but a directory: they are
//    taken out of every mode a client sends for a non-directory, and a
//    regular file that has them loses them when it is opened for writing
//    or truncated through the gofer (as Linux does for a writer without
//    CAP_FSETID; the confined gofer drops CAP_FSETID too). Directories keep
//    S_ISGID, which only means "new entries take the directory's group"
//    (the BSD group semantics a shared directory needs) and never grants
//    anything at exec; S_ISUID is stripped from them (Linux ignores it on
//    directories). The answer is silent stripping, not EPERM: `install -m
//    4755` in a sandbox then still succeeds, as on a nosuid mount, and the
//    host never gets the bit. SetIdBits::kAllow (`veil gofer
//    --allow-suid`) applies modes as asked.
//  - Owners: a uid or gid a client asks for (create messages, SetStat) must
//    lie in `uids` / `gids`; otherwise EPERM, as chown(2) answers a caller
//    without CAP_CHOWN. Asking for the id a file already has is always
//    allowed (`cp -p` of a host file). Files created without ids are the
//    gofer's (root's). `veil gofer --ids FIRST:COUNT` sets both ranges;
//    the default is the owner of DIR only, which is safe whatever DIR
//    holds: the client can give files only to whoever already owns the
//    whole export.
//  - security.capability is never served (host_backend.h), whatever the
//    policy says.
#pragma once

#include <sys/stat.h>

#include <cstdint>

namespace veil::gofer {

enum class SetIdBits : uint8_t {
  kStrip,  // never create or keep S_ISUID/S_ISGID on non-directories
  kAllow,  // apply the client's modes as they are
};

// A range of ids [first, first + count); count 0 is empty.
struct IdRange {
  uint32_t first = 0;
  uint64_t count = 0;  // up to 2^32: every id

  static constexpr IdRange All() { return IdRange{0, uint64_t{1} << 32}; }
  static constexpr IdRange Only(uint32_t id) { return IdRange{id, 1}; }
  constexpr bool Contains(uint32_t id) const {
    return id >= first && uint64_t{id} - first < count;
  }
};

struct ExportPolicy {
  SetIdBits setid = SetIdBits::kStrip;
  IdRange uids;
  IdRange gids;

  // The permission bits to apply to a file of type `type` (S_IFMT bits)
  // when a client asks for `mode`.
  constexpr uint32_t Mode(uint32_t type, uint32_t mode) const {
    mode &= 07777;
    if (setid == SetIdBits::kAllow) return mode;
    if (type == S_IFDIR) return mode & ~uint32_t{S_ISUID};
    return mode & ~uint32_t{S_ISUID | S_ISGID};
  }
  // True if a regular file with `mode` must lose its set-id bits before a
  // client may change its contents.
  constexpr bool MustDropSetId(uint32_t mode) const {
    return setid == SetIdBits::kStrip && (mode & S_IFMT) == S_IFREG &&
           (mode & (S_ISUID | S_ISGID)) != 0;
  }
};

// A character or block device other than the overlay whiteout (0:0, which
// no driver backs): a node that can reach a host device. The gofer
// refuses (EPERM) what would change the node itself: a second name
// (LinkAt), a move (RenameAt, either side of an exchange) and a new mode
// or owner (SetStat); see host_backend.h. It does not watch the
// directories above one: a chmod, chown or rename of a directory that
// holds a device node can still let more host users reach it, as on any
// directory the client may change.
inline bool IsHostDevice(const struct statx& st) {
  const uint32_t type = st.stx_mode & S_IFMT;
  return (type == S_IFCHR || type == S_IFBLK) &&
         (st.stx_rdev_major != 0 || st.stx_rdev_minor != 0);
}

}  // namespace veil::gofer
