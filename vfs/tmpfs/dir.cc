// SPDX-License-Identifier: Apache-2.0
//
// Tmpfs directories: lookup, create, link, unlink, rename, readdir
// (mm/shmem.c shmem_mknod/link/unlink/rmdir/rename2, fs/libfs.c
// simple_offset_*).
#include <dirent.h>
#include <linux/fs.h>

#include "vfs/tmpfs/inode.h"

namespace veil::vfs::tmpfs {

uint8_t TmpfsInode::DirentType(uint32_t mode) {
  return static_cast<uint8_t>((mode & S_IFMT) >> 12);  // IFTODT
}

void TmpfsInode::AddEntryLocked(std::string_view name, Ref<TmpfsInode> child) {
  uint64_t cookie = next_cookie_++;
  index_.emplace(std::string(name), cookie);
  entries_.emplace(cookie, Entry{std::string(name), std::move(child)});
  dir_size_ += kBogoDirentSize;
}

void TmpfsInode::RemoveEntryLocked(std::string_view name) {
  auto it = index_.find(name);
  if (it == index_.end()) return;
  entries_.erase(it->second);
  index_.erase(it);
  dir_size_ -= kBogoDirentSize;
}

Result<Ref<Inode>> TmpfsInode::LookupLocked(std::string_view name) {
  if (!IsDir()) return Errno(ENOTDIR);
  auto it = index_.find(name);
  if (it == index_.end()) return Errno(ENOENT);
  return Ref<Inode>(*entries_.at(it->second).inode);
}

Result<Ref<Inode>> TmpfsInode::CreateLocked(std::string_view name,
                                            const CreateSpec& spec) {
  if (!IsDir()) return Errno(ENOTDIR);
  timespec now = Now();
  Ref<TmpfsInode> child =
      MakeRef<TmpfsInode>(tmpfs(), tmpfs().NextIno(), spec, now);
  if (child->IsDir()) {
    child->parent_ = this;
    ++nlink_;  // the child's ".."
  }
  AddEntryLocked(name, child);
  StampMtimeCtime(now);
  return Ref<Inode>(child);
}

Result<void> TmpfsInode::LinkLocked(std::string_view name, Inode& target) {
  auto& t = static_cast<TmpfsInode&>(target);
  timespec now = Now();
  ++t.nlink_;
  t.StampCtime(now);
  AddEntryLocked(name, Ref<TmpfsInode>(t));
  StampMtimeCtime(now);
  return Ok();
}

Result<void> TmpfsInode::UnlinkLocked(std::string_view name, Inode& child) {
  auto& c = static_cast<TmpfsInode&>(child);
  // simple_rmdir: only an empty directory goes.
  if (c.IsDir() && !c.entries_.empty()) return Errno(ENOTEMPTY);
  timespec now = Now();
  if (c.IsDir()) {
    c.nlink_ = 0;
    c.parent_ = nullptr;
    --nlink_;
  } else {
    --c.nlink_;
  }
  c.StampCtime(now);
  StampMtimeCtime(now);
  RemoveEntryLocked(name);  // may drop the last reference to `c`
  return Ok();
}

Result<void> TmpfsInode::RenameLocked(std::string_view name, Inode& child,
                                      Inode& new_dir_inode,
                                      std::string_view new_name,
                                      Inode* replaced, unsigned flags) {
  auto& new_dir = static_cast<TmpfsInode&>(new_dir_inode);
  Ref<TmpfsInode> moved(static_cast<TmpfsInode&>(child));
  timespec now = Now();
  if (flags & RENAME_EXCHANGE) {
    Ref<TmpfsInode> other(static_cast<TmpfsInode&>(*replaced));
    // Swap the two entries in place: each keeps its cookie slot.
    entries_.at(index_.find(name)->second).inode = other;
    new_dir.entries_.at(new_dir.index_.find(new_name)->second).inode = moved;
    if (this != &new_dir && moved->IsDir() != other->IsDir()) {
      if (moved->IsDir()) {
        --nlink_;
        ++new_dir.nlink_;
      } else {
        --new_dir.nlink_;
        ++nlink_;
      }
    }
    if (moved->IsDir()) moved->parent_ = &new_dir;
    if (other->IsDir()) other->parent_ = this;
    StampMtimeCtime(now);
    new_dir.StampMtimeCtime(now);
    moved->StampCtime(now);
    other->StampCtime(now);
    return Ok();
  }
  auto* victim = static_cast<TmpfsInode*>(replaced);
  if (victim && victim->IsDir() && !victim->entries_.empty())
    return Errno(ENOTEMPTY);
  RefPtr<TmpfsInode> keep_victim(victim);
  RemoveEntryLocked(name);
  if (victim) {
    new_dir.RemoveEntryLocked(new_name);
    victim->StampCtime(now);
    if (victim->IsDir()) {
      victim->nlink_ = 0;
      victim->parent_ = nullptr;
      --new_dir.nlink_;
    } else {
      --victim->nlink_;
    }
  }
  if (moved->IsDir()) {
    --nlink_;
    ++new_dir.nlink_;
    moved->parent_ = &new_dir;
  }
  new_dir.AddEntryLocked(new_name, moved);
  StampMtimeCtime(now);
  new_dir.StampMtimeCtime(now);
  moved->StampCtime(now);
  return Ok();
}

Result<void> TmpfsInode::ReadDirLocked(uint64_t cookie,
                                       const DirEmitter& emit) {
  if (!IsDir()) return Errno(ENOTDIR);
  if (nlink_ == 0) return Errno(ENOENT);  // iterate_dir on a removed dir
  if (cookie >= kEndOfDirCookie) return Ok();
  if (cookie == 0) {
    if (!emit(DirEntry{".", ino(), DT_DIR, 1})) return Ok();
    cookie = 1;
  }
  if (cookie == 1) {
    if (!emit(DirEntry{"..", parent_->ino(), DT_DIR, 2})) return Ok();
    cookie = 2;
  }
  for (auto it = entries_.lower_bound(cookie); it != entries_.end(); ++it) {
    const Entry& e = it->second;
    if (!emit(DirEntry{e.name, e.inode->ino(), DirentType(e.inode->type()),
                       it->first + 1}))
      break;
  }
  return Ok();
}

}  // namespace veil::vfs::tmpfs
