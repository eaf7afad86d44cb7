#include "core/thread_pool.hpp"

#include <exception>

namespace vernier {

namespace {
thread_local bool tl_in_pool = false;
constexpr int kSpinIterations = 200000;  // ~100 µs of polling before a worker sleeps
}  // namespace

ThreadPool& ThreadPool::shared() {
  static ThreadPool pool;
  return pool;
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    stop_ = true;
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::work_on_job() {
  for (int64_t i = next_.fetch_add(1); i < count_; i = next_.fetch_add(1)) {
    try {
      task_(ctx_, i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void ThreadPool::worker(int index, uint64_t seen) {
  tl_in_pool = true;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    for (int spin = 0; g == seen && spin < kSpinIterations; ++spin) g = generation_.load(std::memory_order_acquire);
    int active = 0;
    {
      // The job's generation and its worker count are read together, under the lock run() set them
      // with: a worker joins only the job it saw, and that job cannot end without it.
      std::unique_lock<std::mutex> lock(wake_mutex_);
      if (g == seen) wake_.wait(lock, [&] { return generation_.load() != seen; });
      seen = generation_.load();
      active = active_.load();
    }
    if (stop_) return;
    if (index < active) {
      work_on_job();
      busy_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
}

void ThreadPool::run(int threads, int64_t count, Task task, void* ctx) {
  if (count <= 0) return;
  std::unique_lock<std::mutex> guard(run_mutex_, std::defer_lock);
  if (threads <= 1 || count == 1 || tl_in_pool || !guard.try_lock()) {
    for (int64_t i = 0; i < count; ++i) task(ctx, i);
    return;
  }
  int helpers = static_cast<int>(std::min<int64_t>(threads - 1, count - 1));
  try {
    while (static_cast<int>(workers_.size()) < helpers) {
      const int index = static_cast<int>(workers_.size());
      const uint64_t now = generation_.load();  // the job about to start is one after this
      workers_.emplace_back([this, index, now] { worker(index, now); });
    }
  } catch (const std::exception&) {
    // the system refused a thread (a process or address-space limit): the job runs on those started
    helpers = static_cast<int>(workers_.size());
  }
  task_ = task;
  ctx_ = ctx;
  count_ = count;
  error_ = nullptr;
  next_.store(0);
  busy_.store(helpers);
  {
    std::lock_guard<std::mutex> lock(wake_mutex_);
    active_.store(helpers);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  wake_.notify_all();
  tl_in_pool = true;
  work_on_job();
  tl_in_pool = false;
  while (busy_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
  if (error_) std::rethrow_exception(error_);
}

}  // namespace vernier
