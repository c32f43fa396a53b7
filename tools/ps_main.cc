// SPDX-License-Identifier: Apache-2.0
//
// `veil ps` and `veil delete`: the running sandboxes of a runtime
// directory (tools/sandbox_registry.h), and removing a stopped one's
// leftovers.
#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "tools/sandbox_registry.h"
#include "tools/verbs.h"

namespace veil::tools {
namespace {

constexpr const char kPsUsage[] =
    "usage: veil ps [--format table|json] [--root DIR]\n";
constexpr const char kPsHelp[] =
    "\n"
    "Lists the sandboxes `veil do` runs, one per line: its name, state,\n"
    "sentry pid, uptime, its tasks (threads) and processes, the open file\n"
    "descriptors of its tasks, the sentry's own host descriptors and\n"
    "resident memory (which holds the sandbox's tmpfs files), the rootfs\n"
    "and the command. A sandbox whose veil process died is shown once as\n"
    "\"stopped\" and its state is removed. Needs root or the sandboxes'\n"
    "owner (the figures come from each sandbox's control socket).\n"
    "\n"
    "  --format table|json  table (default), or a JSON array of objects\n"
    "                       with the same fields, for scripts\n"
    "  --root DIR           the runtime directory (default: /run/veil)\n"
    "  -h, --help           print this help\n";

constexpr const char kDeleteUsage[] = "usage: veil delete [--root DIR] NAME\n";

std::string Json(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string Uptime(int64_t seconds) {
  if (seconds < 0) seconds = 0;
  char buf[32];
  if (seconds < 3600) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds",
                  static_cast<long long>(seconds / 60),
                  static_cast<long long>(seconds % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm",
                  static_cast<long long>(seconds / 3600),
                  static_cast<long long>(seconds / 60 % 60));
  }
  return buf;
}

std::string Bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.1f%s", v, units[u]);
  return buf;
}

// What a sandbox's sentry process holds on the host.
struct HostFigures {
  long fds = -1;
  long long rss_bytes = -1;
};

HostFigures SentryFigures(pid_t pid) {
  HostFigures f;
  const std::string proc = "/proc/" + std::to_string(pid);
  if (DIR* d = ::opendir((proc + "/fd").c_str())) {
    f.fds = 0;
    while (struct dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++f.fds;
    ::closedir(d);
  }
  std::ifstream status(proc + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0)
      f.rss_bytes = std::atoll(line.c_str() + 6) * 1024;
  }
  return f;
}

struct Row {
  SandboxEntry entry;
  std::map<std::string, long long> status;  // the STATUS reply's figures
  HostFigures host;
};

std::map<std::string, long long> ParseStatus(const std::string& reply) {
  std::map<std::string, long long> out;
  std::istringstream in(reply);
  std::string key;
  long long value;
  while (in >> key >> value) out[key] = value;
  return out;
}

std::string Command(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

std::string Figure(const std::map<std::string, long long>& m,
                   const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? "-" : std::to_string(it->second);
}

}  // namespace

int RunPs(int argc, char** argv) {
  std::string root = kDefaultRuntimeRoot;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::printf("%s%s", kPsUsage, kPsHelp);
      return 0;
    } else if ((arg == "--format" || arg == "--root") && i + 1 < argc) {
      std::string_view v = argv[++i];
      if (arg == "--root") {
        root = v;
      } else if (v == "json" || v == "table") {
        json = v == "json";
      } else {
        std::fprintf(stderr, "veil ps: --format is table or json, not '%s'\n%s",
                     argv[i], kPsUsage);
        return 2;
      }
    } else {
      std::fprintf(stderr, "veil ps: unexpected '%s'\n%s", argv[i], kPsUsage);
      return 2;
    }
  }
  Result<std::vector<SandboxEntry>> entries = ListSandboxes(root);
  if (!entries) {
    std::fprintf(stderr, "veil ps: cannot read %s: %s\n", root.c_str(),
                 std::strerror(entries.error().code()));
    return 1;
  }
  std::vector<Row> rows;
  int status = 0;
  for (SandboxEntry& e : *entries) {
    Row row{std::move(e), {}, {}};
    if (row.entry.state == SandboxState::kRunning) {
      Result<std::string> reply =
          AskSandbox(root, row.entry.record.name, "STATUS");
      if (reply) {
        row.status = ParseStatus(*reply);
      } else {
        std::fprintf(stderr, "veil ps: %s: cannot ask its sentry: %s\n",
                     row.entry.record.name.c_str(),
                     std::strerror(reply.error().code()));
        status = 1;
      }
      row.host = SentryFigures(row.entry.record.sentry_pid);
    } else {
      // Reported this once, then its leftovers go.
      (void)DeleteSandbox(root, row.entry.record.name);
    }
    rows.push_back(std::move(row));
  }
  const int64_t now = ::time(nullptr);
  if (json) {
    std::printf("[");
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      const SandboxRecord& rec = r.entry.record;
      const bool running = r.entry.state == SandboxState::kRunning;
      std::printf("%s\n  {\"name\": %s, \"state\": \"%s\", \"sentry_pid\": %d, "
                  "\"veil_pid\": %d, \"owner\": %u, \"created\": %lld, "
                  "\"uptime_seconds\": %lld, \"rootfs\": %s, \"command\": [",
                  i ? "," : "", Json(rec.name).c_str(),
                  running ? "running" : "stopped", rec.sentry_pid,
                  rec.veil_pid, rec.owner, static_cast<long long>(rec.created),
                  static_cast<long long>(running ? now - rec.created : 0),
                  Json(rec.rootfs).c_str());
      for (size_t a = 0; a < rec.command.size(); ++a)
        std::printf("%s%s", a ? ", " : "", Json(rec.command[a]).c_str());
      std::printf("]");
      for (const auto& [key, value] : r.status)
        std::printf(", %s: %lld", Json(key).c_str(), value);
      if (running) {
        std::printf(", \"sentry_host_fds\": %ld, \"sentry_rss_bytes\": %lld",
                    r.host.fds, r.host.rss_bytes);
      }
      std::printf("}");
    }
    std::printf("%s]\n", rows.empty() ? "" : "\n");
    return status;
  }
  std::printf("%-16s %-8s %8s %8s %6s %6s %6s %8s %9s %-12s %s\n", "NAME",
              "STATE", "PID", "UPTIME", "TASKS", "PROCS", "FDS", "HOSTFDS",
              "MEMORY", "ROOTFS", "COMMAND");
  for (const Row& r : rows) {
    const SandboxRecord& rec = r.entry.record;
    const bool running = r.entry.state == SandboxState::kRunning;
    std::printf(
        "%-16s %-8s %8d %8s %6s %6s %6s %8s %9s %-12s %s\n", rec.name.c_str(),
        running ? "running" : "stopped", rec.sentry_pid,
        running ? Uptime(now - rec.created).c_str() : "-",
        Figure(r.status, "tasks").c_str(), Figure(r.status, "processes").c_str(),
        Figure(r.status, "open_fds").c_str(),
        running && r.host.fds >= 0 ? std::to_string(r.host.fds).c_str() : "-",
        running && r.host.rss_bytes >= 0 ? Bytes(r.host.rss_bytes).c_str() : "-",
        rec.rootfs.c_str(), Command(rec.command).c_str());
  }
  return status;
}

int RunDelete(int argc, char** argv) {
  std::string root = kDefaultRuntimeRoot;
  std::vector<std::string> names;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      std::printf("%s\nRemoves the state a stopped sandbox left in the runtime\n"
                  "directory (default /run/veil). A running sandbox is refused.\n",
                  kDeleteUsage);
      return 0;
    } else if (arg == "--root" && i + 1 < argc) {
      root = argv[++i];
    } else if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "veil delete: unknown option '%s'\n%s", argv[i],
                   kDeleteUsage);
      return 2;
    } else {
      names.emplace_back(arg);
    }
  }
  if (names.size() != 1) {
    std::fprintf(stderr, "veil delete: name one sandbox\n%s", kDeleteUsage);
    return 2;
  }
  Result<void> done = DeleteSandbox(root, names[0]);
  if (!done) {
    const int e = done.error().code();
    std::fprintf(stderr, "veil delete: %s: %s\n", names[0].c_str(),
                 e == EBUSY    ? "it is running"
                 : e == ENOENT ? "no such sandbox"
                 : e == EINVAL ? "not a sandbox name"
                               : std::strerror(e));
    return 1;
  }
  return 0;
}

}  // namespace veil::tools
