// SPDX-License-Identifier: Apache-2.0
//
// A deliberately simple reference model of Linux path resolution, for the
// path resolution fuzzer: a tree of directories, files and symlinks, all
// accessed as root (no permission checks), resolved by plain recursion.
// It shares no code with vfs/internal/resolver.cc.
#pragma once

#include <cerrno>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace veil::fuzz {

struct ModelNode {
  enum Type { kDir, kFile, kSymlink } type;
  int id;
  ModelNode* parent = nullptr;  // directories: never null (root: itself)
  std::map<std::string, std::unique_ptr<ModelNode>> children;
  std::string target;
};

class PathModel {
 public:
  PathModel() {
    root_.type = ModelNode::kDir;
    root_.id = 0;
    root_.parent = &root_;
  }

  ModelNode* root() { return &root_; }

  // Adds `name` under `dir`; returns null if it exists.
  ModelNode* Add(ModelNode* dir, const std::string& name, ModelNode::Type type,
                 const std::string& target = "") {
    if (dir->children.count(name)) return nullptr;
    auto node = std::make_unique<ModelNode>();
    node->type = type;
    node->id = next_id_++;
    node->parent = type == ModelNode::kDir ? dir : nullptr;
    node->target = target;
    ModelNode* raw = node.get();
    dir->children.emplace(name, std::move(node));
    return raw;
  }

  // Resolves `path` from the root; on success *out is the node, else the
  // errno Linux returns.
  int Resolve(const std::string& path, bool follow_final, ModelNode** out) {
    if (path.empty()) return ENOENT;
    if (path.size() >= 4096) return ENAMETOOLONG;
    int links = 0;
    return Walk(root(), path, follow_final, &links, out);
  }

 private:
  int Walk(ModelNode* start, const std::string& path, bool follow_final,
           int* links, ModelNode** out) {
    std::vector<std::string> parts;
    size_t i = 0;
    while (i < path.size()) {
      while (i < path.size() && path[i] == '/') ++i;
      size_t j = path.find('/', i);
      if (j == std::string::npos) j = path.size();
      if (j > i) parts.push_back(path.substr(i, j - i));
      i = j;
    }
    bool trailing_slash = !parts.empty() && path.back() == '/';
    ModelNode* cur = path[0] == '/' ? root() : start;
    for (size_t k = 0; k < parts.size(); ++k) {
      const std::string& name = parts[k];
      bool last = k + 1 == parts.size();
      if (cur->type != ModelNode::kDir) return ENOTDIR;
      if (name == ".") continue;
      if (name == "..") {
        cur = cur->parent;
        continue;
      }
      if (name.size() > 255) return ENAMETOOLONG;
      auto it = cur->children.find(name);
      if (it == cur->children.end()) return ENOENT;
      ModelNode* child = it->second.get();
      if (child->type == ModelNode::kSymlink &&
          (!last || follow_final || trailing_slash)) {
        if (++*links > 40) return ELOOP;
        ModelNode* target = nullptr;
        int err = Walk(cur, child->target, /*follow_final=*/true, links,
                       &target);
        if (err) return err;
        cur = target;
      } else {
        cur = child;
      }
    }
    if (trailing_slash && cur->type != ModelNode::kDir) return ENOTDIR;
    *out = cur;
    return 0;
  }

  ModelNode root_;
  int next_id_ = 1;
};

}  // namespace veil::fuzz
