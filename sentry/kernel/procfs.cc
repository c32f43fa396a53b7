// SPDX-License-Identifier: Apache-2.0
#include "sentry/kernel/procfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/sysmacros.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <sstream>

#include "base/unique_fd.h"
#include "sentry/kernel/anon_fs.h"
#include "vfs/dentry.h"
#include "vfs/file_description.h"
#include "vfs/inode.h"
#include "vfs/mount.h"

namespace veil::sentry {
namespace {

constexpr long kProcSuperMagic = 0x9fa0;  // Linux PROC_SUPER_MAGIC
constexpr size_t kMaxArgBytes = 1 << 20;  // cmdline/environ read at most
// A directory position past every entry (offset_iterate_dir's end).
constexpr uint64_t kEndOfDir = 0x7fffffff;

// ---- Plumbing: generated directories, files and links --------------------

using Maker = std::function<Ref<vfs::Inode>()>;
struct Child {
  std::string name;
  uint8_t type;  // DT_*
  Maker make;
};
using Lister = std::function<std::vector<Child>()>;
using Content = std::function<Result<std::string>()>;
// Where a magic link lands (Inode::JumpLocked).
using Jumper = std::function<Result<std::optional<vfs::Location>>()>;

class ProcFs;

uint64_t InoOf(const std::string& path) {
  // Stable for a path (so a name the VFS cached keeps its inode number),
  // never 0 or 1 (the root's).
  return (std::hash<std::string>{}(path) & 0x7fffffffull) + 2;
}

timespec Now() {
  timespec t{};
  clock_gettime(CLOCK_REALTIME, &t);
  return t;
}

class ProcInode : public vfs::Inode {
 public:
  ProcInode(vfs::Filesystem& fs, uint64_t ino, uint32_t mode, uid_t uid,
            gid_t gid)
      : Inode(fs, ino, mode & S_IFMT), mode_(mode), uid_(uid), gid_(gid),
        time_(Now()) {}
  vfs::Attr GetAttrLocked() override {
    vfs::Attr a;
    a.mode = mode_;
    a.nlink = IsDir() ? 2 : 1;
    a.uid = uid_;
    a.gid = gid_;
    a.ino = ino();
    a.dev = fs().dev();
    a.blksize = 1024;
    a.atime = a.mtime = a.ctime = time_;
    return a;
  }
  Result<void> SetAttrLocked(const vfs::SetAttr&) override {
    return Errno(EPERM);  // proc_setattr: nothing here may change
  }

 private:
  const uint32_t mode_;
  const uid_t uid_;
  const gid_t gid_;
  const timespec time_;
};

// A file's bytes, fixed when it was opened (as a seq_file's first read
// fixes them for small files). Native reads get a sealed memfd of them.
class ProcFileImpl final : public vfs::FileImpl {
 public:
  explicit ProcFileImpl(std::string data) : data_(std::move(data)) {}
  Result<size_t> PRead(std::span<uint8_t> buf, int64_t offset) override {
    if (offset < 0) return Errno(EINVAL);
    if (static_cast<uint64_t>(offset) >= data_.size()) return size_t{0};
    const size_t n = std::min(buf.size(), data_.size() - offset);
    std::memcpy(buf.data(), data_.data() + offset, n);
    return n;
  }
  Result<size_t> PWrite(const vfs::Credentials&, std::span<const uint8_t>,
                        int64_t*, vfs::WriteAt) override {
    return Errno(EBADF);  // opened read-only (OpenLocked refuses writers)
  }
  Result<int64_t> Seek(int64_t offset, int whence, int64_t current) override {
    int64_t base = 0;
    switch (whence) {
      case SEEK_SET: break;
      case SEEK_CUR: base = current; break;
      case SEEK_END: base = static_cast<int64_t>(data_.size()); break;
      default: return Errno(EINVAL);
    }
    if (__builtin_add_overflow(base, offset, &offset) || offset < 0)
      return Errno(EINVAL);
    return offset;
  }
  Result<vfs::HostMemory> GetHostMemory() override {
    if (!memory_) {
      UniqueFd fd(memfd_create("veil-proc", MFD_CLOEXEC | MFD_ALLOW_SEALING));
      if (!fd) return Errno::FromErrno();
      size_t done = 0;
      while (done < data_.size()) {
        ssize_t n = ::write(fd.get(), data_.data() + done, data_.size() - done);
        if (n < 0) return Errno::FromErrno();
        done += static_cast<size_t>(n);
      }
      if (fcntl(fd.get(), F_ADD_SEALS,
                F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0)
        return Errno::FromErrno();
      memory_ = std::move(fd);
    }
    return vfs::HostMemory{memory_.get(), 0};
  }

 private:
  const std::string data_;
  UniqueFd memory_;
};

class ProcFile final : public ProcInode {
 public:
  ProcFile(vfs::Filesystem& fs, uint64_t ino, uint32_t perm, uid_t uid,
           gid_t gid, Content content)
      : ProcInode(fs, ino, S_IFREG | perm, uid, gid),
        content_(std::move(content)) {}
  Result<std::unique_ptr<vfs::FileImpl>> OpenLocked(int flags) override {
    if ((flags & O_ACCMODE) != O_RDONLY) return Errno(EACCES);
    std::string data = VEIL_TRY(content_());
    return std::unique_ptr<vfs::FileImpl>(new ProcFileImpl(std::move(data)));
  }

