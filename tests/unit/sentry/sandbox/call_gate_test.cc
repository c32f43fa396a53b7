// SPDX-License-Identifier: Apache-2.0
#include "sentry/control/call_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace veil::sentry {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

TEST(CallGate, PauseWaitsForTheCallsInHandAndHoldsNewOnes) {
  CallGate gate;
  gate.Enter();  // a call in hand
  std::atomic<bool> paused{false};
  std::thread snapshot([&] {
    EXPECT_TRUE(gate.Pause(steady_clock::now() + std::chrono::seconds(5)));
    paused = true;
  });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(paused);  // the call still holds the gate
  gate.Leave();
  snapshot.join();
  EXPECT_TRUE(paused);
  // A new call waits for the resume.
  std::atomic<bool> entered{false};
  std::thread call([&] {
    gate.Enter();
    entered = true;
    gate.Leave();
  });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(entered);
  gate.Resume();
  call.join();
  EXPECT_TRUE(entered);
}

TEST(CallGate, APauseOutOfTimeLetsEverythingGoOn) {
  CallGate gate;
  gate.Enter();  // never leaves in time
  EXPECT_FALSE(gate.Pause(steady_clock::now() + milliseconds(20)));
  // Not paused: another call goes in at once.
  std::thread call([&] {
    gate.Enter();
    gate.Leave();
  });
  call.join();
  gate.Leave();
  EXPECT_TRUE(gate.Pause(steady_clock::now() + milliseconds(20)));
  gate.Resume();
}

TEST(CallGate, GateHoldHoldsForItsScope) {
  CallGate gate;
  {
    GateHold hold(&gate);
    EXPECT_FALSE(gate.Pause(steady_clock::now() + milliseconds(10)));
  }
  EXPECT_TRUE(gate.Pause(steady_clock::now() + milliseconds(10)));
  gate.Resume();
  GateHold none(nullptr);  // no gate: nothing to hold
}

}  // namespace
}  // namespace veil::sentry
