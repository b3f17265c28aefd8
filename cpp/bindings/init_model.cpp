// mrcnn._C.model: the network (construction from a Config, weights, detection, training losses).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/extension.h>

#include <stdexcept>

#include "mrcnn/model/checkpoint.h"
#include "mrcnn/model/mask_rcnn.h"
#include "mrcnn/model/weights.h"
#include "mrcnn/model/onednn.h"

namespace py = pybind11;
using mrcnn::model::Config;
using mrcnn::model::MaskRcnn;

namespace {

Config config_from(const std::string& json) {
  Config c = Config::from_json(json);
  c.validate();
  return c;
}

py::dict report_dict(const mrcnn::model::LoadReport& r) {
  py::dict d;
  d["loaded"] = r.loaded;
  d["missing"] = r.missing;
  d["unexpected"] = r.unexpected;
  d["mismatched"] = r.mismatched;
  d["excluded"] = r.excluded;
  d["renamed"] = r.renamed;
  return d;
}

// boxes, scores, labels, masks of one image (a Result or the heads' Detections)
template <typename D>
py::dict detection_dict(const D& d) {
  py::dict x;
  x["boxes"] = d.boxes;
  x["scores"] = d.scores;
  x["labels"] = d.labels;
  x["masks"] = d.masks;
  return x;
}

}  // namespace

