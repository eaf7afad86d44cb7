// vernier/parallel.hpp — split [0, n) into one contiguous range per thread and run them.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vernier {

// Calls fn(begin, end, thread_index) for `threads` contiguous ranges covering [0, n) (fewer when n is
// small), on threads − 1 new threads and the caller's. The first exception thrown is rethrown here.
// Where the system refuses a thread (a limit on processes or address space: --threads 600 under
// ulimit -v), the ranges it would have run are run by the caller, one after another, with their own
// thread_index: the same results, on fewer threads.
inline int parallel_for(int64_t n, int threads, const std::function<void(int64_t, int64_t, int)>& fn) {
  const int t_count = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads < 1 ? 1 : threads, n)));
  if (t_count == 1) {
    fn(0, n, 0);
    return 1;
  }
  std::vector<std::thread> pool;
  std::exception_ptr error;
  std::mutex m;
  const auto run = [&](int t) {
    try {
      fn(n * t / t_count, n * (t + 1) / t_count, t);
    } catch (...) {
      std::lock_guard<std::mutex> lock(m);
      if (!error) error = std::current_exception();
    }
  };
  int started = 1;
  try {
    pool.reserve(static_cast<size_t>(t_count - 1));
    for (; started < t_count; ++started) pool.emplace_back(run, started);
  } catch (const std::exception&) {  // std::system_error (EAGAIN) or bad_alloc: no more threads
  }
  run(0);
  for (int t = started; t < t_count; ++t) run(t);
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
  return t_count;
}

}  // namespace vernier
