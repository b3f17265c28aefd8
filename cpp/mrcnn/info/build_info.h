#pragma once
#include <string>
#include <utility>
#include <vector>

namespace mrcnn {

// What this build of the library was compiled with and what it runs with now, as ordered
// (key, value) pairs: versions of torch and OpenCV, compiler, CUDA kernels and their
// architectures, and the current intra-op thread count.
std::vector<std::pair<std::string, std::string>> build_info();

// Sets the intra-op thread count used by torch and by the library's own parallel loops.
// n <= 0 means all cores available to this process.
void set_num_threads(int n);
int get_num_threads();

}  // namespace mrcnn
