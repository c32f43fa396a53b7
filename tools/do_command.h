// SPDX-License-Identifier: Apache-2.0
//
// `veil do`'s command: its default environment and its lookup in the
// sandbox's PATH (execvp's rules, resolved by the VFS, never the host).
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "vfs/vfs.h"

namespace veil::tools {

inline constexpr const char kDefaultPath[] =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// PATH (the default above), HOME=/root and TERM (if we have one).
std::vector<std::string> DefaultEnvironment();

// The sandbox path of the program `name` runs, as execvp finds it: `name`
// itself if it has a slash, else the first PATH entry (from `env`, or the
// default) holding an executable regular file. ENOENT if none exists,
// EACCES if one exists but cannot be run.
Result<std::string> FindCommand(vfs::Vfs& vfs, const vfs::Context& ctx,
                                const std::string& name,
                                const std::vector<std::string>& env);

// Who `--user SPEC` runs CMD as: NAME, UID, NAME:GROUP or UID:GID, names
// looked up in the sandbox's own /etc/passwd and /etc/group (as docker run
// --user does): the user's primary group unless one is given (0 for a
// uid with no passwd entry), the groups that list the user by name, and
// the passwd entry's home directory ("/" without one).
struct SandboxUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  std::string home = "/";
};
// Errors: EINVAL for a malformed SPEC or a number out of range, ENOENT
// for a name the sandbox's files do not have (the Errno says which).
Result<SandboxUser> LookUpUser(vfs::Vfs& vfs, const std::string& spec);

}  // namespace veil::tools