 private:
  const Content content_;
};

class ProcLink final : public ProcInode {
 public:
  ProcLink(vfs::Filesystem& fs, uint64_t ino, uid_t uid, gid_t gid,
           Content target, Jumper jump)
      : ProcInode(fs, ino, S_IFLNK | 0777, uid, gid),
        target_(std::move(target)),
        jump_(std::move(jump)) {}
  Result<std::string> ReadlinkLocked() override { return target_(); }
  Result<std::optional<vfs::Location>> JumpLocked() override {
    if (!jump_) return std::optional<vfs::Location>();
    return jump_();
  }

 private:
  const Content target_;
  const Jumper jump_;  // null: an ordinary symlink
};

class ProcDirImpl final : public vfs::FileImpl {
 public:
  explicit ProcDirImpl(Ref<vfs::Inode> dir) : dir_(std::move(dir)) {}
  Result<size_t> PRead(std::span<uint8_t>, int64_t) override {
    return Errno(EISDIR);
  }
  Result<size_t> PWrite(const vfs::Credentials&, std::span<const uint8_t>,
                        int64_t*, vfs::WriteAt) override {
    return Errno(EISDIR);
  }
  Result<void> ReadDir(uint64_t* cookie, const vfs::DirEmitter& emit) override {
    MutexLock lock(dir_->fs().mutex());
    bool stopped = false;
    VEIL_TRY_VOID(dir_->ReadDirLocked(*cookie, [&](const vfs::DirEntry& e) {
      if (!emit(e)) {
        stopped = true;
        return false;
      }
      *cookie = e.next_cookie;
      return true;
    }));
    if (!stopped) *cookie = kEndOfDir;
    return Ok();
  }

 private:
  const Ref<vfs::Inode> dir_;
};

class ProcDir final : public ProcInode {
 public:
  ProcDir(vfs::Filesystem& fs, uint64_t ino, uint32_t perm, uid_t uid,
          gid_t gid, uint64_t parent_ino, Lister list)
      : ProcInode(fs, ino, S_IFDIR | perm, uid, gid),
        parent_ino_(parent_ino),
        list_(std::move(list)) {}
  Result<std::unique_ptr<vfs::FileImpl>> OpenLocked(int) override {
    return std::unique_ptr<vfs::FileImpl>(new ProcDirImpl(Ref<vfs::Inode>(*this)));
  }
  Result<Ref<vfs::Inode>> LookupLocked(std::string_view name) override {
    for (Child& c : list_()) {
      if (c.name == name) return c.make();
    }
    return Errno(ENOENT);
  }
  Result<void> ReadDirLocked(uint64_t cookie,
                             const vfs::DirEmitter& emit) override {
    if (cookie >= kEndOfDir) return Ok();
    if (cookie == 0) {
      if (!emit(vfs::DirEntry{".", ino(), DT_DIR, 1})) return Ok();
      cookie = 1;
    }
    if (cookie == 1) {
      if (!emit(vfs::DirEntry{"..", parent_ino_, DT_DIR, 2})) return Ok();
      cookie = 2;
    }
    // Entries by position: a directory that changes between reads (a
    // process exits) may skip or repeat one, as Linux's /proc may.
    std::vector<Child> children = list_();
    for (uint64_t i = cookie - 2; i < children.size(); ++i) {
      Child& c = children[i];
      if (!emit(vfs::DirEntry{c.name, c.make()->ino(), c.type, i + 3}))
        break;
    }
    return Ok();
  }
  Result<std::string> ReadlinkLocked() override { return Errno(EINVAL); }

