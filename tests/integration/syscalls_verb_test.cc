// SPDX-License-Identifier: Apache-2.0
//
// `veil syscalls`: prints one line per x86-64 syscall number.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "tests/integration/shell_util.h"

namespace veil::integration {
namespace {

TEST(SyscallsVerbTest, PrintsTheWholeTable) {
  ShellResult r = Shell(std::string(VEIL_BINARY) + " syscalls");
  ASSERT_EQ(r.status, 0) << r.output;
  std::istringstream in(r.output);
  std::string line;
  int rows = 0;
  bool saw_openat = false, saw_ptrace = false, saw_read_native = false;
  while (std::getline(in, line)) {
    if (line.empty() || !isdigit(static_cast<unsigned char>(line[0]))) continue;
    ++rows;
    std::istringstream cols(line);
    std::string nr, name, kind, error;
    cols >> nr >> name >> kind >> error;
    if (name == "openat") saw_openat = kind == "served";
    if (name == "ptrace") saw_ptrace = kind == "denied" && error == "EPERM";
    if (name == "read") saw_read_native = kind == "native";
  }
  EXPECT_EQ(rows, 470 - (424 - 335));  // 0..469 minus the unassigned gap
  EXPECT_TRUE(saw_openat);
  EXPECT_TRUE(saw_ptrace);
  EXPECT_TRUE(saw_read_native);
  ShellResult strict = Shell(std::string(VEIL_BINARY) + " syscalls --strict");
  ASSERT_EQ(strict.status, 0);
  EXPECT_NE(strict.output.find("(--strict)"), std::string::npos);
  EXPECT_NE(Shell(std::string(VEIL_BINARY) + " syscalls --bogus").status, 0);
}

}  // namespace
}  // namespace veil::integration