void init_model(py::module_& m) {
  m.def("backbone_names", &mrcnn::model::backbone_names, "The names Config.BACKBONE may take");
  m.def("weights_architecture", &mrcnn::model::weights_architecture, py::arg("keys"),
        "The Config.ARCHITECTURE ('v1' or 'v2') a Mask R-CNN state_dict's keys were saved from");
  m.def("default_config", [] { return Config().to_json(); }, "The default Config as JSON");
  m.def("conv3x3",
        [](const at::Tensor& x, const at::Tensor& weight, const c10::optional<at::Tensor>& bias, bool winograd) {
          return mrcnn::model::conv3x3(x, weight, bias.value_or(at::Tensor()), winograd);
        },
        py::arg("x"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("winograd") = true,
        "3x3 stride-1 padding-1 convolution, through oneDNN's Winograd algorithm where it applies");
  m.def("linear",
        [](const at::Tensor& x, const at::Tensor& weight, const c10::optional<at::Tensor>& bias, bool onednn) {
          return mrcnn::model::linear(x, weight, bias.value_or(at::Tensor()), onednn);
        },
        py::arg("x"), py::arg("weight"), py::arg("bias") = py::none(), py::arg("onednn") = true,
        "x @ weight.T + bias, through oneDNN's matmul where it applies");
  m.def("onednn_available", &mrcnn::model::onednn_available);
  m.def("onednn_matmul_available", &mrcnn::model::onednn_matmul_available,
        "Whether linear layers use oneDNN's matmul on this CPU (else torch's product)");
  m.def("winograd_status", &mrcnn::model::winograd_status);
  m.def("torchvision_config", [](int64_t num_classes) { return Config::torchvision(num_classes).to_json(); },
        py::arg("num_classes") = 91, "Config reproducing torchvision's maskrcnn_resnet50_fpn, as JSON");
  m.def("resize_plan",
        [](const std::string& mode, int64_t h, int64_t w, int64_t min_dim, int64_t max_dim, double min_scale) {
          Config c;
          c.IMAGE_RESIZE_MODE = mode;
          c.IMAGE_MIN_DIM = min_dim;
          c.IMAGE_MAX_DIM = max_dim;
          c.IMAGE_MIN_SCALE = min_scale;
          const mrcnn::model::ResizePlan p = mrcnn::model::resize_plan(c, h, w);
          return py::make_tuple(p.scale, p.height, p.width);
        },
        py::arg("mode"), py::arg("height"), py::arg("width"), py::arg("min_dim") = 0, py::arg("max_dim") = 0,
        py::arg("min_scale") = 0.0,
        "(scale, new height, new width) of an image under IMAGE_RESIZE_MODE's rule, before padding or cropping; "
        "0 leaves min_dim / max_dim out");
  m.attr("CHECKPOINT_FORMAT") = mrcnn::model::kCheckpointFormat;
  m.def("checkpoint_format_version", &mrcnn::model::checkpoint_format_version, py::arg("format"),
        "The number of a checkpoint format this version reads, 0 for an empty one; another raises ValueError");
  m.def("upgrade_config_json", &Config::upgrade_json, py::arg("config_json"), py::arg("checkpoint_format"),
        "A checkpoint's Config JSON in the current meaning of its fields");
  m.def("validate_config", [](const std::string& json) { config_from(json); }, py::arg("config_json"));
  m.def("canonical_key", &mrcnn::model::canonical_key, py::arg("key"));
  m.def("load_tensor_file", &mrcnn::model::load_tensor_file, py::arg("path"),
        "Named tensors of a torch.save'd state_dict (or of an mrcnn checkpoint)");
  m.def("save_checkpoint",
        [](const std::string& path, MaskRcnn& model, const std::vector<std::string>& class_names, int64_t epoch,
           const std::map<std::string, torch::Tensor>& optimizer, const std::string& extra_json) {
          mrcnn::model::Checkpoint c;
          c.weights = mrcnn::model::state_dict(*model);
          c.config_json = model->config.to_json();
          c.class_names = class_names;
          c.epoch = epoch;
          c.optimizer = optimizer;
          c.extra_json = extra_json;
          py::gil_scoped_release release;
          mrcnn::model::save_checkpoint(path, c);
        },
        py::arg("path"), py::arg("model"), py::arg("class_names") = std::vector<std::string>{},
        py::arg("epoch") = 0, py::arg("optimizer") = std::map<std::string, torch::Tensor>{},
        py::arg("extra_json") = "{}", "Writes weights, Config, class names, epoch and optimizer state atomically");
  m.def("load_checkpoint",
        [](const std::string& path) {
          const mrcnn::model::Checkpoint c = mrcnn::model::load_checkpoint(path);
          py::dict d;
          d["weights"] = c.weights;
          d["config_json"] = c.config_json;
          d["class_names"] = c.class_names;
          d["epoch"] = c.epoch;
          d["optimizer"] = c.optimizer;
          d["extra_json"] = c.extra_json;
          return d;
        },
        py::arg("path"));

  py::class_<MaskRcnn>(m, "MaskRCNN")
      .def(py::init([](const std::string& json) { return MaskRcnn(config_from(json)); }), py::arg("config_json"))
      .def("config_json", [](MaskRcnn& self) { return self->config.to_json(); })
      .def("layers_pattern", [](MaskRcnn& self, const std::string& layers) { return self->layers_pattern(layers); },
           py::arg("layers"), "The regular expression Matterport's layers argument (heads, 3+, 4+, 5+, all) stands for")
      .def("matterport_layer_name", [](MaskRcnn& self, const std::string& key) { return self->matterport_layer_name(key); },
           py::arg("key"), "The Keras layer name Matterport gives the layer of parameter key, '' if none")
      .def("train", [](MaskRcnn& self, bool mode) { self->train(mode); }, py::arg("mode") = true)
      .def("eval", [](MaskRcnn& self) { self->eval(); })
      .def("is_training", [](MaskRcnn& self) { return self->is_training(); })
      .def("to", [](MaskRcnn& self, const std::string& device) { self->to(torch::Device(device)); }, py::arg("device"))
      .def("state_dict",
           [](MaskRcnn& self) {
             // An OrderedDict, as torch's Module.state_dict, whose _metadata (which torch.save keeps
             // and torch.load restores, weights_only included) names this network: load_weights then
             // reads a torch.save'd state_dict of ours with its Config instead of taking it for
             // torchvision's. torchvision's load_state_dict looks up _metadata by module prefix
             // only, so the entry does not disturb it.
             py::object out = py::module_::import("collections").attr("OrderedDict")();
             for (const auto& [key, tensor] : mrcnn::model::state_dict(*self)) out[py::str(key)] = tensor;
             py::dict mine;
             mine["format"] = mrcnn::model::kCheckpointFormat;
             mine["config"] = self->config.to_json();
             py::dict metadata;
             metadata["mrcnn"] = mine;
             out.attr("_metadata") = metadata;
             return out;
           },
           "The weights by name (torchvision's keys), as an OrderedDict whose _metadata['mrcnn'] holds the "
           "checkpoint format and the Config")
      .def("named_parameters",
           [](MaskRcnn& self) {
             std::vector<std::pair<std::string, torch::Tensor>> out;
             for (const auto& p : self->named_parameters(true)) out.emplace_back(p.key(), p.value());
             return out;
           })
      .def("load_state_dict",
           [](MaskRcnn& self, const std::map<std::string, torch::Tensor>& state, const std::vector<std::string>& exclude) {
             return report_dict(mrcnn::model::load_state_dict(*self, state, exclude));
           },
           py::arg("state"), py::arg("exclude") = std::vector<std::string>{})
      .def("load_weights_file",
           [](MaskRcnn& self, const std::string& path, const std::vector<std::string>& exclude) {
             return report_dict(mrcnn::model::load_state_dict(*self, mrcnn::model::load_tensor_file(path), exclude));
           },
           py::arg("path"), py::arg("exclude") = std::vector<std::string>{},
           "Loads a torchvision checkpoint, an ImageNet ResNet or an mrcnn checkpoint by name")
      .def("detect",
           [](MaskRcnn& self, const std::vector<torch::Tensor>& images, double mask_threshold) {
             std::vector<mrcnn::model::Result> results;
             {
               py::gil_scoped_release release;
               results = self->detect(images, mask_threshold);
             }
             py::list out;
             for (const auto& r : results) out.append(detection_dict(r));
             return out;
           },
           py::arg("images"), py::arg("mask_threshold") = -1.0,
           "images: float [3, H, W] in [0, 1] or uint8; returns per image boxes (x1, y1, x2, y2), scores, "
           "labels and masks [K, H, W] (bool when mask_threshold >= 0, else probabilities)")
      .def("anchors",
           [](MaskRcnn& self, std::pair<int64_t, int64_t> image_size,
              const std::vector<std::pair<int64_t, int64_t>>& feature_sizes) {
             // the RPN's anchors for a padded input of image_size and FPN maps of feature_sizes
             // (P2..P6): only the sizes matter, so the tensors carry no channels
             const auto f32 = torch::TensorOptions().dtype(torch::kFloat);
             std::vector<torch::Tensor> features;
             for (const auto& [h, w] : feature_sizes) features.push_back(torch::empty({1, 0, h, w}, f32));
             return self->rpn->anchors(torch::empty({1, 0, image_size.first, image_size.second}, f32), features);
           },
           py::arg("image_size"), py::arg("feature_sizes"),
           "The RPN's anchors (x1, y1, x2, y2) in pixels, level by level, cell by cell, RPN_ANCHOR_RATIOS order")
      .def("stages",
           [](MaskRcnn& self, const std::vector<torch::Tensor>& images) {
             mrcnn::model::InferenceTrace t;
             {
               py::gil_scoped_release release;
               self->eval();  // inference stages: the network in inference mode
               t = self->trace(images);
             }
             py::dict out, times;
             for (const auto& [stage, s] : t.seconds) times[stage.c_str()] = s;
             out["images"] = t.batch.tensor;
             out["image_sizes"] = t.batch.sizes;
             out["features"] = t.features;
             out["proposals"] = t.proposals;
             py::list dets;
             for (const auto& d : t.detections) dets.append(detection_dict(d));
             out["detections"] = dets;
             out["times"] = times;
             return out;
           },
           py::arg("images"), "Inference stage by stage: each stage's output and wall time (seconds)")
      .def("losses",
           [](MaskRcnn& self, const std::vector<torch::Tensor>& images, const std::vector<py::dict>& targets) {
             std::vector<mrcnn::model::Target> t;
             for (size_t i = 0; i < targets.size(); ++i) {
               const py::dict& d = targets[i];
               for (const char* k : {"boxes", "labels", "masks"})
                 if (!d.contains(k)) throw py::value_error("losses: target " + std::to_string(i) + " has no '" + k + "'");
               t.push_back({d["boxes"].cast<torch::Tensor>(), d["labels"].cast<torch::Tensor>(),
                            d["masks"].cast<torch::Tensor>()});
             }
             std::map<std::string, torch::Tensor> losses;
             {
               py::gil_scoped_release release;
               losses = self->losses(images, t);
             }
             return losses;
           },
           py::arg("images"), py::arg("targets"),
           "Training losses; targets: dicts with boxes [G, 4] (x1, y1, x2, y2), labels [G], masks [G, H, W]");
}
