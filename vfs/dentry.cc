// SPDX-License-Identifier: Apache-2.0
#include "vfs/dentry.h"

#include <cstdlib>
#include <vector>

namespace veil::vfs {

Dentry::Dentry(Ref<Inode> inode, RefPtr<Dentry> parent, std::string name)
    : fs_(inode->fs()),
      inode_(std::move(inode)),
      parent_(std::move(parent)),
      name_(std::move(name)) {}

Ref<Dentry> Dentry::CreateRoot(Ref<Inode> inode) {
  return AdoptRef(*new Dentry(std::move(inode), nullptr, "/"));
}

void Dentry::SameFsLocked(const Dentry& other) const {
  if (&other.fs() != &fs()) std::abort();
}

Dentry* Dentry::FindChildLocked(std::string_view name) const {
  auto it = children_.find(name);
  return it == children_.end() ? nullptr : it->second.get();
}

Ref<Dentry> Dentry::AddChildLocked(std::string_view name, Ref<Inode> inode) {
  Ref<Dentry> child = AdoptRef(
      *new Dentry(std::move(inode), RefPtr<Dentry>(this), std::string(name)));
  children_.insert_or_assign(std::string(name), child);
  return child;
}

void Dentry::RemoveChildLocked(std::string_view name) {
  auto it = children_.find(name);
  if (it == children_.end()) return;
  SameFsLocked(*it->second);
  it->second->dead_ = true;
  children_.erase(it);
}

void Dentry::InvalidateChildLocked(std::string_view name) {
  auto it = children_.find(name);
  if (it == children_.end()) return;
  Ref<Dentry> child = it->second;
  SameFsLocked(*child);
  children_.erase(it);
  child->dead_ = true;
  // Its cached children hold it (their parent) and it holds them: prune
  // them so that the subtree goes once nothing else holds it.
  child->PruneTree(Prune::kKill);
}

void Dentry::MoveLocked(Dentry& new_parent, std::string_view new_name) {
  Ref<Dentry> self(*this);
  SameFsLocked(new_parent);
  Dentry* old_parent = parent_.get();
  if (old_parent) {
    SameFsLocked(*old_parent);
    old_parent->children_.erase(name_);
  }
  new_parent.RemoveChildLocked(new_name);
  name_ = std::string(new_name);
  parent_ = RefPtr<Dentry>(&new_parent);
  new_parent.children_.insert_or_assign(name_, self);
}

void Dentry::ExchangeLocked(Dentry& a, Dentry& b) {
  Ref<Dentry> ra(a), rb(b);
  a.SameFsLocked(b);
  a.SameFsLocked(*a.parent_);
  a.SameFsLocked(*b.parent_);
  a.parent_->children_.erase(a.name_);
  b.parent_->children_.erase(b.name_);
  std::swap(a.name_, b.name_);
  std::swap(a.parent_, b.parent_);
  a.SameFsLocked(*a.parent_);
  a.SameFsLocked(*b.parent_);
  a.parent_->children_.insert_or_assign(a.name_, ra);
  b.parent_->children_.insert_or_assign(b.name_, rb);
}

bool Dentry::IsAncestorOfLocked(const Dentry& other) const {
  other.SameFsLocked(*this);
  for (const Dentry* d = &other; d; d = d->parent_.get()) {
    other.SameFsLocked(*d);
    if (d == this) return true;
  }
  return false;
}

void Dentry::PruneTree(Prune prune) {
  // Post-order, iteratively (a deep tree must not overflow the stack): a
  // child goes once its own children are gone, unless something is
  // mounted on it. A mount point must stay the dentry lookups find, or its
  // mount (held by another mount of the same filesystem) would vanish.
  struct Frame {
    Dentry* dentry;
    std::vector<Dentry*> children;
    size_t next = 0;
  };
  auto frame_of = [this](Dentry* d) VEIL_REQUIRES(fs().mutex()) {
    SameFsLocked(*d);
    Frame f{d, {}};
    for (auto& [name, child] : d->children_) f.children.push_back(child.get());
    return f;
  };
  std::vector<Frame> stack{frame_of(this)};
  while (!stack.empty()) {
    Frame& top = stack.back();
    if (top.next < top.children.size()) {
      Dentry* child = top.children[top.next++];
      stack.push_back(frame_of(child));
      continue;
    }
    Dentry* done = top.dentry;
    stack.pop_back();
    if (stack.empty()) break;
    SameFsLocked(*done);
    SameFsLocked(*stack.back().dentry);
    if (done->children_.empty() && done->mount_count() == 0) {
      if (prune == Prune::kKill) done->dead_ = true;
      stack.back().dentry->children_.erase(done->name_);
    }
  }
}

}  // namespace veil::vfs
