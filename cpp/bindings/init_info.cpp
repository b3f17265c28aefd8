#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "mrcnn/core/build_info.h"

namespace py = pybind11;

void init_info(py::module_& m) {
  m.def("build_info", &mrcnn::build_info,
        "Ordered (key, value) pairs describing this build and its runtime threads");
  m.def("set_num_threads", &mrcnn::set_num_threads, py::arg("n"),
        "Intra-op threads for torch, OpenCV and the library's loops; n <= 0 means all cores");
  m.def("get_num_threads", &mrcnn::get_num_threads);
}