 private:
  const uint64_t parent_ino_;
  const Lister list_;
};

// ---- The filesystem -------------------------------------------------------

std::string FdTarget(vfs::Vfs& vfs, const vfs::Context& ctx,
                     vfs::FileDescription& file, vfs::Filesystem& held) {
  vfs::Inode& inode = file.inode();
  if (IsMemfd(file)) {
    const vfs::Dentry& d = *file.location().dentry;
    MutexLock lock(d.fs().mutex());
    return "/" + std::string(d.name()) + " (deleted)";
  }
  if (const char* anon = TwinAnonKind(file)) {
    if (inode.type() == S_IFSOCK)
      return "socket:[" + std::to_string(inode.ino()) + "]";
    return std::string("anon_inode:[") + anon + "]";
  }
  if (std::strcmp(inode.fs().TypeName(), "pipefs") == 0) {
    const char* kind = inode.type() == S_IFIFO    ? "pipe"
                       : inode.type() == S_IFSOCK ? "socket"
                                                  : "anon_inode";
    return std::string(kind) + ":[" + std::to_string(inode.ino()) + "]";
  }
  return vfs.PathOf(ctx, file.location(), &held);
}

std::string Octal(uint32_t v, int width) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%0*o", width, v);
  return buf;
}

// The value of `key:` in a status-like text, or "".
std::string Field(const std::string& text, std::string_view key) {
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + at, end - at);
    if (line.size() > key.size() && line.substr(0, key.size()) == key &&
        line[key.size()] == ':') {
      line.remove_prefix(key.size() + 1);
      while (!line.empty() && (line.front() == '\t' || line.front() == ' '))
        line.remove_prefix(1);
      return std::string(line);
    }
    at = end + 1;
  }
  return "";
}

class ProcFs final : public vfs::Filesystem {
 public:
  ProcFs(vfs::Vfs& vfs, std::shared_ptr<ProcTasks> tasks, ProcHostInfo host)
      : vfs_(vfs),
        tasks_(std::move(tasks)),
        host_(std::move(host)),
        root_(MakeRef<ProcDir>(*this, 1, 0555, 0, 0, 1,
                               [this] { return RootChildren(); })) {}
  const char* TypeName() const override { return "proc"; }
  Ref<vfs::Inode> Root() override { return root_; }
  Result<struct statfs> StatFsLocked() override {
    struct statfs st {};
    st.f_type = kProcSuperMagic;
    st.f_bsize = 4096;
    st.f_namelen = 255;
    return st;
  }
  // Processes come and go: every cached name is checked again.
  bool NamesNeedRevalidation() const override { return true; }
  Result<std::vector<vfs::NameVerdict>> RevalidateLocked(
      vfs::Inode& dir, std::span<const std::string> names,
      std::span<vfs::Inode* const> cached) override
      VEIL_REQUIRES(mutex()) {
    std::vector<vfs::NameVerdict> out;
    vfs::Inode* parent = &dir;
    for (size_t i = 0; i < names.size(); ++i) {
      Result<Ref<vfs::Inode>> now = parent->LookupLocked(names[i]);
      if (!now) {
        out.push_back(vfs::NameVerdict::kGone);
        break;
      }
      if ((*now)->ino() != cached[i]->ino() ||
          (*now)->type() != cached[i]->type()) {
        out.push_back(vfs::NameVerdict::kStale);
        break;
      }
      out.push_back(vfs::NameVerdict::kValid);
      parent = cached[i];
    }
    return out;
  }

 private:
  // --- helpers making nodes ---
  Child File(std::string name, const std::string& path, Content content,
             uint32_t perm = 0444, uid_t uid = 0, gid_t gid = 0) {
    return Child{std::move(name), DT_REG, [=, this]() -> Ref<vfs::Inode> {
                   return MakeRef<ProcFile>(*this, InoOf(path), perm, uid, gid,
                                            content);
                 }};
  }
  Child Link(std::string name, const std::string& path, Content target,
             uid_t uid = 0, gid_t gid = 0, Jumper jump = nullptr) {
    return Child{std::move(name), DT_LNK, [=, this]() -> Ref<vfs::Inode> {
                   return MakeRef<ProcLink>(*this, InoOf(path), uid, gid,
                                            target, jump);
                 }};
  }
  Child Dir(std::string name, const std::string& path,
            const std::string& parent_path, Lister list, uint32_t perm = 0555,
            uid_t uid = 0, gid_t gid = 0) {
    return Child{std::move(name), DT_DIR, [=, this]() -> Ref<vfs::Inode> {
                   const uint64_t parent =
                       parent_path.empty() ? 1 : InoOf(parent_path);
                   return MakeRef<ProcDir>(*this, InoOf(path), perm, uid, gid,
                                           parent, list);
                 }};
  }
  static Content Text(std::string text) {
    return [text = std::move(text)]() -> Result<std::string> { return text; };
  }

