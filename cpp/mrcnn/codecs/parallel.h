// A minimal parallel loop for the torch-free codecs: contiguous chunks on std::threads.
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace mrcnn::codecs {

// Threads used by the batch codec functions; n <= 0 means all cores.
void set_codec_threads(int n);
int codec_threads();

// Calls f(begin, end) over [0, n) split into at most codec_threads() chunks of at least
// `grain` items. The first exception thrown by any chunk is rethrown here.
template <class F>
void parallel_for(size_t n, size_t grain, F&& f) {
  const size_t threads = std::min<size_t>(static_cast<size_t>(codec_threads()),
                                          grain == 0 ? n : (n + grain - 1) / grain);
  if (threads <= 1) {
    if (n > 0) f(size_t{0}, n);
    return;
  }
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(threads);
  const size_t chunk = (n + threads - 1) / threads;
  for (size_t t = 0; t < threads; ++t) {
    const size_t b = t * chunk, e = std::min(n, b + chunk);
    if (b >= e) break;
    pool.emplace_back([&, t, b, e] {
      try {
        f(b, e);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  for (auto& th : pool) th.join();
  for (auto& err : errors)
    if (err) std::rethrow_exception(err);
}

}  // namespace mrcnn::codecs
