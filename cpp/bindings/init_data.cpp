// mrcnn._C.data: annotation files parsed in C++ (COCO JSON, VIA JSON).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>

#include <torch/extension.h>

#include "mrcnn/data/annotations.h"
#include "mrcnn/data/sample.h"
#include "py_rle.h"

namespace py = pybind11;
using namespace mrcnn::data;

namespace {

BadDataPolicy policy_of(const std::string& p) {
  if (p == "skip") return BadDataPolicy::kSkip;
  if (p == "raise") return BadDataPolicy::kRaise;
  throw py::value_error("bad_data must be 'skip' or 'raise', got '" + p + "'");
}

py::dict to_python(const AnnotationSet& set) {
  py::list images;
  for (const ImageRecord& r : set.images) {
    py::list instances;
    for (const Instance& inst : r.instances) {
      py::dict d;
      d["class_id"] = inst.class_id;
      d["iscrowd"] = inst.crowd;
      d["rle"] = mrcnn::bindings::rle_to_dict(inst.mask);
      d["bbox"] = inst.bbox;
      instances.append(d);
    }
    py::dict im;
    im["id"] = r.id;
    im["path"] = r.path;
    im["height"] = r.height;
    im["width"] = r.width;
    im["instances"] = instances;
    images.append(im);
  }
  py::dict out;
  out["classes"] = set.classes;
  out["images"] = images;
  out["warnings"] = set.warnings;
  return out;
}

}  // namespace

void init_data(py::module_& m) {
  m.def("load_coco",
        [](const std::string& json_path, const std::string& image_dir, const std::string& bad_data) {
          AnnotationSet set;
          {
            py::gil_scoped_release release;
            set = load_coco(json_path, image_dir, policy_of(bad_data));
          }
          return to_python(set);
        },
        py::arg("json_path"), py::arg("image_dir"), py::arg("bad_data") = "skip");
  m.def("load_via",
        [](const std::string& json_path, const std::string& image_dir, const std::string& class_attribute,
           const std::string& default_class, const std::string& bad_data) {
          AnnotationSet set;
          {
            py::gil_scoped_release release;
            set = load_via(json_path, image_dir, class_attribute, default_class, policy_of(bad_data));
          }
          return to_python(set);
        },
        py::arg("json_path"), py::arg("image_dir"), py::arg("class_attribute") = "",
        py::arg("default_class") = "object", py::arg("bad_data") = "skip");
  m.def("load_rle_csv",
        [](const std::string& csv_path, const std::string& image_dir, const std::string& label_json,
           const std::string& bad_data) {
          AnnotationSet set;
          {
            py::gil_scoped_release release;
            set = load_rle_csv(csv_path, image_dir, label_json, policy_of(bad_data));
          }
          return to_python(set);
        },
        py::arg("csv_path"), py::arg("image_dir"), py::arg("label_json") = "", py::arg("bad_data") = "skip");
  m.def("read_image",
        [](const std::string& path) {
          py::gil_scoped_release release;
          return read_image(path);
        },
        py::arg("path"),
        "An image file as RGB uint8 [H, W, 3] (the loader's reader): 16-bit scaled to 8, grayscale replicated, "
        "alpha dropped; ValueError naming the file when it is missing, empty, truncated or not an image");
  m.attr("WITH_OPENCV") = with_opencv();
  m.def("image_size", &image_size_from_header, py::arg("path"), "(height, width) from a JPEG or PNG header");
}
