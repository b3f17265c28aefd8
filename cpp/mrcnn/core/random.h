// Seed mixing shared by the data loader and the training loop.
#pragma once

#include <cstdint>

namespace mrcnn {

// splitmix64: a well-spread 64-bit value from any seed (e.g. seed ^ splitmix64(position)).
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace mrcnn
