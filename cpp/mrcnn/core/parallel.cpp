#include "mrcnn/core/parallel.h"

#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace mrcnn::core {

namespace {

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}
std::atomic<int> g_threads{hardware_threads()};

thread_local bool t_in_pool = false;

// One call's tasks: the pool threads take indices until none is left; the caller waits for all.
struct Batch {
  const std::function<void(size_t)>* task;
  size_t count;           // tasks given to the pool: 0 .. count - 1
  size_t next = 0;        // under Pool::mutex
  size_t done = 0;        // under Pool::mutex
  std::exception_ptr error;  // the first a pool task threw, under Pool::mutex
  std::condition_variable finished;
};

// Threads that wait for batches. Never destroyed (a static destructor joining threads at exit
// could block); after fork() the child starts a pool of its own.
class Pool {
 public:
  static Pool& get() {
    static std::mutex m;
    static Pool* pool = nullptr;
    std::lock_guard<std::mutex> lock(m);
    if (pool == nullptr || pool->pid_ != getpid()) pool = new Pool();  // the parent's threads are gone
    return *pool;
  }

  // Gives tasks 0 .. count - 1 to the pool, runs own() here meanwhile, then waits for the pool's.
  template <class Own>
  void run(size_t count, const std::function<void(size_t)>& task, Own&& own) {
    Batch batch{&task, count};
    {
      std::lock_guard<std::mutex> lock(mutex_);
      while (threads_ < count && threads_ < 256) {
        std::thread(&Pool::work, this).detach();
        ++threads_;
      }
      queue_.push_back(&batch);
    }
    wake_.notify_all();
    std::exception_ptr own_error;
    try {
      own();
    } catch (...) {
      own_error = std::current_exception();
    }
    std::unique_lock<std::mutex> lock(mutex_);  // the batch lives on this stack: wait for all of it
    batch.finished.wait(lock, [&] { return batch.done == batch.count; });
    if (own_error) std::rethrow_exception(own_error);
    if (batch.error) std::rethrow_exception(batch.error);
  }

 private:
  Pool() : pid_(getpid()) {}

  void work() {
    t_in_pool = true;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return !queue_.empty(); });
      Batch* b = queue_.front();
      const size_t i = b->next++;
      if (b->next == b->count) queue_.pop_front();
      lock.unlock();
      std::exception_ptr error;
      try {
        (*b->task)(i);
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      if (error && !b->error) b->error = error;
      if (++b->done == b->count) b->finished.notify_all();
    }
  }

  const pid_t pid_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Batch*> queue_;
  size_t threads_ = 0;
};

}  // namespace

void set_pool_threads(int n) { g_threads = n <= 0 ? hardware_threads() : n; }
int pool_threads() { return g_threads; }

void run_on_pool(size_t count, const std::function<void(size_t)>& task) {
  if (count == 0) return;
  if (count == 1 || t_in_pool) {
    for (size_t i = 0; i < count; ++i) task(i);
    return;
  }
  Pool::get().run(count - 1, task, [&] { task(count - 1); });
}

}  // namespace mrcnn::core
