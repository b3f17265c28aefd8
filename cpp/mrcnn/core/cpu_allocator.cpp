#include "mrcnn/core/cpu_allocator.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <torch/version.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>

namespace mrcnn {

namespace {

constexpr size_t kLargeBlock = 256 << 10;   // smaller requests go to the previous allocator
constexpr size_t kHugePage = 2 << 20;
constexpr size_t kHugeFrom = 8 << 20;       // from this size, round to huge pages and ask for THP

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

size_t block_size(size_t n) { return n >= kHugeFrom ? round_up(n, kHugePage) : round_up(n, 64 << 10); }

uint64_t default_limit() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  const uint64_t ram = pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
  // a training step at 800x1333 reuses about 4.5 GB of large buffers; less makes it page-fault
  return std::min<uint64_t>(ram / 4, uint64_t(8) << 30);
}

class CachingCpuAllocator final : public c10::Allocator {
 public:
  c10::Allocator* previous = nullptr;

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
  c10::DataPtr allocate(size_t n) override { return allocate_block(n); }
  void copy_data(void* dest, const void* src, std::size_t count) const override { std::memcpy(dest, src, count); }
#else
  c10::DataPtr allocate(size_t n) const override { return const_cast<CachingCpuAllocator*>(this)->allocate_block(n); }
#endif

  // Every DataPtr made here has data == context, so raw_allocate / raw_deallocate (oneDNN uses
  // them) work; small blocks that came from the previous allocator are handed back to it.
  c10::DeleterFnPtr raw_deleter() const override { return &free_block; }

  c10::DataPtr allocate_block(size_t n) {
    if (n < kLargeBlock) return previous->allocate(n);
    const size_t size = block_size(n);
    void* p = take_cached(size);
    if (p == nullptr) p = map_block(size);
    return {p, p, &free_block, c10::Device(c10::DeviceType::CPU)};
  }

  void* take_cached(size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    // best fit, wasting at most a quarter of the request
    auto it = free_.lower_bound(size);
    if (it == free_.end() || it->first > size + size / 4) {
      ++stats_.misses;
      return nullptr;
    }
    void* p = it->second.first;
    const size_t got = it->first;
    free_.erase(it);
    stats_.cached_bytes -= got;
    stats_.allocated_bytes += got;
    sizes_[p] = got;
    ++stats_.hits;
    return p;
  }

  void* map_block(size_t size) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      release();  // give the cache back and try once more
      p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      TORCH_CHECK(p != MAP_FAILED, "mrcnn CPU allocator: out of memory allocating ", size, " bytes");
    }
#ifdef MADV_HUGEPAGE
    if (size >= kHugeFrom) madvise(p, size, MADV_HUGEPAGE);
#endif
    std::lock_guard<std::mutex> lock(mutex_);
    sizes_[p] = size;
    stats_.allocated_bytes += size;
    return p;
  }

  void give_back(void* p) {
    std::unique_lock<std::mutex> lock(mutex_);
    const auto it = sizes_.find(p);
    if (it == sizes_.end()) {  // a small block of the previous allocator, freed through raw_deallocate
      lock.unlock();
      c10::DeleterFnPtr del = previous->raw_deleter();
      TORCH_INTERNAL_ASSERT(del != nullptr, "mrcnn CPU allocator: cannot free a block of the previous allocator");
      del(p);
      return;
    }
    const size_t size = it->second;
    sizes_.erase(it);
    stats_.allocated_bytes -= size;
    if (size > stats_.limit_bytes) {
      lock.unlock();
      munmap(p, size);
      return;
    }
    free_.emplace(size, std::make_pair(p, ++freed_));
    stats_.cached_bytes += size;
    trim_locked(stats_.limit_bytes);
  }

  // Unmaps the cached blocks freed longest ago until at most `keep` bytes stay cached: the buffers
  // of the current workload (the last ones freed) stay, whatever their size.
  void trim_locked(uint64_t keep) {
    while (stats_.cached_bytes > keep && !free_.empty()) {
      auto oldest = free_.begin();
      for (auto it = free_.begin(); it != free_.end(); ++it)
        if (it->second.second < oldest->second.second) oldest = it;
      munmap(oldest->second.first, oldest->first);
      stats_.cached_bytes -= oldest->first;
      free_.erase(oldest);
    }
  }

  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    trim_locked(0);
  }

  void set_limit(uint64_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.limit_bytes = bytes;
    trim_locked(bytes);
  }

  CpuCacheStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

  static void free_block(void* p);

 private:
  std::mutex mutex_;
  std::multimap<size_t, std::pair<void*, uint64_t>> free_;  // size -> (cached block, when it was freed)
  uint64_t freed_ = 0;                                        // blocks freed so far
  std::map<void*, size_t> sizes_;       // blocks handed out
  CpuCacheStats stats_{0, 0, 0, 0, default_limit()};
};

// Never destroyed: tensors may outlive static destruction and still free through it.
CachingCpuAllocator& instance() {
  static auto* a = new CachingCpuAllocator();
  return *a;
}

void CachingCpuAllocator::free_block(void* p) { instance().give_back(p); }

std::mutex switch_mutex;
bool enabled = false;

}  // namespace

void set_caching_cpu_allocator(bool on) {
  std::lock_guard<std::mutex> lock(switch_mutex);
  CachingCpuAllocator& a = instance();
  if (on == enabled) return;
  if (on) {
    a.previous = c10::GetCPUAllocator();
    c10::SetCPUAllocator(&a, /*priority=*/10);
  } else {
    c10::SetCPUAllocator(a.previous, /*priority=*/10);
    a.release();
  }
  enabled = on;
}

bool caching_cpu_allocator_enabled() {
  std::lock_guard<std::mutex> lock(switch_mutex);
  return enabled;
}

void set_cpu_cache_limit(uint64_t bytes) { instance().set_limit(bytes); }

void release_cpu_cache() { instance().release(); }

CpuCacheStats cpu_cache_stats() { return instance().stats(); }

}  // namespace mrcnn
