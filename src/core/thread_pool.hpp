// Internal: a process-wide pool of worker threads for the kernels' hot loops.
//
// parallel_for (vernier/parallel.hpp) starts threads per call, which is fine for quantizing a file
// but costs tens of microseconds per matrix product when decoding one token. The pool keeps its
// workers: they spin briefly for the next job, then sleep on a condition variable. Calls with a
// plain function pointer and a context pointer never allocate. A job started from inside a job (or
// from two threads at once) runs on the calling thread instead.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace vernier {

class ThreadPool {
 public:
  using Task = void (*)(void* ctx, int64_t index);
  static ThreadPool& shared();
  ~ThreadPool();
  // Runs task(ctx, i) for every i in [0, count) on up to `threads` threads, the caller's included,
  // and returns when all are done. The first exception a task throws is rethrown here.
  void run(int threads, int64_t count, Task task, void* ctx);
  template <class F>
  void run(int threads, int64_t count, F& fn) {
    run(threads, count, [](void* c, int64_t i) { (*static_cast<F*>(c))(i); }, &fn);
  }

 private:
  void worker(int index, uint64_t seen);
  void work_on_job();
  std::vector<std::thread> workers_;
  std::mutex run_mutex_, wake_mutex_, error_mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> active_{0};      // workers taking part in the current job
  std::atomic<int> busy_{0};        // workers still inside the current job
  std::atomic<int64_t> next_{0};
  std::atomic<bool> stop_{false};
  int64_t count_ = 0;
  Task task_ = nullptr;
  void* ctx_ = nullptr;
  std::exception_ptr error_;
};

}  // namespace vernier
