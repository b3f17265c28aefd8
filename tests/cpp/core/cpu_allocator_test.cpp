#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "mrcnn/core/cpu_allocator.h"

namespace {

TEST(CpuAllocator, ReusesLargeBlocksAndFreesSmallOnes) {
  mrcnn::set_caching_cpu_allocator(true);
  mrcnn::release_cpu_cache();
  const mrcnn::CpuCacheStats before = mrcnn::cpu_cache_stats();
  { at::Tensor a = at::ones({4 << 20}); }  // 16 MiB, freed into the cache
  EXPECT_GE(mrcnn::cpu_cache_stats().cached_bytes, uint64_t(16) << 20);
  {
    at::Tensor b = at::zeros({4 << 20});
    EXPECT_EQ(b.sum().item<float>(), 0.f);  // recycled memory, still zeroed by zeros()
  }
  EXPECT_GT(mrcnn::cpu_cache_stats().hits, before.hits);
  at::Tensor small = at::ones({100});  // the previous allocator's
  EXPECT_EQ(small.sum().item<float>(), 100.f);
  // oneDNN convolutions allocate through raw_allocate / raw_deallocate
  const at::Tensor y = at::conv2d(at::randn({1, 8, 256, 256}), at::randn({8, 8, 3, 3}));
  EXPECT_EQ(y.size(1), 8);
  mrcnn::release_cpu_cache();
  EXPECT_EQ(mrcnn::cpu_cache_stats().cached_bytes, 0u);
  mrcnn::set_caching_cpu_allocator(false);
  EXPECT_FALSE(mrcnn::caching_cpu_allocator_enabled());
}

TEST(CpuAllocator, LimitTrimsTheCache) {
  mrcnn::set_caching_cpu_allocator(true);
  mrcnn::set_cpu_cache_limit(uint64_t(8) << 20);
  { at::Tensor a = at::ones({8 << 20}); }  // 32 MiB: above the limit, unmapped at once
  EXPECT_LE(mrcnn::cpu_cache_stats().cached_bytes, uint64_t(8) << 20);
  mrcnn::set_cpu_cache_limit(uint64_t(1) << 30);
  mrcnn::set_caching_cpu_allocator(false);
}

}  // namespace