  // --- /proc ---
  std::vector<Child> RootChildren() {
    std::vector<Child> out;
    out.push_back(Link("self", "/self", [this]() -> Result<std::string> {
      auto caller = tasks_->Caller();
      if (!caller) return Errno(ENOENT);
      return std::to_string(caller->first);
    }));
    out.push_back(
        Link("thread-self", "/thread-self", [this]() -> Result<std::string> {
          auto caller = tasks_->Caller();
          if (!caller) return Errno(ENOENT);
          return std::to_string(caller->first) + "/task/" +
                 std::to_string(caller->second);
        }));
    out.push_back(File("cpuinfo", "/cpuinfo", Text(host_.cpuinfo)));
    out.push_back(File("meminfo", "/meminfo", Text(host_.meminfo)));
    out.push_back(File("version", "/version", Text(host_.version)));
    out.push_back(File("uptime", "/uptime", [] { return Uptime(); }));
    out.push_back(File("loadavg", "/loadavg", [this] { return LoadAvg(); }));
    out.push_back(File("stat", "/stat", [this] { return Stat(); }));
    out.push_back(File("filesystems", "/filesystems",
                       Text("nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\n"
                            "nodev\tdevtmpfs\nnodev\toverlay\n")));
    out.push_back(Link("mounts", "/mounts", Text("self/mounts")));
    out.push_back(Dir("sys", "/sys", "", [this] { return SysChildren(); }));
    for (pid_t pid : tasks_->Pids()) {
      const std::string p = "/" + std::to_string(pid);
      std::optional<ProcTask> t = tasks_->Find(pid);
      if (!t || t->threads.empty()) continue;
      const vfs::Credentials& c = t->threads.front().view.creds;
      out.push_back(Dir(std::to_string(pid), p, "",
                        [this, pid] { return PidChildren(pid, 0); }, 0555,
                        c.fsuid, c.fsgid));
    }
    return out;
  }

  std::vector<Child> SysChildren() {
    std::vector<Child> out;
    out.push_back(Dir("kernel", "/sys/kernel", "/sys", [this] {
      std::vector<Child> k;
      k.push_back(File("hostname", "/sys/kernel/hostname",
                       Text(host_.hostname + "\n"), 0644));
      k.push_back(File("ostype", "/sys/kernel/ostype", Text("Linux\n")));
      k.push_back(File("osrelease", "/sys/kernel/osrelease",
                       Text(host_.osrelease + "\n")));
      k.push_back(File("pid_max", "/sys/kernel/pid_max", Text("4194304\n"),
                       0644));
      k.push_back(File("ngroups_max", "/sys/kernel/ngroups_max",
                       Text("65536\n")));
      k.push_back(Dir("random", "/sys/kernel/random", "/sys/kernel", [this] {
        std::vector<Child> r;
        r.push_back(File("boot_id", "/sys/kernel/random/boot_id",
                         Text(host_.boot_id + "\n")));
        r.push_back(File("uuid", "/sys/kernel/random/uuid",
                         [] { return Uuid(); }));
        return r;
      }));
      return k;
    }));
    out.push_back(Dir("vm", "/sys/vm", "/sys", [this] {
      std::vector<Child> v;
      v.push_back(File("overcommit_memory", "/sys/vm/overcommit_memory",
                       Text("0\n"), 0644));
      return v;
    }));
    out.push_back(Dir("fs", "/sys/fs", "/sys", [this] {
      std::vector<Child> f;
      f.push_back(File("file-max", "/sys/fs/file-max",
                       Text("9223372036854775807\n"), 0644));
      f.push_back(File("nr_open", "/sys/fs/nr_open", Text("1048576\n"), 0644));
      return f;
    }));
    return out;
  }

