// A caching allocator for torch's CPU tensors.
//
// On virtual machines the first touch of fresh memory is slow: each 4 KiB page fault costs
// microseconds, and torch's default allocator returns every large buffer to the system and
// faults it in again on the next forward pass (measured on a 2-core VM: filling 69 MB of fresh
// memory 190 ms, of recycled memory 1 ms; torchvision's Mask R-CNN inference 5.6 s with the
// default allocator, 1.9 s with memory reused). This allocator keeps large freed blocks for
// reuse and asks for transparent huge pages for new ones. Small blocks go to the allocator it
// replaced.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mrcnn {

struct CpuCacheStats {
  uint64_t cached_bytes = 0;     // freed blocks kept for reuse
  uint64_t allocated_bytes = 0;  // large blocks handed out and not yet freed
  uint64_t hits = 0, misses = 0;
  uint64_t limit_bytes = 0;      // most bytes kept cached
};

// Makes the caching allocator torch's CPU allocator (on = true) or restores the previous one.
// Blocks handed out before a switch are freed by whichever allocator made them.
void set_caching_cpu_allocator(bool on);
bool caching_cpu_allocator_enabled();

// Most bytes of freed blocks kept for reuse (default: a quarter of physical memory, at most 8 GiB).
void set_cpu_cache_limit(uint64_t bytes);

// Returns every cached block to the system.
void release_cpu_cache();

CpuCacheStats cpu_cache_stats();

}  // namespace mrcnn
