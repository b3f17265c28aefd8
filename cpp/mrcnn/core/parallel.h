// A minimal parallel loop on a pool of threads that persists between calls (no thread start per
// call, and their thread-local scratch stays allocated): torch-free, for the codecs' batch
// functions and the COCO evaluator.
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <functional>
#include <vector>

namespace mrcnn::core {

// Threads used by the batch codec functions; n <= 0 means all cores.
void set_pool_threads(int n);
int pool_threads();

// Runs task(0) .. task(count - 1), task(count - 1) on the calling thread and the others on the
// pool, and returns when all are done; then rethrows the first exception a task threw (the
// caller's first). Called from a pool thread (nested), it runs them in turn.
void run_on_pool(size_t count, const std::function<void(size_t)>& task);

// Calls f(begin, end) over [0, n) split into at most pool_threads() chunks of at least
// `grain` items; the calling thread runs the last chunk. The first exception thrown by any
// chunk (in chunk order) is rethrown here.
template <class F>
void parallel_for(size_t n, size_t grain, F&& f) {
  const size_t threads = std::min<size_t>(static_cast<size_t>(pool_threads()),
                                          grain == 0 ? n : (n + grain - 1) / grain);
  if (threads <= 1) {
    if (n > 0) f(size_t{0}, n);
    return;
  }
  const size_t chunk = (n + threads - 1) / threads, chunks = (n + chunk - 1) / chunk;
  std::vector<std::exception_ptr> errors(chunks);
  run_on_pool(chunks, [&](size_t t) {
    try {
      f(t * chunk, std::min(n, (t + 1) * chunk));
    } catch (...) {
      errors[t] = std::current_exception();
    }
  });
  for (auto& err : errors)
    if (err) std::rethrow_exception(err);
}

}  // namespace mrcnn::core
