// SPDX-License-Identifier: Apache-2.0
//
// `#!` lines as Linux's binfmt_script reads them. The host agrees (checked
// by hand on this kernel): "#!/bin/busybox echo  a b  \t" runs busybox
// with the one argument "echo  a b", a CR stays in the argument, and a
// sixth nested script fails with ELOOP.
#include "sentry/loader/shebang.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/util/matchers.h"

namespace veil::sentry::loader {
namespace {

using ::testing::ElementsAre;
using ::testing::Optional;
using ::veil::testing::ErrnoIs;
using ::veil::testing::IsOk;

Result<Shebang> Parse(std::string_view s) {
  return ParseShebang(
      {reinterpret_cast<const uint8_t*>(s.data()), s.size()});
}

TEST(ShebangTest, InterpreterAlone) {
  auto sb = Parse("#!/bin/sh\necho hi\n");
  ASSERT_THAT(sb, IsOk());
  EXPECT_EQ(sb->interpreter, "/bin/sh");
  EXPECT_FALSE(sb->argument.has_value());
  // Blanks around it are dropped.
  sb = Parse("#! \t/bin/sh \t \n");
  ASSERT_THAT(sb, IsOk());
  EXPECT_EQ(sb->interpreter, "/bin/sh");
  EXPECT_FALSE(sb->argument.has_value());
}

TEST(ShebangTest, OneArgumentKeepsItsInnerSpaces) {
  auto sb = Parse("#!/bin/busybox echo  a b  \t\nxx");
  ASSERT_THAT(sb, IsOk());
  EXPECT_EQ(sb->interpreter, "/bin/busybox");
  EXPECT_THAT(sb->argument, Optional(std::string("echo  a b")));
  sb = Parse("#!/usr/bin/env\tpython3 -u\n");
  ASSERT_THAT(sb, IsOk());
  EXPECT_EQ(sb->interpreter, "/usr/bin/env");
  EXPECT_THAT(sb->argument, Optional(std::string("python3 -u")));
}

TEST(ShebangTest, CarriageReturnIsKept) {
  auto sb = Parse("#!/bin/sh\r\n");
  ASSERT_THAT(sb, IsOk());
  EXPECT_EQ(sb->interpreter, "/bin/sh\r");
  sb = Parse("#!/bin/busybox echo\r\n");
  ASSERT_THAT(sb, IsOk());
  EXPECT_THAT(sb->argument, Optional(std::string("echo\r")));
}

TEST(ShebangTest, NoInterpreterIsEnoexec) {
  EXPECT_THAT(Parse("#!\n"), ErrnoIs(ENOEXEC));
  EXPECT_THAT(Parse("#!   \t \n/bin/sh\n"), ErrnoIs(ENOEXEC));
  // "#!" and the NUL padding of a short file: the NUL ends an empty
  // interpreter path, which Linux then fails to open (this host's execve
  // answers EACCES for such a file); the parse itself succeeds.
  auto empty = Parse("#!");
  ASSERT_THAT(empty, IsOk());
  EXPECT_EQ(empty->interpreter, "");
  EXPECT_THAT(Parse("# !/bin/sh\n"), ErrnoIs(ENOEXEC));
  EXPECT_THAT(Parse("\x7f" "ELF"), ErrnoIs(ENOEXEC));
  EXPECT_THAT(Parse(""), ErrnoIs(ENOEXEC));
  // Only blanks up to the end of the buffer.
  EXPECT_THAT(Parse("#!" + std::string(300, ' ')), ErrnoIs(ENOEXEC));
}

TEST(ShebangTest, LongLines) {
  // A path running past the 256-byte buffer may be truncated: ENOEXEC.
  EXPECT_THAT(Parse("#!/" + std::string(300, 'a') + "\n"), ErrnoIs(ENOEXEC));
  // A path that ends inside the buffer, its argument cut by it: fine, the
  // argument is cut at byte 255 (the buffer's last is a NUL for Linux).
  const std::string arg(300, 'x');
  auto sb = Parse("#!/bin/sh " + arg + "\n");
  ASSERT_THAT(sb, IsOk());
  EXPECT_EQ(sb->interpreter, "/bin/sh");
  ASSERT_TRUE(sb->argument.has_value());
  EXPECT_EQ(sb->argument->size(), kBinprmBufSize - 1 - 10);
  // The newline at byte 255 still ends the line.
  const std::string exact = "#!/bin/sh " + std::string(245, 'y') + "\n";
  ASSERT_EQ(exact.size(), kBinprmBufSize);
  sb = Parse(exact);
  ASSERT_THAT(sb, IsOk());
  EXPECT_EQ(sb->argument->size(), 245u);
  // A path of 253 bytes: the NUL padding of a short file ends it.
  sb = Parse("#!/" + std::string(250, 'p'));
  ASSERT_THAT(sb, IsOk());
  EXPECT_EQ(sb->interpreter.size(), 251u);
}

TEST(ShebangTest, NulEndsTheInterpreter) {
  auto sb = Parse(std::string("#!/bin/sh\0 -x\n", 14));
  ASSERT_THAT(sb, IsOk());
  EXPECT_EQ(sb->interpreter, "/bin/sh");
  EXPECT_FALSE(sb->argument.has_value());
}

TEST(ShebangTest, InterpreterArgvReplacesArgvZero) {
  const std::vector<std::string> argv = {"name", "one", "two"};
  Shebang sb{"/bin/sh", std::nullopt};
  EXPECT_THAT(InterpreterArgv(sb, "./script", argv),
              ElementsAre("/bin/sh", "./script", "one", "two"));
  sb.argument = "-e -u";
  EXPECT_THAT(InterpreterArgv(sb, "/x/script", argv),
              ElementsAre("/bin/sh", "-e -u", "/x/script", "one", "two"));
  EXPECT_THAT(InterpreterArgv(sb, "s", std::vector<std::string>{}),
              ElementsAre("/bin/sh", "-e -u", "s"));
}

TEST(ShebangTest, DepthLimitIsLinuxs) {
  // exec_binprm: "if (depth > 5) return -ELOOP".
  EXPECT_EQ(kMaxInterpreterDepth, 5);
  EXPECT_TRUE(IsShebang(std::vector<uint8_t>{'#', '!'}));
  EXPECT_FALSE(IsShebang(std::vector<uint8_t>{'#'}));
}

}  // namespace
}  // namespace veil::sentry::loader
