// mrcnn._C.data: annotation sets parsed in C++ (COCO JSON, VIA JSON, RLE CSV; mask-file datasets) held
// as handles, and the image and mask file readers.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <stdexcept>
#include <tuple>

#include <torch/extension.h>

#include "mrcnn/data/annotations.h"
#include "mrcnn/data/sample.h"
#include "mrcnn/codecs/rle.h"
#include "py_rle.h"

namespace py = pybind11;
using namespace mrcnn::data;

namespace {

BadDataPolicy policy_of(const std::string& p) {
  if (p == "skip") return BadDataPolicy::kSkip;
  if (p == "raise") return BadDataPolicy::kRaise;
  throw py::value_error("bad_data must be 'skip' or 'raise', got '" + p + "'");
}

using SetPtr = std::shared_ptr<AnnotationSet>;

// A parse's result as the handle Python holds; `source` names its classes in a Dataset.
SetPtr handle(AnnotationSet set, const std::string& source) {
  set.source = source;
  return std::make_shared<AnnotationSet>(std::move(set));
}

const ImageRecord& record_at(const AnnotationSet& set, int64_t k) {
  if (k < 0 || k >= static_cast<int64_t>(set.images.size()))
    throw py::index_error("record " + std::to_string(k) + " of an annotation set of " +
                          std::to_string(set.images.size()));
  return set.images[static_cast<size_t>(k)];
}

py::dict instance_dict(const Instance& inst) {
  py::dict d;
  d["class_id"] = inst.class_id;
  d["iscrowd"] = inst.crowd;
  if (inst.file.path.empty()) {
    d["rle"] = mrcnn::bindings::rle_to_dict(inst.mask);
    d["bbox"] = inst.bbox;
  } else {
    d["mask_file"] = inst.file.path;
    d["label"] = inst.file.label;
  }
  return d;
}

// The mask-file reader for this build: OpenCV's, or Python's cv2 where the core is built without it.
MaskFileReader mask_reader() {
  if (with_opencv()) return read_mask_file;
  return [](const std::string& path) {
    py::gil_scoped_acquire gil;
    return py::module_::import("mrcnn.utils").attr("_read_mask_with_cv2")(path).cast<torch::Tensor>();
  };
}

}  // namespace

