#include "mrcnn/info/build_info.h"
#include "mrcnn/core/cpu_allocator.h"

#include "mrcnn/core/parallel.h"
#include "mrcnn/model/onednn.h"

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include "mrcnn/core/opencv.h"

#if MRCNN_WITH_OPENCV
#include <opencv2/core.hpp>
#endif
#include <torch/version.h>

#include <thread>

#ifndef _WIN32
#include <sched.h>
#endif

namespace mrcnn {

namespace {

int available_cores() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

#ifdef MRCNN_WITH_CUDA
constexpr bool kWithCuda = true;
#else
constexpr bool kWithCuda = false;
#endif

}  // namespace

std::vector<std::pair<std::string, std::string>> build_info() {
  std::vector<std::pair<std::string, std::string>> info;
  info.emplace_back("mrcnn", MRCNN_VERSION);
  info.emplace_back("torch (compiled against)", TORCH_VERSION);
  info.emplace_back("cuda kernels", kWithCuda ? "on" : "off");
#ifdef MRCNN_CUDA_ARCH_LIST
  info.emplace_back("cuda archs", MRCNN_CUDA_ARCH_LIST);
#else
  info.emplace_back("cuda archs", "-");
#endif
#if MRCNN_WITH_OPENCV
  info.emplace_back("opencv (compiled against)", MRCNN_OPENCV_VERSION);
  info.emplace_back("opencv (runtime)", cv::getVersionString());
#else
  info.emplace_back("opencv (compiled against)", "none (MRCNN_OPENCV=0)");
  info.emplace_back("opencv (runtime)", "none");
#endif
  info.emplace_back("compiler", MRCNN_COMPILER);
  info.emplace_back("cxx11 abi", std::to_string(_GLIBCXX_USE_CXX11_ABI));
  info.emplace_back("threads", std::to_string(at::get_num_threads()));
  const CpuCacheStats cache = cpu_cache_stats();
  info.emplace_back("cpu allocator", caching_cpu_allocator_enabled()
                                         ? "caching (limit " + std::to_string(cache.limit_bytes >> 20) + " MiB)"
                                         : "torch default");
  info.emplace_back("winograd conv", model::winograd_status());
  info.emplace_back("onednn matmul", model::onednn_matmul_available() ? "on" : "off (torch's product)");
  info.emplace_back("cores", std::to_string(available_cores()));
  info.emplace_back("parallel backend", at::get_parallel_info().find("OpenMP") != std::string::npos
                                            ? "OpenMP" : "native");
  return info;
}

void set_num_threads(int n) {
  if (n <= 0) n = available_cores();
  at::set_num_threads(n);
#if MRCNN_WITH_OPENCV
  cv::setNumThreads(n);
#endif
  core::set_pool_threads(n);
}

int get_num_threads() { return at::get_num_threads(); }

}  // namespace mrcnn
