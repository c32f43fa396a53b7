// SPDX-License-Identifier: Apache-2.0
#include "vfs/dentry.h"

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
  it->second->dead_ = true;
  children_.erase(it);
}

void Dentry::MoveLocked(Dentry& new_parent, std::string_view new_name) {
  Ref<Dentry> self(*this);
  Dentry* old_parent = parent_.get();
  if (old_parent) old_parent->children_.erase(name_);
  new_parent.RemoveChildLocked(new_name);
  name_ = std::string(new_name);
  parent_ = RefPtr<Dentry>(&new_parent);
  new_parent.children_.insert_or_assign(name_, self);
}

void Dentry::ExchangeLocked(Dentry& a, Dentry& b) {
  Ref<Dentry> ra(a), rb(b);
  a.parent_->children_.erase(a.name_);
  b.parent_->children_.erase(b.name_);
  std::swap(a.name_, b.name_);
  std::swap(a.parent_, b.parent_);
  a.parent_->children_.insert_or_assign(a.name_, ra);
  b.parent_->children_.insert_or_assign(b.name_, rb);
}

bool Dentry::IsAncestorOfLocked(const Dentry& other) const {
  for (const Dentry* d = &other; d; d = d->parent_.get())
    if (d == this) return true;
  return false;
}

void Dentry::PruneTree() {
  // Iterative, so a deep tree cannot overflow the stack.
  std::vector<Ref<Dentry>> pending;
  for (auto& [name, child] : children_) pending.push_back(child);
  children_.clear();
  while (!pending.empty()) {
    Ref<Dentry> d = std::move(pending.back());
    pending.pop_back();
    for (auto& [name, child] : d->children_) pending.push_back(child);
    d->children_.clear();
  }
}

}  // namespace veil::vfs
