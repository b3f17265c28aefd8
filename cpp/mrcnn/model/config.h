// The settings of the network, under Matterport's Config field names.
//
// Fields that decide the network's numerics take torchvision's values by default, so that
// torchvision checkpoints (the COCO weights among them) work unchanged; behavioural fields
// (thresholds, limits, image sizes) keep Matterport's defaults. Config::torchvision() gives
// the settings under which the model reproduces torchvision's maskrcnn_resnet50_fpn exactly.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace mrcnn::model {

struct Config {
  std::string NAME = "mrcnn";  // run name: checkpoints go to MODEL_DIR/<NAME><timestamp>/
  int64_t NUM_CLASSES = 1;     // including the background class

  // Architecture
  std::string ARCHITECTURE = "v1";  // v1: Mask R-CNN as torchvision's maskrcnn_resnet50_fpn and Matterport's
                                    // (frozen BatchNorm, no norm in the FPN and heads, a 2-FC box head);
                                    // v2: torchvision's maskrcnn_resnet50_fpn_v2 (trainable BatchNorm in the
                                    // backbone, FPN and heads, two RPN convs, a 4-conv + 1-FC box head)
  bool TRAIN_BN = false;  // v2's BatchNorm in training: false normalises with the running statistics
                          // (Matterport's TRAIN_BN = False, its default: right for small batches); true
                          // with the batch's statistics, updating the running ones (Matterport's None,
                          // torchvision's training). v1's BatchNorm is frozen either way.

  // Backbone
  std::string BACKBONE = "resnet50";  // resnet50 or resnet101 (Matterport's default is resnet101;
                                      // the COCO checkpoints users download are resnet50)
  double BACKBONE_BN_EPS = 0.0;       // frozen BatchNorm epsilon: 0 for torchvision's COCO v1 weights,
                                      // 1e-5 for ImageNet backbones and freshly built BatchNorm
  bool STRIDE_IN_1X1 = false;         // put the bottleneck's stride on the 1x1 conv (Caffe/Matterport)
                                      // instead of the 3x3 conv (torchvision)
  int64_t TOP_DOWN_PYRAMID_SIZE = 256;       // FPN channels
  int64_t FPN_CLASSIF_FC_LAYERS_SIZE = 1024;  // box head hidden size
  int64_t RPN_HEAD_CHANNELS = 0;  // channels of the RPN's shared 3x3 conv; 0: TOP_DOWN_PYRAMID_SIZE
                                  // (torchvision); Matterport's network has 512
  std::string TRAINABLE_LAYERS = "all";  // set by training; model construction ignores it
  bool CHANNELS_LAST = true;   // run the network on NHWC tensors and the box head's first layer as
                               // a convolution (faster with oneDNN and cuDNN)
  bool FOLD_FROZEN_BN = true;  // apply frozen BatchNorm through the conv weights (one pass less)
  bool CONV_WINOGRAD = true;   // 3x3 stride-1 convs on CPU through oneDNN's Winograd F(4x4, 3x3)
                               // (about 2x faster, training included; needs a build with oneDNN)
                               // All three change rounding (~1e-6 relative); off = torchvision's exact sums

  // Input images
  std::string IMAGE_RESIZE_MODE = "square";  // square | pad64 | crop | none | torchvision
  int64_t IMAGE_MIN_DIM = 800;   // shorter side is scaled up to this (torchvision: min_size)
  int64_t IMAGE_MAX_DIM = 1024;  // longer side is kept at most this (torchvision: max_size 1333)
  double IMAGE_MIN_SCALE = 0;    // minimum upscale factor (Matterport)
  int64_t IMAGE_PAD_DIVISOR = 32;  // torchvision mode: batch padded to a multiple of this
  std::array<double, 3> MEAN_PIXEL{123.7, 116.8, 103.9};     // RGB, 0..255 scale
  std::array<double, 3> PIXEL_STD{58.395, 57.12, 57.375};    // RGB, 0..255 scale (torchvision's)

  // RPN
  std::vector<double> RPN_ANCHOR_SCALES{32, 64, 128, 256, 512};  // anchor side per FPN level, pixels
  std::vector<double> RPN_ANCHOR_RATIOS{0.5, 1, 2};              // width / height (Matterport's)
  double RPN_NMS_THRESHOLD = 0.7;
  int64_t RPN_TRAIN_ANCHORS_PER_IMAGE = 256;
  double RPN_POSITIVE_RATIO = 0.5;
  double RPN_FG_IOU_THRESHOLD = 0.7, RPN_BG_IOU_THRESHOLD = 0.3;
  int64_t PRE_NMS_LIMIT = 1000;            // proposals kept before NMS, inference
  int64_t PRE_NMS_LIMIT_TRAINING = 2000;   // the same in training
  bool PRE_NMS_PER_LEVEL = true;           // true: the limits apply per FPN level and NMS runs per level
                                           // (torchvision); false: over all anchors, one NMS (Matterport)
  int64_t POST_NMS_ROIS_TRAINING = 2000;   // proposals per image after NMS
  int64_t POST_NMS_ROIS_INFERENCE = 1000;
  double RPN_MIN_SIZE = 1e-3;              // proposals smaller than this (pixels) are dropped
  std::array<double, 4> RPN_BBOX_STD_DEV{1.0, 1.0, 1.0, 1.0};  // box coding weights are 1 / std

  // RoI heads
  int64_t TRAIN_ROIS_PER_IMAGE = 200;  // sampled RoIs per image in training (torchvision: 512)
  double ROI_POSITIVE_RATIO = 0.33;    // fraction of them positive (torchvision: 0.25)
  double ROI_FG_IOU_THRESHOLD = 0.5, ROI_BG_IOU_THRESHOLD = 0.5;
  int64_t POOL_SIZE = 7;
  int64_t MASK_POOL_SIZE = 14;
  int64_t ROI_SAMPLING_RATIO = 2;
  std::array<int64_t, 2> MASK_SHAPE{28, 28};
  std::array<double, 4> BBOX_STD_DEV{0.1, 0.1, 0.2, 0.2};  // weights (10, 10, 5, 5)
  int64_t DETECTION_MAX_INSTANCES = 100;
  double DETECTION_MIN_CONFIDENCE = 0.7;
  bool DETECTION_ALL_CLASSES = false;  // false: each region keeps its highest-scoring class only, and none
                                       // when that is the background (Matterport's refine_detections);
                                       // true: every class scoring above DETECTION_MIN_CONFIDENCE
                                       // (torchvision's postprocess_detections)
  double DETECTION_NMS_THRESHOLD = 0.3;
  double DETECTION_MIN_SIZE = 1e-2;
  double DETECTION_MASK_THRESHOLD = 0.5;

  // torchvision's maskrcnn_resnet50_fpn settings: preprocessing, limits and thresholds.
  static Config torchvision(int64_t num_classes = 91);

  // Throws std::invalid_argument naming the field when a value is out of range.
  void validate() const;

  std::string to_json() const;
  // Fields missing from the JSON keep their defaults; unknown fields raise (naming them).
  static Config from_json(const std::string& json);
  // A Config saved by an earlier checkpoint format in this version's meaning: format 1 stored
  // RPN_ANCHOR_RATIOS as height / width (torchvision's); they are width / height since format 2.
  static std::string upgrade_json(const std::string& json, int64_t checkpoint_format);
};

}  // namespace mrcnn::model
