// SPDX-License-Identifier: Apache-2.0
//
// tmpfs file data: read/write, append, truncate, fallocate, holes, seeks,
// xattrs and the memfd the sentry maps.
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/xattr.h>

#include "tests/unit/vfs/fixture.h"

namespace veil::vfs::testing {
namespace {

using TmpfsFileTest = VfsTest;

TEST_F(TmpfsFileTest, ReadWriteAndOffsets) {
  auto f = Open("/f", O_CREAT | O_RDWR);
  ASSERT_THAT(f, IsOk());
  ASSERT_THAT((*f)->Write(Bytes("hello world")), IsOkAndHolds(11u));
  EXPECT_THAT((*f)->Seek(0, SEEK_CUR), IsOkAndHolds(11));
  ASSERT_THAT((*f)->PWrite(Bytes("W"), 6), IsOkAndHolds(1u));
  EXPECT_THAT((*f)->Seek(0, SEEK_CUR), IsOkAndHolds(11));  // pwrite: no move
  EXPECT_EQ(ReadAll(**f), "hello World");
  EXPECT_THAT((*f)->Seek(-1, SEEK_SET), ErrnoIs(EINVAL));
  EXPECT_THAT((*f)->Seek(-2, SEEK_END), IsOkAndHolds(9));
  uint8_t buf[8];
  EXPECT_THAT((*f)->Read(buf), IsOkAndHolds(2u));
  EXPECT_THAT((*f)->PRead(buf, -1), ErrnoIs(EINVAL));
}

TEST_F(TmpfsFileTest, AccessModesAreEnforced) {
  WriteFile("/f", "x");
  auto ro = Open("/f", O_RDONLY);
  auto wo = Open("/f", O_WRONLY);
  auto path = Open("/f", O_PATH);
  uint8_t buf[4];
  EXPECT_THAT((*ro)->Write(Bytes("y")), ErrnoIs(EBADF));
  EXPECT_THAT((*wo)->Read(buf), ErrnoIs(EBADF));
  EXPECT_THAT((*path)->Read(buf), ErrnoIs(EBADF));
  EXPECT_THAT((*path)->Stat(), IsOk());
  auto dir = Open("/", O_RDONLY);
  EXPECT_THAT((*dir)->Read(buf), ErrnoIs(EISDIR));
}

TEST_F(TmpfsFileTest, AppendWritesAtTheEnd) {
  WriteFile("/log", "one\n");
  auto f = Open("/log", O_WRONLY | O_APPEND);
  ASSERT_THAT(f, IsOk());
  ASSERT_THAT((*f)->Write(Bytes("two\n")), IsOk());
  // As on Linux, pwrite on an O_APPEND file appends too.
  ASSERT_THAT((*f)->PWrite(Bytes("three\n"), 0), IsOk());
  EXPECT_EQ(ReadFile("/log"), "one\ntwo\nthree\n");
}

TEST_F(TmpfsFileTest, OTruncEmptiesAndTruncateResizes) {
  WriteFile("/f", "0123456789");
  ASSERT_THAT(vfs_.TruncateAt(root_, Root(), "/f", 4), IsOk());
  EXPECT_EQ(ReadFile("/f"), "0123");
  ASSERT_THAT(vfs_.TruncateAt(root_, Root(), "/f", 6), IsOk());
  EXPECT_EQ(ReadFile("/f"), std::string("0123\0\0", 6));
  EXPECT_THAT(vfs_.TruncateAt(root_, Root(), "/f", -1), ErrnoIs(EINVAL));
  EXPECT_THAT(vfs_.TruncateAt(root_, Root(), "/", 0), ErrnoIs(EISDIR));
  ASSERT_THAT(Open("/f", O_WRONLY | O_TRUNC), IsOk());
  EXPECT_EQ(Stat("/f")->size, 0u);
  auto ro = Open("/f", O_RDONLY);
  EXPECT_THAT(vfs_.Ftruncate(root_, **ro, 0), ErrnoIs(EINVAL));
}

TEST_F(TmpfsFileTest, SparseFilesCostNoMemory) {
  auto f = Open("/sparse", O_CREAT | O_RDWR);
  ASSERT_THAT(f, IsOk());
  constexpr int64_t kGiB = int64_t{1} << 30;
  ASSERT_THAT((*f)->PWrite(Bytes("end"), kGiB), IsOk());
  auto st = Stat("/sparse");
  EXPECT_EQ(st->size, static_cast<uint64_t>(kGiB) + 3);
  EXPECT_LE(st->blocks, 8u);  // one page
  uint8_t buf[16];
  EXPECT_THAT((*f)->PRead(buf, 4096), IsOkAndHolds(16u));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), 16), std::string(16, '\0'));
  EXPECT_THAT((*f)->Seek(0, SEEK_DATA), IsOkAndHolds(kGiB));
  EXPECT_THAT((*f)->Seek(0, SEEK_HOLE), IsOkAndHolds(0));
  EXPECT_THAT((*f)->Seek(kGiB + 3, SEEK_DATA), ErrnoIs(ENXIO));
}

