// SPDX-License-Identifier: Apache-2.0
//
// What `veil do` decides about its command before anything runs: the
// environment it gets and where in the sandbox its program is.
#include "tools/do_command.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>

namespace veil::tools {

std::vector<std::string> DefaultEnvironment() {
  std::vector<std::string> env;
  env.push_back(std::string("PATH=") + kDefaultPath);
  env.push_back("HOME=/root");
  if (const char* term = std::getenv("TERM"))
    env.push_back(std::string("TERM=") + term);
  return env;
}

namespace {

// The value of PATH in `env`, or the default.
std::string_view PathOf(const std::vector<std::string>& env) {
  for (const std::string& kv : env) {
    if (std::string_view(kv).starts_with("PATH="))
      return std::string_view(kv).substr(5);
  }
  return kDefaultPath;
}

// Whether `path` names an executable regular file in the sandbox, for
// the caller (execvp's test: faccessat(X_OK) on a regular file).
Result<void> Executable(vfs::Vfs& vfs, const vfs::Context& ctx,
                        const std::string& path) {
  vfs::Location loc = VEIL_TRY(vfs.ResolveAt(ctx, ctx.cwd, path, 0));
  if (loc.dentry->inode().IsDir()) return Errno(EACCES);  // execve: EACCES
  return vfs.AccessAt(ctx, ctx.cwd, path, X_OK, 0);
}

}  // namespace

Result<std::string> FindCommand(vfs::Vfs& vfs, const vfs::Context& ctx,
                                const std::string& name,
                                const std::vector<std::string>& env) {
  if (name.empty()) return Errno(ENOENT);
  // execvp: a name with a slash is a path, used as it is.
  if (name.find('/') != std::string::npos) {
    VEIL_TRY_VOID(Executable(vfs, ctx, name));
    return name;
  }
  // Each PATH entry in turn (an empty one is the working directory); an
  // entry that exists but cannot be run is remembered (EACCES wins over
  // ENOENT, as execvp reports it).
  Errno failure(ENOENT);
  std::string_view path = PathOf(env);
  for (size_t start = 0; start <= path.size();) {
    size_t end = path.find(':', start);
    if (end == std::string_view::npos) end = path.size();
    std::string dir(path.substr(start, end - start));
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    Result<void> ok = Executable(vfs, ctx, candidate);
    if (ok) return candidate;
    if (ok.error().code() == EACCES) failure = ok.error();
    start = end + 1;
  }
  return failure;
}

}  // namespace veil::tools