  // --- /proc/PID and /proc/PID/task/TID (tid 0: the group's own dir) ---
  std::vector<Child> PidChildren(pid_t pid, pid_t tid) {
    std::vector<Child> out;
    std::optional<ProcTask> t = tasks_->Find(pid);
    if (!t || t->threads.empty()) return out;
    const std::string p = tid == 0
                              ? "/" + std::to_string(pid)
                              : "/" + std::to_string(pid) + "/task/" +
                                    std::to_string(tid);
    const vfs::Credentials& c = t->threads.front().view.creds;
    const uid_t uid = c.fsuid;
    const gid_t gid = c.fsgid;
    // Each generator finds the task again when it runs: it may be gone.
    auto thread = [this, pid, tid]() -> Result<ProcThread> {
      std::optional<ProcTask> now = tasks_->Find(pid);
      if (!now || now->threads.empty()) return Errno(ESRCH);
      if (tid == 0) return now->threads.front();
      for (ProcThread& th : now->threads)
        if (th.tid == tid) return th;
      return Errno(ESRCH);
    };
    auto memory = [this, thread](bool env) -> Result<std::string> {
      ProcThread th = VEIL_TRY(thread());
      const ExecImage& im = th.view.image;
      const uint64_t start = env ? im.env_start : im.arg_start;
      const uint64_t end = env ? im.env_end : im.arg_end;
      if (end <= start) return std::string();
      return tasks_->ReadMemory(th.host_tid, start,
                                std::min<uint64_t>(end - start, kMaxArgBytes));
    };
    out.push_back(File("cmdline", p + "/cmdline",
                       [memory] { return memory(false); }, 0444, uid, gid));
    out.push_back(File("environ", p + "/environ",
                       [memory] { return memory(true); }, 0400, uid, gid));
    out.push_back(File("comm", p + "/comm",
                       [thread]() -> Result<std::string> {
                         ProcThread th = VEIL_TRY(thread());
                         return th.view.image.comm + "\n";
                       },
                       0644, uid, gid));
    out.push_back(Link("exe", p + "/exe",
                       [this, thread]() -> Result<std::string> {
                         ProcThread th = VEIL_TRY(thread());
                         if (!th.view.image.exe) return Errno(ENOENT);
                         vfs::Context ctx = th.view.fs->ContextFor(th.view.creds);
                         return vfs_.PathOf(
                             ctx, th.view.image.exe->location(), this);
                       },
                       uid, gid,
                       [thread]() -> Result<std::optional<vfs::Location>> {
                         ProcThread th = VEIL_TRY(thread());
                         if (!th.view.image.exe) return Errno(ENOENT);
                         return std::optional(th.view.image.exe->location());
                       }));
    out.push_back(Link("cwd", p + "/cwd",
                       [this, thread]() -> Result<std::string> {
                         ProcThread th = VEIL_TRY(thread());
                         vfs::Context ctx = th.view.fs->ContextFor(th.view.creds);
                         return vfs_.PathOf(ctx, ctx.cwd, this);
                       },
                       uid, gid,
                       [thread]() -> Result<std::optional<vfs::Location>> {
                         ProcThread th = VEIL_TRY(thread());
                         return std::optional(
                             th.view.fs->ContextFor(th.view.creds).cwd);
                       }));
    out.push_back(Link("root", p + "/root",
                       [this, thread]() -> Result<std::string> {
                         ProcThread th = VEIL_TRY(thread());
                         vfs::Context ctx = th.view.fs->ContextFor(th.view.creds);
                         return vfs_.PathOf(ctx, ctx.root, this);
                       },
                       uid, gid,
                       [thread]() -> Result<std::optional<vfs::Location>> {
                         ProcThread th = VEIL_TRY(thread());
                         return std::optional(
                             th.view.fs->ContextFor(th.view.creds).root);
                       }));
    out.push_back(Dir(
        "fd", p + "/fd", p,
        [this, thread, p, uid, gid] {
          std::vector<Child> fds;
          Result<ProcThread> th = thread();
          if (!th) return fds;
          for (const auto& numbered : th->view.fds->Snapshot()) {
            const int fd = numbered.first;
            fds.push_back(Link(
                std::to_string(fd), p + "/fd/" + std::to_string(fd),
                [this, thread, fd]() -> Result<std::string> {
                  ProcThread now = VEIL_TRY(thread());
                  Ref<vfs::FileDescription> file =
                      VEIL_TRY(now.view.fds->Get(fd));
                  vfs::Context ctx = now.view.fs->ContextFor(now.view.creds);
                  return FdTarget(vfs_, ctx, *file, *this);
                },
                uid, gid,
                [this, thread, fd]() -> Result<std::optional<vfs::Location>> {
                  ProcThread now = VEIL_TRY(thread());
                  Ref<vfs::FileDescription> file =
                      VEIL_TRY(now.view.fds->Get(fd));
                  // A host object of the data plane (a host pipe's end, a
                  // socket, an event fd, stdio) is not the VFS's: its
                  // opens reopen the task's own host file.
                  if (TwinAnonKind(*file) || IsTwinPipe(*file) ||
                      HostFdOf(*file) >= 0) {
                    UniqueFd host = VEIL_TRY(tasks_->TaskFd(now.host_tid, fd));
                    struct stat st {};
                    if (::fstat(host.get(), &st) != 0)
                      return Errno::FromErrno();
                    return std::optional(MakeReopenLocation(
                        std::move(host), st.st_mode, now.view.creds));
                  }
                  return std::optional(file->location());
                }));
          }
          return fds;
        },
        0500, uid, gid));
    out.push_back(File("mounts", p + "/mounts",
                       [this, thread] { return Mounts(thread, false); }, 0444,
                       uid, gid));
    out.push_back(File("mountinfo", p + "/mountinfo",
                       [this, thread] { return Mounts(thread, true); }, 0444,
                       uid, gid));
    out.push_back(File("status", p + "/status",
                       [this, thread, pid] { return Status(thread, pid); },
                       0444, uid, gid));
    out.push_back(File("stat", p + "/stat",
                       [this, thread, pid] { return TaskStat(thread, pid); },
                       0444, uid, gid));
    out.push_back(File("statm", p + "/statm",
                       [this, thread]() -> Result<std::string> {
                         ProcThread th = VEIL_TRY(thread());
                         return tasks_->HostFile(th.host_tid, "statm");
                       },
                       0444, uid, gid));
    out.push_back(File("maps", p + "/maps",
                       [this, thread] { return Maps(thread); }, 0444, uid,
                       gid));
    out.push_back(File("limits", p + "/limits",
                       [this, thread]() -> Result<std::string> {
                         ProcThread th = VEIL_TRY(thread());
                         return tasks_->HostFile(th.host_tid, "limits");
                       },
                       0444, uid, gid));
    if (tid == 0) {
      out.push_back(Dir(
          "task", p + "/task", p,
          [this, pid, p] {
            std::vector<Child> threads;
            std::optional<ProcTask> now = tasks_->Find(pid);
            if (!now) return threads;
            for (const ProcThread& th : now->threads) {
              const pid_t tid = th.tid;
              threads.push_back(Dir(std::to_string(tid),
                                    p + "/task/" + std::to_string(tid),
                                    p + "/task", [this, pid, tid] {
                                      return PidChildren(pid, tid);
                                    }));
            }
            return threads;
          },
          0555, uid, gid));
    }
    return out;
  }

