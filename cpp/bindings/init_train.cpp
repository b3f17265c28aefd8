// mrcnn._C.train: the prefetching data loader (built-in C++ datasets or Python Dataset objects)
// and the training loop.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/extension.h>

#include <cstring>
#include <optional>
#include <stdexcept>

#include "mrcnn/data/loader.h"
#include "mrcnn/model/mask_rcnn.h"
#include "mrcnn/model/weights.h"
#include "mrcnn/train/trainer.h"
#include "options.h"

namespace py = pybind11;
using namespace mrcnn;

namespace {

// uint8 [H, W, 3] from whatever load_image returned (grayscale replicated, alpha dropped)
torch::Tensor image_from_numpy(const py::handle& obj) {
  auto a = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>::ensure(obj);
  if (!a) throw std::invalid_argument("load_image must return a numpy array");
  if (a.ndim() == 2) {
    torch::Tensor g = torch::from_blob(a.mutable_data(), {a.shape(0), a.shape(1), 1}, torch::kByte);
    return g.expand({a.shape(0), a.shape(1), 3}).contiguous();
  }
  if (a.ndim() != 3 || (a.shape(2) != 3 && a.shape(2) != 4 && a.shape(2) != 1))
    throw std::invalid_argument("load_image must return [H, W, 3] (or grayscale / RGBA), got ndim " +
                                std::to_string(a.ndim()));
  torch::Tensor t = torch::from_blob(a.mutable_data(), {a.shape(0), a.shape(1), a.shape(2)}, torch::kByte);
  if (a.shape(2) == 1) return t.expand({a.shape(0), a.shape(1), 3}).contiguous();
  return t.narrow(2, 0, 3).clone().contiguous();
}

// uint8 [N, H, W] from load_mask's [H, W, N]
torch::Tensor masks_from_numpy(const py::handle& obj, const std::string& call) {
  auto a = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>::ensure(obj);
  if (!a || a.ndim() != 3) throw std::invalid_argument(call + " must return masks of shape [H, W, N]");
  return torch::from_blob(a.mutable_data(), {a.shape(0), a.shape(1), a.shape(2)}, torch::kByte)
      .permute({2, 0, 1})
      .ne(0)
      .to(torch::kByte)
      .contiguous();
}

py::array masks_to_numpy(const torch::Tensor& masks) {  // [N, H, W] -> bool [H, W, N], no copy
  // The sample's 0/1 bytes are viewed as bool and transposed as a view (Matterport's layout);
  // the capsule keeps the tensor's memory alive as long as the array.
  auto* owner = new torch::Tensor(masks.to(torch::kByte).contiguous());
  py::capsule keep(owner, [](void* p) { delete static_cast<torch::Tensor*>(p); });
  const py::array_t<bool> nhw({owner->size(0), owner->size(1), owner->size(2)},
                              reinterpret_cast<const bool*>(owner->data_ptr<uint8_t>()), keep);
  return nhw.attr("transpose")(1, 2, 0);
}

py::array image_to_numpy(const torch::Tensor& image) {  // uint8 [H, W, 3] sharing the tensor's memory
  auto* owner = new torch::Tensor(image.contiguous());
  py::capsule keep(owner, [](void* p) { delete static_cast<torch::Tensor*>(p); });
  return py::array_t<uint8_t>({owner->size(0), owner->size(1), owner->size(2)}, owner->data_ptr<uint8_t>(), keep);
}

// A Python Dataset (Matterport's API): load_image / load_mask called back with the GIL held.
class PythonSource : public data::SampleSource {
 public:
  PythonSource(py::object dataset, std::vector<int64_t> image_ids)
      : dataset_(std::move(dataset)), ids_(std::move(image_ids)),
        as_rgb_uint8_(py::module_::import("mrcnn.utils").attr("as_rgb_uint8")) {}
  ~PythonSource() override {
    py::gil_scoped_acquire gil;
    dataset_ = py::object();
    as_rgb_uint8_ = py::object();
  }
  int64_t size() const override { return static_cast<int64_t>(ids_.size()); }
  data::Sample load(int64_t index) override {
    py::gil_scoped_acquire gil;
    try {
      const int64_t id = ids_.at(static_cast<size_t>(index));
      data::Sample s;
      // the pixel rule detect applies too (mrcnn.utils.as_rgb_uint8): uint16, floats, NaN, grayscale
      s.image = image_from_numpy(
          as_rgb_uint8_(dataset_.attr("load_image")(id), "load_image(" + std::to_string(id) + ")"));
      const std::string call = "load_mask(" + std::to_string(id) + ")";
      const py::object mk = dataset_.attr("load_mask")(id);
      if (!(py::isinstance<py::tuple>(mk) || py::isinstance<py::list>(mk)) || py::len(mk) != 2)
        throw std::invalid_argument(call + " must return (masks [H, W, N], class_ids [N]), got " +
                                    std::string(py::str(mk.get_type().attr("__name__"))));
      s.masks = masks_from_numpy(mk[py::int_(0)], call);
      auto ids = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(mk[py::int_(1)]);
      if (!ids || ids.ndim() != 1) throw std::invalid_argument(call + ": class_ids must be a 1-D integer array");
      s.class_ids = torch::from_blob(ids.mutable_data(), {static_cast<int64_t>(ids.size())}, torch::kLong).clone();
      if (s.masks.size(0) == 0) s.masks = torch::zeros({0, s.image.size(0), s.image.size(1)}, torch::kByte);
      if (s.masks.size(1) != s.image.size(0) || s.masks.size(2) != s.image.size(1))
        throw std::invalid_argument(call + " gave masks of " + std::to_string(s.masks.size(1)) + "x" +
                                    std::to_string(s.masks.size(2)) + " (H x W) for an image of " +
                                    std::to_string(s.image.size(0)) + "x" + std::to_string(s.image.size(1)));
      if (s.masks.size(0) != s.class_ids.size(0))
        throw std::invalid_argument(call + " gave " + std::to_string(s.masks.size(0)) + " masks but " +
                                    std::to_string(s.class_ids.size(0)) + " class ids");
      return s;
    } catch (py::error_already_set& e) {
      throw std::runtime_error(e.what());  // the message, without keeping Python objects alive
    }
  }
  std::string reference(int64_t index) const override {
    py::gil_scoped_acquire gil;
    try {
      if (index < 0 || index >= size()) return "#" + std::to_string(index);
      const int64_t id = ids_[static_cast<size_t>(index)];
      std::string ref = py::str(dataset_.attr("image_reference")(id));
      return ref.empty() ? "image_id " + std::to_string(id) : ref;
    } catch (py::error_already_set&) {
      return "image_id " + std::to_string(ids_[static_cast<size_t>(index)]);
    }
  }

