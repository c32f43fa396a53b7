// SPDX-License-Identifier: Apache-2.0
//
// A main() for fuzz targets built without libFuzzer (g++ builds, ctest):
// runs LLVMFuzzerTestOneInput once per file named on the command line, or
// per file inside each named directory, so every committed corpus entry and
// crash reproducer is replayed by the ordinary test suite.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

int RunFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "fuzz replay: cannot read %s\n", path.c_str());
    return 1;
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int files = 0, failures = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    struct stat st;
    if (stat(arg.c_str(), &st) != 0) {
      std::fprintf(stderr, "fuzz replay: no such file or directory: %s\n",
                   arg.c_str());
      return 1;
    }
    std::vector<std::string> paths;
    if (S_ISDIR(st.st_mode)) {
      DIR* dir = opendir(arg.c_str());
      if (!dir) return 1;
      while (dirent* e = readdir(dir)) {
        if (e->d_name[0] != '.') paths.push_back(arg + "/" + e->d_name);
      }
      closedir(dir);
      std::sort(paths.begin(), paths.end());
    } else {
      paths.push_back(arg);
    }
    for (const std::string& p : paths) {
      failures += RunFile(p);
      ++files;
    }
  }
  std::printf("fuzz replay: %d inputs, %d unreadable\n", files, failures);
  // An input that breaks a property aborts inside the target.
  return failures == 0 && files > 0 ? 0 : 1;
}
