// mrcnn._C.eval: COCO evaluation in C++.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "mrcnn/eval/coco_eval.h"

namespace py = pybind11;

void init_eval(py::module_& m) {
  m.def("coco_evaluate",
        [](std::string_view gt_json, std::string_view dt_json, const std::string& iou_type) {
          mrcnn::eval::CocoEvalResult r;
          {
            py::gil_scoped_release release;
            r = mrcnn::eval::coco_evaluate(gt_json, dt_json, iou_type);
          }
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
        },
        py::arg("gt_json"), py::arg("dt_json"), py::arg("iou_type"),
        "COCOeval on JSON texts: stats (12), precision [T, R, K, A, M], recall [T, K, A, M]");
}