void init_data(py::module_& m) {
  py::class_<AnnotationSet, SetPtr>(m, "AnnotationSet",
      "A parsed annotation file or mask folder, held in C++: image records with their instances (COCO RLEs or "
      "mask files). Datasets keep it as image_info[...]['annotations'] and the loader reads it directly.")
      .def_static("from_mask_files",
           [](const std::string& source, std::vector<std::pair<int64_t, std::string>> classes,
              const std::vector<std::tuple<std::string, std::string, std::vector<std::tuple<std::string, int64_t,
                                                                                            int64_t>>>>& images,
              std::vector<std::string> warnings) {
             AnnotationSet set;
             set.classes = std::move(classes);
             set.warnings = std::move(warnings);
             for (const auto& [id, path, files] : images) {
               ImageRecord r;
               r.id = id;
               r.path = path;
               for (const auto& [mask, label, class_id] : files) {
                 Instance inst;
                 inst.class_id = class_id;
                 inst.file = {mask, label};
                 r.instances.push_back(std::move(inst));
               }
               set.images.push_back(std::move(r));
             }
             return handle(std::move(set), source);
           },
           py::arg("source"), py::arg("classes"), py::arg("images"), py::arg("warnings") = std::vector<std::string>{},
           "A set of mask-file images: classes [(id, name)], images [(id, image path, [(mask path, label, class "
           "id)])] where label 0 takes a file's non-zero pixels, > 0 the pixels of that value, < 0 every value "
           "as an instance")
      .def(py::pickle(  // datasets travel to the processes of data-parallel training by pickle
          [](const AnnotationSet& s) {
            py::list images;
            for (const ImageRecord& r : s.images) {
              py::list instances;
              for (const Instance& i : r.instances)
                instances.append(py::make_tuple(i.class_id, i.crowd, i.mask.h, i.mask.w,
                                                py::bytes(mrcnn::codecs::rle_to_string(i.mask)), i.bbox, i.file.path,
                                                i.file.label));
              images.append(py::make_tuple(r.id, r.path, r.height, r.width, instances));
            }
            return py::make_tuple(s.source, s.classes, s.warnings, images);
          },
          [](const py::tuple& t) {
            if (t.size() != 4) throw std::invalid_argument("AnnotationSet: not a pickled annotation set");
            AnnotationSet s;
            s.source = t[0].cast<std::string>();
            s.classes = t[1].cast<decltype(s.classes)>();
            s.warnings = t[2].cast<std::vector<std::string>>();
            for (auto item : t[3].cast<py::list>()) {
              auto r = item.cast<py::tuple>();
              ImageRecord rec;
              rec.id = r[0].cast<std::string>();
              rec.path = r[1].cast<std::string>();
              rec.height = r[2].cast<int64_t>();
              rec.width = r[3].cast<int64_t>();
              for (auto x : r[4].cast<py::list>()) {
                auto i = x.cast<py::tuple>();
                Instance inst;
                inst.class_id = i[0].cast<int64_t>();
                inst.crowd = i[1].cast<bool>();
                inst.mask = mrcnn::codecs::rle_from_string(i[4].cast<std::string>(), i[2].cast<uint32_t>(),
                                                    i[3].cast<uint32_t>());
                inst.bbox = i[5].cast<std::array<double, 4>>();
                inst.file = {i[6].cast<std::string>(), i[7].cast<int64_t>()};
                rec.instances.push_back(std::move(inst));
              }
              s.images.push_back(std::move(rec));
            }
            return std::make_shared<AnnotationSet>(std::move(s));
          }))
      .def("__len__", [](const AnnotationSet& s) { return s.images.size(); })
      .def_readonly("source", &AnnotationSet::source)
      .def_readonly("classes", &AnnotationSet::classes, "(id, name) in file order")
      .def_readonly("warnings", &AnnotationSet::warnings, "what was skipped, and why")
      .def("images",
           [](const AnnotationSet& s) {
             py::list out;
             for (const ImageRecord& r : s.images) out.append(py::make_tuple(r.id, r.path, r.height, r.width));
             return out;
           },
           "[(id, path, height, width)] in record order (0: the size is read from the image)")
      .def("instance_count", [](const AnnotationSet& s, int64_t k) { return record_at(s, k).instances.size(); },
           py::arg("record"))
      .def("instances",
           [](const AnnotationSet& s, int64_t k) {
             py::list out;
             for (const Instance& inst : record_at(s, k).instances) out.append(instance_dict(inst));
             return out;
           },
           py::arg("record"),
           "The record's instances as the file gives them: class_id (the file's), iscrowd, and rle + bbox or "
           "mask_file + label")
      .def("load_mask",
           [](const SetPtr& s, int64_t k, const ClassMap& class_map, int64_t height, int64_t width) {
             const ImageRecord& r = record_at(*s, k);
             if (height <= 0 || width <= 0)
               throw py::value_error("load_mask: the image size must be positive, got " + std::to_string(height) +
                                     "x" + std::to_string(width));
             std::pair<torch::Tensor, torch::Tensor> out;
             {
               py::gil_scoped_release release;
               out = record_masks(r, height, width, record_class_ids(*s, r, class_map), mask_reader());
             }
             // Matterport's layout: bool [H, W, N] and int32 [N]
             return py::make_tuple(out.first.view(torch::kBool).permute({1, 2, 0}).contiguous(),
                                   out.second.to(torch::kInt));
           },
           py::arg("record"), py::arg("class_map"), py::arg("height"), py::arg("width"),
           "(masks bool [H, W, N], class ids int32 [N]) of a record on a height x width image, the loader's "
           "decoding; class_map is Dataset.class_from_source_map; crowds get negative ids");
  m.def("load_coco",
        [](const std::string& json_path, const std::string& image_dir, const std::string& bad_data,
           const std::string& source) {
          AnnotationSet set;
          {
            py::gil_scoped_release release;
            set = load_coco(json_path, image_dir, policy_of(bad_data));
          }
          return handle(std::move(set), source);
        },
        py::arg("json_path"), py::arg("image_dir"), py::arg("bad_data") = "skip", py::arg("source") = "coco");
  m.def("load_via",
        [](const std::string& json_path, const std::string& image_dir, const std::string& class_attribute,
           const std::string& default_class, const std::string& bad_data, const std::string& source) {
          AnnotationSet set;
          {
            py::gil_scoped_release release;
            set = load_via(json_path, image_dir, class_attribute, default_class, policy_of(bad_data));
          }
          return handle(std::move(set), source);
        },
        py::arg("json_path"), py::arg("image_dir"), py::arg("class_attribute") = "",
        py::arg("default_class") = "object", py::arg("bad_data") = "skip", py::arg("source") = "via");
  m.def("load_rle_csv",
        [](const std::string& csv_path, const std::string& image_dir, const std::string& label_json,
           const std::string& bad_data, const std::string& source) {
          AnnotationSet set;
          {
            py::gil_scoped_release release;
            set = load_rle_csv(csv_path, image_dir, label_json, policy_of(bad_data));
          }
          return handle(std::move(set), source);
        },
        py::arg("csv_path"), py::arg("image_dir"), py::arg("label_json") = "", py::arg("bad_data") = "skip",
        py::arg("source") = "csv");
  m.def("read_mask_file",
        [](const std::string& path) {
          py::gil_scoped_release release;
          return mask_reader()(path);
        },
        py::arg("path"),
        "A mask file's pixels as uint8 (8-bit files) or int32 (16-bit) [H, W] (the loader's reader): colour files give their first three channels' "
        "maximum; ValueError naming the file when it is missing, empty or not an image");
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
