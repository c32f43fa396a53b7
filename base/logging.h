// SPDX-License-Identifier: Apache-2.0
//
// Leveled logging to stderr.
//
//   VEIL_LOG(kWarning) << "gofer: cannot open " << path << ": " << strerror(e);
//
// The level threshold comes from $VEIL_LOG (error, warning, info, debug;
// default warning) or SetLogLevel(). A disabled statement costs one compare
// and evaluates none of its operands. One line is written with one write(2),
// so lines from several threads or processes do not interleave.
#pragma once

#include <sstream>

namespace veil {

enum class LogLevel { kError = 0, kWarning = 1, kInfo = 2, kDebug = 3 };

LogLevel CurrentLogLevel();
void SetLogLevel(LogLevel level);
// Parses "error", "warning", "info", "debug"; false if unknown.
bool ParseLogLevel(const char* text, LogLevel* out);

namespace internal {

class LogLine final {
 public:
  LogLine(LogLevel level, const char* file, int line);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

}  // namespace internal
}  // namespace veil

#define VEIL_LOG(level)                                        \
  if (::veil::LogLevel::level > ::veil::CurrentLogLevel()) {   \
  } else                                                       \
    ::veil::internal::LogLine(::veil::LogLevel::level, __FILE__, __LINE__) \
        .stream()
