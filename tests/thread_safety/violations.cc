// SPDX-License-Identifier: Apache-2.0
//
// Lock-claim violations the clang analysis must reject: ctest compiles this
// file with -Wthread-safety -Werror and passes only if clang refuses it
// (tests/thread_safety/CMakeLists.txt). Each function below is one mistake
// tools/thread_safety.sh exists to catch; if the analysis stopped seeing
// them (a macro turned into a no-op, a flag dropped), this test fails.
#include "base/mutex.h"

namespace {

class Account {
 public:
  // Reads a guarded field without its mutex.
  int UnlockedRead() { return balance_; }
  // Calls a REQUIRES method without the mutex.
  void UnlockedCall() { DepositLocked(1); }
  // Returns with the mutex still held.
  void LeakedLock() { mu_.Lock(); }

 private:
  void DepositLocked(int n) VEIL_REQUIRES(mu_) { balance_ += n; }
  veil::Mutex mu_;
  int balance_ VEIL_GUARDED_BY(mu_) = 0;
};

}  // namespace

int main() {
  Account a;
  a.UnlockedCall();
  a.LeakedLock();
  return a.UnlockedRead();
}
