// mrcnn._C.eval: COCO evaluation in C++.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "mrcnn/eval/coco_eval.h"

#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

namespace py = pybind11;

namespace {

// Reads a whole file into buf, reusing its capacity: evaluation is often run again and again, and
// fresh pages for a multi-megabyte buffer cost more than reading into warm ones.
void read_into(std::string& buf, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw std::invalid_argument("coco_evaluate: cannot open " + path);
  std::fseek(f, 0, SEEK_END);
  const long size = std::ftell(f);
  std::fseek(f, 0, SEEK_SET);
  buf.resize(size > 0 ? static_cast<size_t>(size) : 0);
  const size_t got = size > 0 ? std::fread(buf.data(), 1, buf.size(), f) : 0;
  std::fclose(f);
  if (size < 0 || got != buf.size()) throw std::invalid_argument("coco_evaluate: cannot read " + path);
}

py::dict to_python(const mrcnn::eval::CocoEvalResult& r) {
  py::dict out;
  out["stats"] = std::vector<double>(r.stats.begin(), r.stats.end());
  py::array_t<double> precision({r.T, r.R, r.K, r.A, r.M});
  std::copy(r.precision.begin(), r.precision.end(), precision.mutable_data());
  py::array_t<double> recall({r.T, r.K, r.A, r.M});
  std::copy(r.recall.begin(), r.recall.end(), recall.mutable_data());
  out["precision"] = precision;
  out["recall"] = recall;
  out["category_ids"] = r.category_ids;
  return out;
}

}  // namespace

void init_eval(py::module_& m) {
  m.def("coco_evaluate",
        [](std::string_view gt_json, std::string_view dt_json, const std::string& iou_type) {
          mrcnn::eval::CocoEvalResult r;
          {
            py::gil_scoped_release release;
            r = mrcnn::eval::coco_evaluate(gt_json, dt_json, iou_type);
          }
          return to_python(r);
        },
        py::arg("gt_json"), py::arg("dt_json"), py::arg("iou_type"),
        "COCOeval on JSON texts: stats (12), precision [T, R, K, A, M], recall [T, K, A, M]");
  m.def("coco_evaluate_files",
        [](const std::string& gt_path, const std::string& dt_path, const std::string& iou_type) {
          mrcnn::eval::CocoEvalResult r;
          {
            py::gil_scoped_release release;
            thread_local std::string gt_text, dt_text;
            struct KeepSmall {  // buffers of large files are not kept between calls
              ~KeepSmall() {
                for (std::string* b : {&gt_text, &dt_text})
                  if (b->capacity() > (size_t{64} << 20)) std::string().swap(*b);
              }
            } keep_small;
            read_into(gt_text, gt_path);
            read_into(dt_text, dt_path);
            r = mrcnn::eval::coco_evaluate(gt_text, dt_text, iou_type);
          }
          return to_python(r);
        },
        py::arg("gt_path"), py::arg("dt_path"), py::arg("iou_type"),
        "coco_evaluate on two JSON files, read into buffers reused between calls");
}
