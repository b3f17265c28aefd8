#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "mrcnn/info/build_info.h"
#include "mrcnn/core/cpu_allocator.h"

namespace py = pybind11;

void init_info(py::module_& m) {
  m.def("build_info", &mrcnn::build_info,
        "Ordered (key, value) pairs describing this build and its runtime threads");
  m.def("set_num_threads", &mrcnn::set_num_threads, py::arg("n"),
        "Intra-op threads for torch, OpenCV and the library's loops; n <= 0 means all cores");
  m.def("get_num_threads", &mrcnn::get_num_threads);
  m.def("set_caching_cpu_allocator", &mrcnn::set_caching_cpu_allocator, py::arg("on"));
  m.def("caching_cpu_allocator_enabled", &mrcnn::caching_cpu_allocator_enabled);
  m.def("set_cpu_cache_limit", &mrcnn::set_cpu_cache_limit, py::arg("bytes"));
  m.def("release_cpu_cache", &mrcnn::release_cpu_cache);
  m.def("cpu_cache_stats", [] {
    const mrcnn::CpuCacheStats s = mrcnn::cpu_cache_stats();
    py::dict d;
    d["cached_bytes"] = s.cached_bytes;
    d["allocated_bytes"] = s.allocated_bytes;
    d["hits"] = s.hits;
    d["misses"] = s.misses;
    d["limit_bytes"] = s.limit_bytes;
    return d;
  });
}