 private:
  py::object dataset_;
  std::vector<int64_t> ids_;
  py::object as_rgb_uint8_;
};

py::dict sample_dict(const data::Sample& s) {
  py::dict d;
  d["image"] = image_to_numpy(s.image);
  d["masks"] = masks_to_numpy(s.masks);
  d["class_ids"] = s.class_ids;
  d["boxes"] = s.boxes;
  return d;
}

}  // namespace

void init_train(py::module_& m) {
  using bindings::OptionsClass;
  OptionsClass<data::AugmentOptions>(m, "AugmentOptions",
      "Native augmentation in the loader's workers, image and masks together (each off by default)")
      .field("fliplr", &data::AugmentOptions::fliplr, "probability of a left-right flip")
      .field("flipud", &data::AugmentOptions::flipud, "probability of an up-down flip")
      .field("rot90", &data::AugmentOptions::rot90, "probability of a rotation by 90, 180 or 270 degrees")
      .field("scale_min", &data::AugmentOptions::scale_min, "the resize scale is multiplied by a uniform factor "
                                                            "in [scale_min, scale_max]")
      .field("scale_max", &data::AugmentOptions::scale_max, "see scale_min")
      .field("crop", &data::AugmentOptions::crop, "a random crop keeps at least this fraction of each side (1: none)")
      .field("brightness", &data::AugmentOptions::brightness, "adds a uniform delta in [-b, b] * 255")
      .field("contrast", &data::AugmentOptions::contrast, "scales around the mean by a factor in [1 - c, 1 + c]")
      .field("saturation", &data::AugmentOptions::saturation, "scales the chroma by a factor in [1 - s, 1 + s]")
      .field("hue", &data::AugmentOptions::hue, "rotates the hue by an angle in [-h, h] degrees")
      .field("blur", &data::AugmentOptions::blur, "probability of a Gaussian blur")
      .field("blur_sigma", &data::AugmentOptions::blur_sigma, "the blur's sigma is uniform in [0.3, blur_sigma]")
      .cls()
      .def("validate", &data::AugmentOptions::validate, "Raises ValueError naming a field out of range")
      .def("any", &data::AugmentOptions::any, "Whether any augmentation is on");
  OptionsClass<data::LoaderOptions>(m, "LoaderOptions", "How the loader batches, shuffles and prepares samples")
      .field("batch_size", &data::LoaderOptions::batch_size, "images per batch")
      .field("shuffle", &data::LoaderOptions::shuffle, "a new order every epoch (seeded)")
      .field("seed", &data::LoaderOptions::seed, "seed of the order and of the augmentation")
      .field("workers", &data::LoaderOptions::workers, "worker threads (0: samples prepared in the caller)")
      .field("prefetch", &data::LoaderOptions::prefetch, "batches prepared ahead per worker")
      .field("resize", &data::LoaderOptions::resize, "resize to the network's input size (Config)")
      .field("augment", &data::LoaderOptions::augment, "AugmentOptions")
      .field("skip_bad", &data::LoaderOptions::skip_bad, "a sample that fails to load is reported and skipped "
                                                         "(False: the first one raises)")
      .field("skip_empty", &data::LoaderOptions::skip_empty, "skip images with no instance left")
      .field("rank", &data::LoaderOptions::rank, "data-parallel: this process's rank (its share of the samples)")
      .field("processes", &data::LoaderOptions::processes, "data-parallel: the number of processes");
  OptionsClass<train::TrainOptions>(m, "TrainOptions", "The training loop's settings")
      .field("learning_rate", &train::TrainOptions::learning_rate, "SGD's learning rate")
      .field("momentum", &train::TrainOptions::momentum, "SGD's momentum")
      .field("weight_decay", &train::TrainOptions::weight_decay, "L2 weight decay")
      .field("clip_norm", &train::TrainOptions::clip_norm, "gradient norm clipping (<= 0: none)")
      .field("warmup_steps", &train::TrainOptions::warmup_steps, "linear warm-up steps")
      .field("warmup_factor", &train::TrainOptions::warmup_factor, "the warm-up starts at this times the rate")
      .field("schedule", &train::TrainOptions::schedule, "constant, step or cosine")
      .field("step_epochs", &train::TrainOptions::step_epochs, "step schedule: epochs where the rate drops")
      .field("step_gamma", &train::TrainOptions::step_gamma, "step schedule: the factor it drops by")
      .field("loss_weights", &train::TrainOptions::loss_weights, "by Matterport's loss names; missing: 1")
      .field("layers", &train::TrainOptions::layers, "heads, 3+, 4+, 5+, all or a regular expression")
      .field("steps_per_epoch", &train::TrainOptions::steps_per_epoch, "training steps per epoch")
      .field("validation_steps", &train::TrainOptions::validation_steps, "validation steps per epoch")
      .field("log_dir", &train::TrainOptions::log_dir, "checkpoints and metrics.jsonl ('': none written)")
      .field("checkpoint_prefix", &train::TrainOptions::checkpoint_prefix, "files <prefix>_<epoch:04d>.pt")
      .field("deterministic", &train::TrainOptions::deterministic, "reseed torch from (seed, step) every step")
      .field("mixed_precision", &train::TrainOptions::mixed_precision, "off, bf16 or fp16 (CUDA)")
      .field("loss_scale", &train::TrainOptions::loss_scale, "dynamic loss scaling's start (0: off)")
      .field("loss_scale_growth_interval", &train::TrainOptions::loss_scale_growth_interval,
             "good steps before the loss scale doubles")
      .field("seed", &train::TrainOptions::seed, "seed of the deterministic mode")
      .field("class_names", &train::TrainOptions::class_names, "stored in checkpoints")
      .field("last_checkpoint", &train::TrainOptions::last_checkpoint, "the checkpoint training starts from")
      .cls()
      .def("validate", &train::TrainOptions::validate, "Raises ValueError naming a field out of range");

  py::class_<data::Loader, std::shared_ptr<data::Loader>>(m, "Loader",
      "Prefetching loader: worker threads load, resize, augment and build targets")
      .def(py::init([](py::object dataset, std::vector<int64_t> image_ids,
                       std::optional<std::vector<std::pair<std::shared_ptr<data::AnnotationSet>, int64_t>>> records,
                       const data::ClassMap& class_map, const std::string& config_json,
                       const data::LoaderOptions& o, py::object hook) {
             model::Config config = model::Config::from_json(config_json);
             config.validate();
             o.augment.validate();
             std::shared_ptr<data::SampleSource> source;
             if (records) {  // a built-in dataset: its images' (annotation set, record), read in C++
               if (records->size() != image_ids.size())
                 throw std::invalid_argument("Loader: " + std::to_string(records->size()) + " records for " +
                                             std::to_string(image_ids.size()) + " images");
               source = std::make_shared<data::AnnotatedSource>(
                   std::vector<data::AnnotatedSource::Entry>(records->begin(), records->end()), class_map);
             } else {
               source = std::make_shared<PythonSource>(dataset, image_ids);
             }
             data::SampleHook h;
             if (!hook.is_none()) {
               auto fn = std::make_shared<py::object>(hook);
               h = [fn](data::Sample& s, uint64_t seed) {
                 py::gil_scoped_acquire gil;
                 try {
                   py::tuple r = (*fn)(image_to_numpy(s.image), masks_to_numpy(s.masks), seed);
                   s.image = image_from_numpy(r[0]);
                   torch::Tensor masks = masks_from_numpy(r[1], "the augmentation");
                   if (masks.size(0) != s.masks.size(0))
                     throw std::invalid_argument("the augmentation changed the number of masks");
                   s.masks = masks.size(0) ? masks : torch::zeros({0, s.image.size(0), s.image.size(1)}, torch::kByte);
                 } catch (py::error_already_set& e) {
                   throw std::runtime_error(std::string("augmentation: ") + e.what());
                 }
               };
               // the hook's Python object must die with the GIL held
               auto holder = std::shared_ptr<void>(nullptr, [fn](void*) mutable {
                 py::gil_scoped_acquire gil;
                 *fn = py::object();
               });
               h = [h, holder](data::Sample& s, uint64_t seed) { h(s, seed); };
             }
             std::shared_ptr<data::Loader> loader;
             {
               py::gil_scoped_release release;
               // released on destruction too: workers may be waiting for the GIL to call Python
               loader = std::shared_ptr<data::Loader>(new data::Loader(source, config, o, h), [](data::Loader* l) {
                 py::gil_scoped_release unlock;
                 delete l;
               });
             }
             return loader;
           }),
           py::arg("dataset"), py::arg("image_ids"), py::arg("records"), py::arg("class_map"),
           py::arg("config_json"), py::arg("options"), py::arg("hook") = py::none(),
           "records: None (load_image / load_mask called on the dataset) or, for each image, the (AnnotationSet, "
           "record index) read in C++ with class_map (Dataset.class_from_source_map)")
      .def("next_batch",
           [](data::Loader& self) {
             std::vector<data::Sample> batch;
             {
               py::gil_scoped_release release;
               batch = self.next_batch();
             }
             py::list out;
             for (const auto& s : batch) out.append(sample_dict(s));
             return out;
           })
      .def("prepare",
           [](data::Loader& self, int64_t k) {
             data::Sample s;
             {
               py::gil_scoped_release release;
               s = self.prepare(k);
             }
             return sample_dict(s);
           },
           py::arg("position"), "The sample at stream position k, computed now (no prefetch, no skipping)")
      .def("image_index", &data::Loader::image_index, py::arg("position"))
      .def_property_readonly("position", &data::Loader::position)
      .def("seek", [](data::Loader& self, int64_t p) {
        py::gil_scoped_release release;
        self.seek(p);
      })
      .def_property_readonly("skipped_bad", &data::Loader::skipped_bad)
      .def_property_readonly("skipped_empty", &data::Loader::skipped_empty)
      .def("take_warnings", &data::Loader::take_warnings)
      .def_property_readonly("dataset_size", &data::Loader::dataset_size);

  py::register_exception<train::NonFiniteLoss>(m, "NonFiniteLoss", PyExc_FloatingPointError);
  m.def("loss_names", [] { return train::loss_names(); });

  py::class_<train::Trainer>(m, "Trainer")
      .def(py::init([](model::MaskRcnn model, const train::TrainOptions& o) {
             return train::Trainer(model, o);
           }),
           py::arg("model"), py::arg("options"))
      .def("fit",
           [](train::Trainer& self, data::Loader& train_loader, data::Loader* val_loader, int64_t from_epoch,
              int64_t to_epoch, py::object on_step, py::object on_epoch, py::object on_batch) {
             train::Callbacks cb;
             if (!on_batch.is_none())
               cb.on_batch = [on_batch](int64_t e, int64_t s) {
                 py::gil_scoped_acquire gil;
                 on_batch(e, s);
               };
             if (!on_step.is_none())
               cb.on_step = [on_step](int64_t e, int64_t s, const std::map<std::string, double>& m) {
                 py::gil_scoped_acquire gil;
                 py::object r = on_step(e, s, m);
                 return r.is_none() || r.cast<bool>();
               };
             if (!on_epoch.is_none())
               cb.on_epoch = [on_epoch](int64_t e, const std::map<std::string, double>& m, const std::string& path) {
                 py::gil_scoped_acquire gil;
                 py::object r = on_epoch(e, m, path);
                 return r.is_none() || r.cast<bool>();
               };
             train::FitResult r;
             {
               py::gil_scoped_release release;
               r = self.fit(train_loader, val_loader, from_epoch, to_epoch, cb);
             }
             py::dict out;
             out["epoch"] = r.epoch;
             out["interrupted"] = r.interrupted;
             out["last_checkpoint"] = r.last_checkpoint;
             out["history"] = r.history;
             return out;
           },
           py::arg("train"), py::arg("val"), py::arg("from_epoch"), py::arg("to_epoch"),
           py::arg("on_step") = py::none(), py::arg("on_epoch") = py::none(), py::arg("on_batch") = py::none())
      .def("step",
           [](train::Trainer& self, data::Loader& loader) {
             py::gil_scoped_release release;
             return self.step(loader.next_batch());
           })
      .def("distribute",
           [](train::Trainer& self, c10::intrusive_ptr<c10d::ProcessGroup> group) {
             py::gil_scoped_release release;
             self.distribute(std::move(group));
           },
           py::arg("group"),
           "Data-parallel training over a torch.distributed process group (call on every process before fit)")
      .def_property_readonly("rank", &train::Trainer::rank)
      .def_property_readonly("processes", &train::Trainer::processes)
      .def("optimizer_state", &train::Trainer::optimizer_state)
      .def("load_optimizer_state", &train::Trainer::load_optimizer_state, py::arg("state"))
      .def_property_readonly("global_step", &train::Trainer::global_step)
      .def("learning_rate_at", &train::Trainer::learning_rate_at, py::arg("step"), py::arg("total_steps"))
      .def_property_readonly("trainable", &train::Trainer::trainable);
}
