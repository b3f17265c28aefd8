#include "mrcnn/model/config.h"

#include <algorithm>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>

#include "mrcnn/codecs/json_reader.h"
#include "mrcnn/model/backbone.h"
#include "mrcnn/codecs/json_writer.h"

namespace mrcnn::model {

namespace {

[[noreturn]] void bad(const std::string& field, const std::string& why) {
  throw std::invalid_argument("Config." + field + ": " + why);
}

// Every field once: (name, member).
#define MRCNN_CONFIG_FIELDS(X)                                                                              \
  X(NAME) X(NUM_CLASSES) X(ARCHITECTURE) X(TRAIN_BN) X(BACKBONE) X(BACKBONE_BN_EPS) X(STRIDE_IN_1X1) X(TOP_DOWN_PYRAMID_SIZE)           \
  X(FPN_CLASSIF_FC_LAYERS_SIZE) X(RPN_HEAD_CHANNELS) X(TRAINABLE_LAYERS) X(CHANNELS_LAST) X(FOLD_FROZEN_BN) X(CONV_WINOGRAD) X(IMAGE_RESIZE_MODE) X(IMAGE_MIN_DIM) X(IMAGE_MAX_DIM) \
  X(IMAGE_MIN_SCALE) X(IMAGE_PAD_DIVISOR) X(MEAN_PIXEL) X(PIXEL_STD) X(RPN_ANCHOR_SCALES)                  \
  X(RPN_ANCHOR_RATIOS) X(RPN_NMS_THRESHOLD) X(RPN_TRAIN_ANCHORS_PER_IMAGE) X(RPN_POSITIVE_RATIO)           \
  X(RPN_FG_IOU_THRESHOLD) X(RPN_BG_IOU_THRESHOLD) X(PRE_NMS_LIMIT) X(PRE_NMS_LIMIT_TRAINING) X(PRE_NMS_PER_LEVEL) \
  X(POST_NMS_ROIS_TRAINING) X(POST_NMS_ROIS_INFERENCE) X(RPN_MIN_SIZE) X(RPN_BBOX_STD_DEV)                 \
  X(TRAIN_ROIS_PER_IMAGE) X(ROI_POSITIVE_RATIO) X(ROI_FG_IOU_THRESHOLD) X(ROI_BG_IOU_THRESHOLD) X(POOL_SIZE) \
  X(MASK_POOL_SIZE) X(ROI_SAMPLING_RATIO) X(MASK_SHAPE) X(BBOX_STD_DEV) X(DETECTION_MAX_INSTANCES)          \
  X(DETECTION_MIN_CONFIDENCE) X(DETECTION_ALL_CLASSES) X(DETECTION_NMS_THRESHOLD) X(DETECTION_MIN_SIZE) X(DETECTION_MASK_THRESHOLD)

}  // namespace

Config Config::torchvision(int64_t num_classes) {
  Config c;
  c.NUM_CLASSES = num_classes;
  c.IMAGE_RESIZE_MODE = "torchvision";
  c.IMAGE_MIN_DIM = 800;
  c.IMAGE_MAX_DIM = 1333;
  c.RPN_ANCHOR_RATIOS = {2, 1, 0.5};  // torchvision's height/width 0.5, 1, 2, in its channel order
  c.MEAN_PIXEL = {0.485 * 255, 0.456 * 255, 0.406 * 255};
  c.PIXEL_STD = {0.229 * 255, 0.224 * 255, 0.225 * 255};
  c.PRE_NMS_LIMIT = 1000;
  c.PRE_NMS_LIMIT_TRAINING = 2000;
  c.PRE_NMS_PER_LEVEL = true;
  c.POST_NMS_ROIS_INFERENCE = 1000;
  c.POST_NMS_ROIS_TRAINING = 2000;
  c.TRAIN_ROIS_PER_IMAGE = 512;
  c.ROI_POSITIVE_RATIO = 0.25;
  c.DETECTION_MIN_CONFIDENCE = 0.05;
  c.DETECTION_ALL_CLASSES = true;
  c.DETECTION_NMS_THRESHOLD = 0.5;
  c.DETECTION_MAX_INSTANCES = 100;
  return c;
}

void Config::validate() const {
  // NAME names the run's folder under MODEL_DIR and its checkpoints: one path component, always
  if (NAME.find_first_of(std::string("/\\\0", 3)) != std::string::npos || NAME == "." || NAME == "..")
    bad("NAME", "names the run's folder inside MODEL_DIR, so it must not contain '/' or '\\' or be '.' or '..'; "
                "got '" + NAME + "'");
  if (NUM_CLASSES < 2) bad("NUM_CLASSES", "needs the background and at least one class, got " + std::to_string(NUM_CLASSES));
  if (ARCHITECTURE != "v1" && ARCHITECTURE != "v2")
    bad("ARCHITECTURE", "must be 'v1' (maskrcnn_resnet50_fpn) or 'v2' (maskrcnn_resnet50_fpn_v2), got '" +
                            ARCHITECTURE + "'");
  {
    const std::vector<std::string> names = backbone_names();
    if (std::find(names.begin(), names.end(), BACKBONE) == names.end()) {
      std::string known;
      for (const auto& n : names) known += (known.empty() ? "'" : ", '") + n + "'";
      bad("BACKBONE", "must be one of " + known + ", got '" + BACKBONE + "'");
    }
  }
  static const std::set<std::string> modes{"square", "pad64", "crop", "none", "torchvision"};
  if (!modes.count(IMAGE_RESIZE_MODE))
    bad("IMAGE_RESIZE_MODE", "must be one of square, pad64, crop, none, torchvision; got '" + IMAGE_RESIZE_MODE + "'");
  if (IMAGE_MIN_DIM <= 0 || IMAGE_MAX_DIM < IMAGE_MIN_DIM)
    bad("IMAGE_MAX_DIM", "need 0 < IMAGE_MIN_DIM <= IMAGE_MAX_DIM, got " + std::to_string(IMAGE_MIN_DIM) + " and " +
                             std::to_string(IMAGE_MAX_DIM));
  // one 256-channel float map at stride 4 of a 16384 x 16384 input is already 17 GB: beyond that a
  // value is a typo, which would otherwise surface as an allocation error naming no field
  constexpr int64_t kMaxSide = 16384;
  if (IMAGE_MAX_DIM > kMaxSide)
    bad("IMAGE_MAX_DIM", "must be at most " + std::to_string(kMaxSide) + " pixels, got " + std::to_string(IMAGE_MAX_DIM));
  if (IMAGE_RESIZE_MODE == "square" || IMAGE_RESIZE_MODE == "pad64")
    if (IMAGE_MAX_DIM % 64 != 0)
      bad("IMAGE_MAX_DIM", "must be a multiple of 64 in mode " + IMAGE_RESIZE_MODE + ", got " + std::to_string(IMAGE_MAX_DIM));
  for (double s : PIXEL_STD)
    if (!(s > 0)) bad("PIXEL_STD", "values must be positive");
  if (RPN_ANCHOR_SCALES.size() != 5) bad("RPN_ANCHOR_SCALES", "needs one size per FPN level P2-P6 (5 values)");
  if (RPN_ANCHOR_RATIOS.empty()) bad("RPN_ANCHOR_RATIOS", "must not be empty");
  for (double r : RPN_ANCHOR_RATIOS)
    if (!(r > 0)) bad("RPN_ANCHOR_RATIOS", "values must be positive");
  auto unit = [](const char* f, double v) {
    if (!(v >= 0 && v <= 1)) bad(f, "must be in [0, 1], got " + std::to_string(v));
  };
  unit("RPN_NMS_THRESHOLD", RPN_NMS_THRESHOLD);
  unit("DETECTION_NMS_THRESHOLD", DETECTION_NMS_THRESHOLD);
  unit("DETECTION_MIN_CONFIDENCE", DETECTION_MIN_CONFIDENCE);
  unit("ROI_POSITIVE_RATIO", ROI_POSITIVE_RATIO);
  unit("RPN_POSITIVE_RATIO", RPN_POSITIVE_RATIO);
  unit("DETECTION_MASK_THRESHOLD", DETECTION_MASK_THRESHOLD);
  auto positive = [](const char* f, int64_t v) {
    if (v <= 0) bad(f, "must be positive, got " + std::to_string(v));
  };
  positive("PRE_NMS_LIMIT", PRE_NMS_LIMIT);
  positive("PRE_NMS_LIMIT_TRAINING", PRE_NMS_LIMIT_TRAINING);
  positive("POST_NMS_ROIS_TRAINING", POST_NMS_ROIS_TRAINING);
  positive("POST_NMS_ROIS_INFERENCE", POST_NMS_ROIS_INFERENCE);
  positive("TRAIN_ROIS_PER_IMAGE", TRAIN_ROIS_PER_IMAGE);
  positive("RPN_TRAIN_ANCHORS_PER_IMAGE", RPN_TRAIN_ANCHORS_PER_IMAGE);
  positive("POOL_SIZE", POOL_SIZE);
  positive("MASK_POOL_SIZE", MASK_POOL_SIZE);
  positive("DETECTION_MAX_INSTANCES", DETECTION_MAX_INSTANCES);
  positive("TOP_DOWN_PYRAMID_SIZE", TOP_DOWN_PYRAMID_SIZE);
  positive("FPN_CLASSIF_FC_LAYERS_SIZE", FPN_CLASSIF_FC_LAYERS_SIZE);
  if (RPN_HEAD_CHANNELS < 0) bad("RPN_HEAD_CHANNELS", "must be 0 (the FPN's channels) or positive");
  if (MASK_SHAPE[0] != 2 * MASK_POOL_SIZE || MASK_SHAPE[1] != 2 * MASK_POOL_SIZE)
    bad("MASK_SHAPE", "must be twice MASK_POOL_SIZE (the mask head upsamples by 2)");
  for (double s : RPN_BBOX_STD_DEV)
    if (!(s > 0)) bad("RPN_BBOX_STD_DEV", "values must be positive");
  for (double s : BBOX_STD_DEV)
    if (!(s > 0)) bad("BBOX_STD_DEV", "values must be positive");
  if (BACKBONE_BN_EPS < 0) bad("BACKBONE_BN_EPS", "must not be negative");
}

std::string Config::to_json() const {
  codecs::JsonObjectWriter j;
#define MRCNN_TO_JSON(f) j.add(#f, f);
  MRCNN_CONFIG_FIELDS(MRCNN_TO_JSON)
#undef MRCNN_TO_JSON
  return j.str();
}

namespace {

// A Config field from its JSON value: the same type, and for fixed-size lists the same length.
void read_value(const codecs::JsonValue& v, bool& out) { out = v.boolean(); }
void read_value(const codecs::JsonValue& v, int64_t& out) { out = v.integer(); }
void read_value(const codecs::JsonValue& v, double& out) { out = v.number(); }
void read_value(const codecs::JsonValue& v, std::string& out) { out = std::string(v.string()); }
template <class T>
void read_value(const codecs::JsonValue& v, std::vector<T>& out) {
  if (!v.is_array()) throw std::invalid_argument(std::string("expected a list, got ") + v.type_name());
  out.resize(v.size());
  for (size_t i = 0; i < out.size(); ++i) read_value(v[i], out[i]);
}
template <class T, size_t N>
void read_value(const codecs::JsonValue& v, std::array<T, N>& out) {
  if (!v.is_array() || v.size() != N)
    throw std::invalid_argument("expected a list of " + std::to_string(N) + " values, got " +
                                (v.is_array() ? std::to_string(v.size()) + " values" : std::string(v.type_name())));
  for (size_t i = 0; i < N; ++i) read_value(v[i], out[i]);
}

// The text of a Config as JSON, which must be an object.
codecs::JsonText parse_config_json(std::string text) {
  codecs::JsonText parsed(std::move(text), "Config");
  if (!parsed.root().is_object()) throw std::invalid_argument("Config: expected a JSON object");
  return parsed;
}

}  // namespace

Config Config::from_json(const std::string& text) {
  const codecs::JsonText parsed = parse_config_json(text);
  const codecs::JsonValue j = parsed.root();
  Config c;
  std::set<std::string, std::less<>> known;
#define MRCNN_FROM_JSON(f)                                                                     \
  known.insert(#f);                                                                            \
  if (const auto v = j.find(#f)) {                                                             \
    try {                                                                                      \
      read_value(*v, c.f);                                                                     \
    } catch (const std::invalid_argument& e) {                                                 \
      bad(#f, std::string("has the wrong type or length (") + e.what() + ")");                 \
    }                                                                                          \
  }
  MRCNN_CONFIG_FIELDS(MRCNN_FROM_JSON)
#undef MRCNN_FROM_JSON
  for (size_t i = 0; i < j.size(); ++i)
    if (!known.count(j.key(i))) bad(std::string(j.key(i)), "is not a field of the network's configuration");
  return c;
}

std::string Config::upgrade_json(const std::string& text, int64_t checkpoint_format) {
  if (checkpoint_format >= 2) return text;
  const codecs::JsonText parsed = parse_config_json(text);
  const codecs::JsonValue j = parsed.root();
  codecs::JsonObjectWriter out;
  for (size_t i = 0; i < j.size(); ++i) {
    const codecs::JsonValue v = j[i];
    if (j.key(i) == "RPN_ANCHOR_RATIOS" && v.is_array()) {
      std::vector<double> ratios;  // format 1 stored height / width: same anchors, same order
      for (size_t k = 0; k < v.size(); ++k) ratios.push_back(v[k].is_number() && v[k].number() > 0 ? 1.0 / v[k].number() : 0.0);
      out.add(j.key(i), ratios);
    } else {
      out.add_json(j.key(i), v.dump(std::string::npos));
    }
  }
  return out.str();
}

}  // namespace mrcnn::model
