// SPDX-License-Identifier: Apache-2.0
//
// filename_create (fs/namei.c): resolve the parent of a name to be created
// and check that the name is free, in Linux's order.
#pragma once

#include <functional>
#include <string_view>

#include "vfs/internal/util.h"

namespace veil::vfs::internal {

// Called with the parent's filesystem mutex held, after the name was found
// free: EEXIST (".", "..", "/" or an existing name), EROFS, ENAMETOOLONG and
// ENOENT (trailing slash on a non-directory create) are already handled.
using CreateFn = std::function<Result<void>(const Location& parent,
                                            std::string_view name)>;

// `kind`: kDirectory for mkdir, where a trailing slash is allowed.
Result<void> FilenameCreate(Vfs& vfs, const Context& ctx, const Location& dir,
                            std::string_view path, NameKind kind,
                            const CreateFn& fn);

// Whether MakeCreateSpec applies the caller's umask: not to symlinks
// (always 0777) and whiteouts.
enum class Umask { kApply, kIgnore };

// The owner, group and mode of a new inode (inode_init_owner +
// vfs_prepare_mode): umask applied as `umask` says, group
// inherited from a setgid directory (and S_ISGID for new directories), and
// S_ISGID stripped from group-executable files the caller could not set it
// on.
CreateSpec MakeCreateSpec(const Context& ctx, const Attr& dir, uint32_t mode,
                          Umask umask);

// may_create + the filesystem's create + caching the new dentry.
Result<Ref<Dentry>> CreateChildLocked(const Context& ctx, Dentry& parent,
                                      std::string_view name,
                                      const CreateSpec& spec)
    VEIL_REQUIRES(parent.fs().mutex());

}  // namespace veil::vfs::internal