  using ThreadFn = std::function<Result<ProcThread>()>;

  Result<std::string> Mounts(const ThreadFn& thread, bool info) {
    ProcThread th = VEIL_TRY(thread());
    vfs::Context ctx = th.view.fs->ContextFor(th.view.creds);
    std::string out;
    int id = 20;
    std::vector<Ref<vfs::Mount>> mounts = vfs_.mounts().All();
    mounts.insert(mounts.begin(), vfs_.RootLocation().mount);
    for (const Ref<vfs::Mount>& m : mounts) {
      std::string where =
          vfs_.PathOf(ctx, vfs::Location{m, m->root()}, this);
      if (where.rfind("(unreachable)", 0) == 0) continue;
      const char* type = m->fs().TypeName();
      const char* opts = m->read_only() ? "ro" : "rw";
      if (info) {
        const uint64_t dev = m->fs().dev();
        out += std::to_string(id) + " " + std::to_string(id == 20 ? 1 : 20) +
               " " + std::to_string(major(dev)) + ":" +
               std::to_string(minor(dev)) + " / " + where + " " + opts +
               ",relatime - " + type + " " + type + " " + opts + "\n";
      } else {
        out += std::string(type) + " " + where + " " + type + " " + opts +
               ",relatime 0 0\n";
      }
      ++id;
    }
    return out;
  }