TEST_F(TmpfsFileTest, FallocateAndPunchHole) {
  auto f = Open("/f", O_CREAT | O_RDWR);
  ASSERT_THAT(f, IsOk());
  ASSERT_THAT((*f)->Allocate(0, 0, 16384), IsOk());
  EXPECT_EQ(Stat("/f")->size, 16384u);
  EXPECT_EQ(Stat("/f")->blocks, 32u);
  ASSERT_THAT((*f)->Allocate(FALLOC_FL_KEEP_SIZE, 16384, 4096), IsOk());
  EXPECT_EQ(Stat("/f")->size, 16384u);
  ASSERT_THAT((*f)->PWrite(Bytes(std::string(8192, 'a')), 0), IsOk());
  ASSERT_THAT((*f)->Allocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                             4096),
              IsOk());
  uint8_t b;
  ASSERT_THAT((*f)->PRead({&b, 1}, 0), IsOkAndHolds(1u));
  EXPECT_EQ(b, 0);
  ASSERT_THAT((*f)->PRead({&b, 1}, 4096), IsOkAndHolds(1u));
  EXPECT_EQ(b, 'a');
  EXPECT_THAT((*f)->Allocate(FALLOC_FL_PUNCH_HOLE, 0, 1), ErrnoIs(EOPNOTSUPP));
  EXPECT_THAT((*f)->Allocate(0, -1, 1), ErrnoIs(EINVAL));
  EXPECT_THAT((*f)->Allocate(0, 0, 0), ErrnoIs(EINVAL));
  auto ro = Open("/f", O_RDONLY);
  EXPECT_THAT((*ro)->Allocate(0, 0, 1), ErrnoIs(EBADF));
}

TEST_F(TmpfsFileTest, HostMemoryMapsTheSameBytes) {
  auto f = Open("/m", O_CREAT | O_RDWR);
  ASSERT_THAT(f, IsOk());
  ASSERT_THAT((*f)->Write(Bytes(std::string(4096, 'v'))), IsOk());
  auto mem = (*f)->GetHostMemory();
  ASSERT_THAT(mem, IsOk());
  void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, mem->fd,
                 static_cast<off_t>(mem->offset));
  ASSERT_NE(p, MAP_FAILED);
  static_cast<char*>(p)[0] = 'M';   // a store through the mapping...
  EXPECT_EQ(ReadFile("/m")[0], 'M');  // ...is what read(2) returns
  ASSERT_THAT((*f)->PWrite(Bytes("W"), 1), IsOk());
  EXPECT_EQ(static_cast<char*>(p)[1], 'W');
  munmap(p, 4096);
}

TEST_F(TmpfsFileTest, Xattrs) {
  WriteFile("/x", "");
  EXPECT_THAT(vfs_.SetXattrAt(root_, Root(), "/x", "user.a", "1", 0, 0), IsOk());
  EXPECT_THAT(vfs_.SetXattrAt(root_, Root(), "/x", "user.a", "2", XATTR_CREATE, 0),
              ErrnoIs(EEXIST));
  EXPECT_THAT(vfs_.SetXattrAt(root_, Root(), "/x", "user.b", "2", XATTR_REPLACE, 0),
              ErrnoIs(ENODATA));
  EXPECT_THAT(vfs_.SetXattrAt(root_, Root(), "/x", "trusted.t", "3", 0, 0), IsOk());
  EXPECT_THAT(vfs_.GetXattrAt(root_, Root(), "/x", "user.a", 0),
              IsOkAndHolds(std::string("1")));
  EXPECT_THAT(vfs_.ListXattrAt(root_, Root(), "/x", 0),
              IsOkAndHolds(::testing::UnorderedElementsAre("user.a", "trusted.t")));
  EXPECT_THAT(vfs_.SetXattrAt(root_, Root(), "/x", "bogus.a", "1", 0, 0),
              ErrnoIs(EOPNOTSUPP));
  EXPECT_THAT(vfs_.SetXattrAt(root_, Root(), "/x", "user.", "1", 0, 0),
              ErrnoIs(EINVAL));
  EXPECT_THAT(vfs_.SetXattrAt(root_, Root(), "/x", "", "1", 0, 0), ErrnoIs(ERANGE));
  EXPECT_THAT(vfs_.SetXattrAt(root_, Root(), "/x", "user.big",
                              std::string(65537, 'b'), 0, 0),
              ErrnoIs(E2BIG));
  EXPECT_THAT(vfs_.RemoveXattrAt(root_, Root(), "/x", "user.a", 0), IsOk());
  EXPECT_THAT(vfs_.RemoveXattrAt(root_, Root(), "/x", "user.a", 0),
              ErrnoIs(ENODATA));
  ASSERT_THAT(Symlink("/x", "/lx"), IsOk());
  EXPECT_THAT(vfs_.SetXattrAt(root_, Root(), "/lx", "user.a", "1", 0,
                              AT_SYMLINK_NOFOLLOW),
              ErrnoIs(EPERM));
}

}  // namespace
}  // namespace veil::vfs::testing
