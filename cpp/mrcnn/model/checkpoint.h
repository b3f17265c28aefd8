// Checkpoint files: our own (weights, Config, class names, epoch, optimizer state), written
// atomically, and plain tensor dicts saved with Python's torch.save (torchvision checkpoints).
// Both are torch's zip/pickle format: torch.load reads ours, and we read torch.save's.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

namespace mrcnn::model {

struct Checkpoint {
  std::map<std::string, torch::Tensor> weights;
  std::string config_json;
  std::vector<std::string> class_names;
  int64_t epoch = 0;
  std::map<std::string, torch::Tensor> optimizer;  // optimizer state, flattened to named tensors
  std::string extra_json = "{}";                   // anything else (metrics, versions)
};

// The "format" entry of the checkpoints written now, and the number of a format this version reads
// (0 when `format` is empty: not a checkpoint). Any other format, a later version's say, throws
// std::invalid_argument naming it and the formats read here: reading such a file as a plain
// state_dict would drop its Config, epoch and class names. Format 1 differs only in its Config's
// RPN_ANCHOR_RATIOS (height / width); load_checkpoint returns every Config in the current meaning.
extern const char* const kCheckpointFormat;
int64_t checkpoint_format_version(const std::string& format);

// Writes path atomically: a temporary file in the same directory, flushed to disk, then renamed
// over path, so an interrupted write leaves any previous file at path intact.
void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);

// Reads a file written by save_checkpoint. Throws std::invalid_argument naming the file when it is
// not one.
Checkpoint load_checkpoint(const std::string& path);

// Named tensors of a file saved with torch.save: a plain dict of tensors, a dict holding one under
// "model" / "state_dict" / "weights", or one of our checkpoints. (torch's C++ unpickler cannot
// rebuild the OrderedDict-with-metadata that Module.state_dict() returns; Python loads those.)
std::map<std::string, torch::Tensor> load_tensor_file(const std::string& path);

}  // namespace mrcnn::model
