// The codec thread pool behind parallel_for: every item exactly once, errors in chunk order,
// nested and concurrent calls, and a forked child that starts its own pool.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "mrcnn/core/parallel.h"

namespace mrcnn::core {
namespace {

struct ThreadsGuard {
  int old = pool_threads();
  explicit ThreadsGuard(int n) { set_pool_threads(n); }
  ~ThreadsGuard() { set_pool_threads(old); }
};

TEST(CodecPool, EveryItemOnceWhateverTheThreadCount) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadsGuard guard(threads);
    for (size_t n : {0, 1, 5, 1000}) {
      std::vector<std::atomic<int>> seen(n);
      parallel_for(n, 1, [&](size_t b, size_t e) {
        for (size_t i = b; i < e; ++i) ++seen[i];
      });
      for (size_t i = 0; i < n; ++i) ASSERT_EQ(seen[i].load(), 1) << threads << " threads, item " << i;
    }
  }
}

TEST(CodecPool, FirstChunksErrorIsRethrown) {
  ThreadsGuard guard(4);
  for (int rep = 0; rep < 20; ++rep) {
    try {
      parallel_for(400, 1, [&](size_t b, size_t) {
        if (b >= 100) throw std::runtime_error("chunk at " + std::to_string(b));
      });
      FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "chunk at 100");  // chunks 1..3 throw; the first one wins
    }
  }
}

TEST(CodecPool, NestedAndConcurrentCalls) {
  ThreadsGuard guard(3);
  std::atomic<long> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&] {
      for (int rep = 0; rep < 50; ++rep)
        parallel_for(30, 1, [&](size_t b, size_t e) {
          for (size_t i = b; i < e; ++i)  // a nested loop runs on the thread that calls it
            parallel_for(10, 1, [&](size_t b2, size_t e2) { total += static_cast<long>(e2 - b2); });
        });
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), 4L * 50 * 30 * 10);
}

TEST(CodecPool, ForkedChildHasItsOwnPool) {
  ThreadsGuard guard(2);
  std::atomic<int> n{0};
  parallel_for(100, 1, [&](size_t b, size_t e) { n += static_cast<int>(e - b); });  // the parent's pool exists
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::atomic<int> m{0};
    parallel_for(100, 1, [&](size_t b, size_t e) { m += static_cast<int>(e - b); });
    _exit(m.load() == 100 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(n.load(), 100);
}

}  // namespace
}  // namespace mrcnn::core
