// SPDX-License-Identifier: Apache-2.0
//
// Path resolution against a reference model: the input builds a small tree
// of directories, files and symlinks (with tricky targets: absolute,
// "..", loops, trailing slashes) in a veil tmpfs and in PathModel, then
// resolves input-chosen paths in both. Success must name the same node,
// failure must be the same errno. Runs as root (no permission checks).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "fuzz/vfs/path_model.h"
#include "vfs/tmpfs/tmpfs.h"
#include "vfs/vfs.h"

namespace {

using veil::fuzz::ModelNode;
using veil::fuzz::PathModel;

void Require(bool condition) {
  if (!condition) std::abort();
}

const char* const kNames[] = {"a", "b", "c", "dd"};

std::string RandomPath(FuzzedDataProvider& in) {
  std::string path;
  if (in.ConsumeBool()) path = "/";
  int parts = in.ConsumeIntegralInRange(0, 6);
  for (int i = 0; i < parts; ++i) {
    switch (in.ConsumeIntegralInRange(0, 9)) {
      case 0: path += "."; break;
      case 1:
      case 2: path += ".."; break;
      case 3: path += std::string(in.ConsumeBool() ? 255 : 256, 'n'); break;
      default: path += kNames[in.ConsumeIntegralInRange(0, 3)]; break;
    }
    if (i + 1 < parts || in.ConsumeIntegralInRange(0, 3) == 0)
      path += in.ConsumeBool() ? "/" : "//";
  }
  if (in.ConsumeIntegralInRange(0, 50) == 0) path.append(4096, '/');
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  using namespace veil::vfs;
  Vfs vfs(tmpfs::Tmpfs::Create());
  Context ctx = vfs.RootContext();
  PathModel model;
  // Model node id -> veil inode number.
  std::map<int, uint64_t> ino_of;
  ino_of[0] = VEIL_MUST(vfs.StatAt(ctx, ctx.cwd, "/", 0)).ino;

  // Build: directories first (so symlinks can point into them), then links
  // and files. Each entry is made in both worlds.
  std::vector<std::pair<ModelNode*, std::string>> dirs = {{model.root(), ""}};
  int entries = in.ConsumeIntegralInRange(1, 14);
  for (int i = 0; i < entries && in.remaining_bytes() > 0; ++i) {
    auto [parent, parent_path] =
        dirs[in.ConsumeIntegralInRange<size_t>(0, dirs.size() - 1)];
    std::string name = kNames[in.ConsumeIntegralInRange(0, 3)];
    std::string path = parent_path + "/" + name;
    int kind = in.ConsumeIntegralInRange(0, 2);
    ModelNode* node = nullptr;
    if (kind == 0) {
      node = model.Add(parent, name, ModelNode::kDir);
      if (!node) continue;
      Require(vfs.MkdirAt(ctx, ctx.cwd, path, 0755).has_value());
      dirs.push_back({node, path});
    } else if (kind == 1) {
      node = model.Add(parent, name, ModelNode::kFile);
      if (!node) continue;
      Require(vfs.OpenAt(ctx, ctx.cwd, path, OpenHow{O_CREAT | O_WRONLY, 0644, 0})
                  .has_value());
    } else {
      std::string target = RandomPath(in);
      if (target.empty() || target.size() >= 4096) target = "a";
      node = model.Add(parent, name, ModelNode::kSymlink, target);
      if (!node) continue;
      Require(vfs.SymlinkAt(ctx, target, ctx.cwd, path).has_value());
    }
    ino_of[node->id] =
        VEIL_MUST(vfs.StatAt(ctx, ctx.cwd, path, AT_SYMLINK_NOFOLLOW)).ino;
  }

  // Resolve.
  while (in.remaining_bytes() > 0) {
    std::string path = RandomPath(in);
    bool follow = in.ConsumeBool();
    ModelNode* expected = nullptr;
    int expected_errno = model.Resolve(path, follow, &expected);
    auto actual =
        vfs.StatAt(ctx, ctx.cwd, path, follow ? 0 : AT_SYMLINK_NOFOLLOW);
    if (expected_errno) {
      Require(!actual.has_value());
      Require(actual.error().code() == expected_errno);
    } else {
      Require(actual.has_value());
      Require(actual->ino == ino_of.at(expected->id));
    }
  }
  return 0;
}
