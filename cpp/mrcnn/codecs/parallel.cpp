#include "mrcnn/codecs/parallel.h"

#include <atomic>

namespace mrcnn::codecs {

namespace {
int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}
std::atomic<int> g_threads{hardware_threads()};
}  // namespace

void set_codec_threads(int n) { g_threads = n <= 0 ? hardware_threads() : n; }
int codec_threads() { return g_threads; }

}  // namespace mrcnn::codecs