  // The host's status with the pids of the sandbox's namespace.
  Result<std::string> Status(const ThreadFn& thread, pid_t pid) {
    ProcThread th = VEIL_TRY(thread());
    std::optional<ProcTask> t = tasks_->Find(pid);
    std::string host = VEIL_TRY(tasks_->HostFile(th.host_tid, "status"));
    const vfs::Credentials& c = th.view.creds;
    const TaskCreds& ids = th.view.ids;
    auto four = [](uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
      return std::to_string(a) + "\t" + std::to_string(b) + "\t" +
             std::to_string(c) + "\t" + std::to_string(d);
    };
    auto caps = [](uint64_t v) {
      char buf[20];
      std::snprintf(buf, sizeof buf, "%016llx",
                    static_cast<unsigned long long>(v));
      return std::string(buf);
    };
    std::string out;
    out += "Name:\t" + th.view.image.comm + "\n";
    out += "Umask:\t" + Octal(th.view.fs->ContextFor(c).umask, 4) + "\n";
    out += "State:\t" + Field(host, "State") + "\n";
    out += "Tgid:\t" + std::to_string(pid) + "\n";
    out += "Ngid:\t0\n";
    out += "Pid:\t" + std::to_string(th.tid) + "\n";
    out += "PPid:\t" + std::to_string(t ? t->ppid : 0) + "\n";
    out += "TracerPid:\t0\n";
    out += "Uid:\t" + four(ids.uid, ids.euid, ids.suid, ids.fsuid) + "\n";
    out += "Gid:\t" + four(ids.gid, ids.egid, ids.sgid, ids.fsgid) + "\n";
    out += "FDSize:\t64\n";
    out += "Groups:\t";
    // task_state: the groups space-separated, then " \n" even when none.
    for (size_t i = 0; i < c.groups.size(); ++i)
      out += (i ? " " : "") + std::to_string(c.groups[i]);
    out += " \n";
    out += "NStgid:\t" + std::to_string(pid) + "\n";
    out += "NSpid:\t" + std::to_string(th.tid) + "\n";
    out += "NSpgid:\t" + std::to_string(tasks_->SandboxPidOf(
                             std::atoi(Field(host, "NSpgid").c_str()))) +
           "\n";
    out += "NSsid:\t" + std::to_string(tasks_->SandboxPidOf(
                            std::atoi(Field(host, "NSsid").c_str()))) +
           "\n";
    for (const char* key :
         {"VmPeak", "VmSize", "VmLck", "VmPin", "VmHWM", "VmRSS", "RssAnon",
          "RssFile", "RssShmem", "VmData", "VmStk", "VmExe", "VmLib", "VmPTE",
          "VmSwap", "Threads", "SigQ", "SigPnd", "ShdPnd", "SigBlk", "SigIgn",
          "SigCgt", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
          "NoNewPrivs", "Seccomp", "Cpus_allowed", "Cpus_allowed_list",
          "Mems_allowed", "Mems_allowed_list", "voluntary_ctxt_switches",
          "nonvoluntary_ctxt_switches"}) {
      std::string v = Field(host, key);
      // The sandbox's view of itself: no filter shows (Linux shows the
      // one a task installed itself; ours are the sentry's business).
      if (std::strcmp(key, "Seccomp") == 0) v = "0";
      // The capabilities are the sentry's (the host's are the namespace
      // root's, whatever the task did); so is no_new_privs.
      if (std::strcmp(key, "CapInh") == 0) v = caps(ids.cap_inheritable);
      if (std::strcmp(key, "CapPrm") == 0) v = caps(ids.cap_permitted);
      if (std::strcmp(key, "CapEff") == 0) v = caps(ids.cap_effective);
      if (std::strcmp(key, "CapBnd") == 0) v = caps(ids.cap_bset);
      if (std::strcmp(key, "CapAmb") == 0) v = caps(0);
      if (std::strcmp(key, "NoNewPrivs") == 0) v = "0";
      if (!v.empty() || std::strcmp(key, "Seccomp") == 0)
        out += std::string(key) + ":\t" + v + "\n";
    }
    return out;
  }

  // The host's stat with the sandbox's pids and name.
  Result<std::string> TaskStat(const ThreadFn& thread, pid_t pid) {
    ProcThread th = VEIL_TRY(thread());
    std::optional<ProcTask> t = tasks_->Find(pid);
    std::string host = VEIL_TRY(tasks_->HostFile(th.host_tid, "stat"));
    // Fields after the name: "S ppid pgrp session tty tpgid ...".
    const size_t close = host.rfind(')');
    if (close == std::string::npos) return Errno(EIO);
    std::istringstream rest(host.substr(close + 2));
    std::vector<std::string> f{std::istream_iterator<std::string>(rest),
                               std::istream_iterator<std::string>()};
    if (f.size() < 5) return Errno(EIO);
    f[1] = std::to_string(t ? t->ppid : 0);
    f[2] = std::to_string(tasks_->SandboxPidOf(std::atoi(f[2].c_str())));
    f[3] = std::to_string(tasks_->SandboxPidOf(std::atoi(f[3].c_str())));
    f[5] = std::to_string(tasks_->SandboxPidOf(std::atoi(f[5].c_str())));
    std::string out = std::to_string(th.tid) + " (" + th.view.image.comm + ")";
    for (const std::string& s : f) out += " " + s;
    return out + "\n";
  }

