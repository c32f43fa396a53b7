// SPDX-License-Identifier: Apache-2.0
#include "sentry/sandbox/cpu_placer.h"

#include <algorithm>

namespace veil::sentry::internal {

CpuPlacer::CpuPlacer() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
      if (CPU_ISSET(cpu, &set)) cpus_.push_back(cpu);
  }
  MutexLock lock(mu_);
  live_.assign(cpus_.size(), 0);
}

std::unique_ptr<CpuPlacer::Claim> CpuPlacer::Place(pid_t tid) {
  if (cpus_.size() < 2) return nullptr;
  size_t index;
  {
    MutexLock lock(mu_);
    index = static_cast<size_t>(
        std::min_element(live_.begin(), live_.end()) - live_.begin());
    ++live_[index];
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpus_[index], &set);
  auto claim = std::make_unique<Claim>(*this, static_cast<int>(index));
  if (sched_setaffinity(tid, sizeof set, &set) != 0) return nullptr;
  return claim;
}

void CpuPlacer::Release(int index) {
  MutexLock lock(mu_);
  --live_[static_cast<size_t>(index)];
}

}  // namespace veil::sentry::internal
