// SPDX-License-Identifier: Apache-2.0
#include "base/logging.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

namespace veil {
namespace {

std::atomic<int> g_level{-1};

int InitialLevel() {
  LogLevel level = LogLevel::kWarning;
  if (const char* env = std::getenv("VEIL_LOG")) ParseLogLevel(env, &level);
  return static_cast<int>(level);
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError: return "E";
    case LogLevel::kWarning: return "W";
    case LogLevel::kInfo: return "I";
    case LogLevel::kDebug: return "D";
  }
  return "?";
}

}  // namespace

LogLevel CurrentLogLevel() {
  int level = g_level.load(std::memory_order_relaxed);
  if (level < 0) {
    level = InitialLevel();
    g_level.store(level, std::memory_order_relaxed);
  }
  return static_cast<LogLevel>(level);
}

void SetLogLevel(LogLevel level) {
  g_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

bool ParseLogLevel(const char* text, LogLevel* out) {
  static constexpr struct {
    const char* name;
    LogLevel level;
  } kNames[] = {{"error", LogLevel::kError},
                {"warning", LogLevel::kWarning},
                {"info", LogLevel::kInfo},
                {"debug", LogLevel::kDebug}};
  for (const auto& n : kNames) {
    if (std::strcmp(text, n.name) == 0) {
      *out = n.level;
      return true;
    }
  }
  return false;
}

namespace internal {

LogLine::LogLine(LogLevel level, const char* file, int line) {
  const char* base = std::strrchr(file, '/');
  stream_ << "veil[" << LevelName(level) << " " << getpid() << " "
          << (base ? base + 1 : file) << ":" << line << "] ";
}

LogLine::~LogLine() {
  stream_ << '\n';
  std::string text = stream_.str();
  // One write keeps concurrent lines whole; a short write to stderr is not
  // worth retrying.
  (void)!::write(STDERR_FILENO, text.data(), text.size());
}

}  // namespace internal
}  // namespace veil