  // The host's maps, file names and host device/inode numbers left out.
  Result<std::string> Maps(const ThreadFn& thread) {
    ProcThread th = VEIL_TRY(thread());
    std::string host = VEIL_TRY(tasks_->HostFile(th.host_tid, "maps"));
    std::string out;
    std::istringstream lines(host);
    std::string line;
    while (std::getline(lines, line)) {
      std::istringstream in(line);
      std::string range, perms, offset, dev, inode, name;
      in >> range >> perms >> offset >> dev >> inode;
      std::getline(in, name);
      name.erase(0, name.find_first_not_of(' '));
      const bool special = !name.empty() && name.front() == '[';
      std::string row = range + " " + perms + " " + offset + " 00:00 0 ";
      // show_map_vma pads the name to column 73 (seq_pad).
      if (special) row += std::string(row.size() < 73 ? 73 - row.size() : 0, ' ') + name;
      out += row + "\n";
    }
    return out;
  }

  static Result<std::string> Uptime() {
    timespec up{};
    clock_gettime(CLOCK_BOOTTIME, &up);
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%ld.%02ld %ld.%02ld\n",
                  static_cast<long>(up.tv_sec), up.tv_nsec / 10000000,
                  static_cast<long>(up.tv_sec), up.tv_nsec / 10000000);
    return std::string(buf);
  }
  Result<std::string> LoadAvg() {
    std::vector<pid_t> pids = tasks_->Pids();
    return "0.00 0.00 0.00 1/" + std::to_string(pids.size()) + " " +
           std::to_string(pids.empty() ? 0 : pids.back()) + "\n";
  }
  Result<std::string> Stat() {
    // The CPUs cpuinfo lists (the confined sentry cannot ask sysfs).
    long cpus = 0;
    for (size_t at = 0; (at = host_.cpuinfo.find("processor", at)) !=
                        std::string::npos;
         at += 9) {
      if (at == 0 || host_.cpuinfo[at - 1] == '\n') ++cpus;
    }
    cpus = std::max(1L, cpus);
    std::string out = "cpu  0 0 0 0 0 0 0 0 0 0\n";
    for (long i = 0; i < cpus; ++i)
      out += "cpu" + std::to_string(i) + " 0 0 0 0 0 0 0 0 0 0\n";
    timespec now{}, up{};
    clock_gettime(CLOCK_REALTIME, &now);
    clock_gettime(CLOCK_BOOTTIME, &up);
    out += "intr 0\nctxt 0\nbtime " + std::to_string(now.tv_sec - up.tv_sec) +
           "\nprocesses " + std::to_string(tasks_->Pids().size()) +
           "\nprocs_running 1\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n";
    return out;
  }
  static Result<std::string> Uuid() {
    uint8_t b[16];
    if (getrandom(b, sizeof(b), 0) != sizeof(b)) return Errno::FromErrno();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    char out[40];
    std::snprintf(out, sizeof(out),
                  "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
                  "%02x%02x%02x%02x%02x%02x\n",
                  b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
                  b[10], b[11], b[12], b[13], b[14], b[15]);
    return std::string(out);
  }

  vfs::Vfs& vfs_;
  const std::shared_ptr<ProcTasks> tasks_;
  const ProcHostInfo host_;
  const Ref<vfs::Inode> root_;  // after what its lister uses
};

std::string ReadWhole(const char* path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

ProcHostInfo CaptureProcHostInfo() {
  ProcHostInfo info;
  info.cpuinfo = ReadWhole("/proc/cpuinfo");
  info.meminfo = ReadWhole("/proc/meminfo");
  info.version = ReadWhole("/proc/version");
  info.osrelease = Trimmed(ReadWhole("/proc/sys/kernel/osrelease"));
  info.boot_id = Trimmed(ReadWhole("/proc/sys/kernel/random/boot_id"));
  // uname(2) runs natively: the same name as its nodename.
  std::string hostname = Trimmed(ReadWhole("/proc/sys/kernel/hostname"));
  if (!hostname.empty()) info.hostname = std::move(hostname);
  return info;
}

Ref<vfs::Filesystem> MakeProcFs(vfs::Vfs& vfs,
                                std::shared_ptr<ProcTasks> tasks,
                                ProcHostInfo host) {
  return MakeRef<ProcFs>(vfs, std::move(tasks), std::move(host));
}

}  // namespace veil::sentry
