// SPDX-License-Identifier: Apache-2.0
//
// What `veil do` decides about its command before anything runs: the
// environment it gets and where in the sandbox its program is.
#include "tools/do_command.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
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

namespace {

// The bytes of the sandbox file `path` (root's view), or an error.
Result<std::string> ReadSandboxFile(vfs::Vfs& vfs, const char* path) {
  vfs::Context ctx = vfs.RootContext();
  vfs::OpenHow how;
  how.flags = O_RDONLY;
  Ref<vfs::FileDescription> file =
      VEIL_TRY(vfs.OpenAt(ctx, ctx.root, path, how));
  std::string out;
  std::vector<uint8_t> buf(65536);
  for (int64_t at = 0;;) {
    size_t n = VEIL_TRY(file->PRead(buf, at));
    if (n == 0) return out;
    out.append(reinterpret_cast<const char*>(buf.data()), n);
    at += static_cast<int64_t>(n);
    if (out.size() > (16u << 20)) return Errno(EFBIG);
  }
}

// The colon-separated fields of each line of a passwd/group file.
std::vector<std::vector<std::string>> Records(const std::string& text) {
  std::vector<std::vector<std::string>> out;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(at, end - at);
    at = end + 1;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields;
    size_t f = 0;
    for (;;) {
      size_t colon = line.find(':', f);
      fields.push_back(line.substr(f, colon - f));
      if (colon == std::string::npos) break;
      f = colon + 1;
    }
    out.push_back(std::move(fields));
  }
  return out;
}

// A decimal id below 2^32 - 1 (which is -1 to the kernel), or nullopt.
std::optional<uint32_t> ParseId(const std::string& s) {
  if (s.empty() || s.size() > 10 ||
      s.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  const unsigned long long v = std::stoull(s);
  if (v >= 0xffffffffull) return std::nullopt;
  return static_cast<uint32_t>(v);
}

}  // namespace

Result<SandboxUser> LookUpUser(vfs::Vfs& vfs, const std::string& spec) {
  const size_t colon = spec.find(':');
  const std::string user = spec.substr(0, colon);
  const std::optional<std::string> group =
      colon == std::string::npos ? std::nullopt
                                 : std::optional(spec.substr(colon + 1));
  if (user.empty() || (group && group->empty()))
    return Errno(EINVAL, "--user needs NAME|UID[:GROUP|GID]");
  // Missing files are empty ones: a numeric user still works.
  Result<std::string> passwd = ReadSandboxFile(vfs, "/etc/passwd");
  Result<std::string> groups = ReadSandboxFile(vfs, "/etc/group");
  const auto users = Records(passwd ? *passwd : "");
  const auto group_records = Records(groups ? *groups : "");

  SandboxUser out;
  std::string name;
  bool found = false;
  const std::optional<uint32_t> uid = ParseId(user);
  for (const auto& r : users) {
    if (r.size() < 7) continue;
    std::optional<uint32_t> r_uid = ParseId(r[2]), r_gid = ParseId(r[3]);
    if (!r_uid || !r_gid) continue;
    if (uid ? *r_uid == *uid : r[0] == user) {
      name = r[0];
      out.uid = *r_uid;
      out.gid = *r_gid;
      out.home = r[5].empty() ? "/" : r[5];
      found = true;
      break;
    }
  }
  if (!found) {
    if (!uid) return Errno(ENOENT, "no such user in the sandbox's /etc/passwd");
    out.uid = *uid;  // a uid without an entry: group 0, home /
  }
  if (group) {
    const std::optional<uint32_t> gid = ParseId(*group);
    bool known = gid.has_value();
    for (const auto& r : group_records) {
      if (r.size() < 4 || gid) break;
      if (r[0] == *group) {
        if (std::optional<uint32_t> g = ParseId(r[2])) {
          out.gid = *g;
          known = true;
        }
        break;
      }
    }
    if (!known) return Errno(ENOENT, "no such group in the sandbox's /etc/group");
    if (gid) out.gid = *gid;
  }
  // Supplementary groups: the primary one and every group listing the
  // user by name (initgroups).
  out.groups.push_back(out.gid);
  if (!name.empty()) {
    for (const auto& r : group_records) {
      if (r.size() < 4) continue;
      std::optional<uint32_t> g = ParseId(r[2]);
      if (!g) continue;
      size_t at = 0;
      const std::string& members = r[3];
      while (at <= members.size()) {
        size_t comma = members.find(',', at);
        if (comma == std::string::npos) comma = members.size();
        if (members.compare(at, comma - at, name) == 0 &&
            std::find(out.groups.begin(), out.groups.end(), *g) ==
                out.groups.end())
          out.groups.push_back(*g);
        at = comma + 1;
      }
    }
  }
  return out;
}

}  // namespace veil::tools
