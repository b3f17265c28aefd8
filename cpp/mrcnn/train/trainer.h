// The training loop: Matterport's train(train_dataset, val_dataset, learning_rate, epochs, layers)
// with torchvision's losses. SGD with momentum and weight decay, gradient clipping by global norm,
// linear warm-up and a step or cosine schedule, per-loss weights, validation losses, a checkpoint
// per epoch (atomic), a metrics log, resume, interruption and non-finite-loss handling.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "mrcnn/data/loader.h"
#include "mrcnn/model/mask_rcnn.h"
#include "mrcnn/train/distributed.h"

namespace mrcnn::train {

// Matterport's loss names, in its order, and the torchvision loss each one is.
const std::vector<std::pair<std::string, std::string>>& loss_names();

struct TrainOptions {
  double learning_rate = 0.001;
  double momentum = 0.9;
  double weight_decay = 1e-4;
  double clip_norm = 5.0;         // <= 0: no clipping
  int64_t warmup_steps = 0;       // linear warm-up from warmup_factor * lr to lr
  double warmup_factor = 0.001;
  std::string schedule = "constant";  // constant | step | cosine
  std::vector<int64_t> step_epochs;   // step: lr *= step_gamma from each of these epochs on
  double step_gamma = 0.1;
  std::map<std::string, double> loss_weights;  // by Matterport name; missing -> 1
  std::string layers = "all";  // heads | 3+ | 4+ | 5+ | all | a regular expression
  int64_t steps_per_epoch = 1000;
  int64_t validation_steps = 50;
  std::string log_dir;          // checkpoints and metrics.jsonl go here ("" = nowhere)
  std::string checkpoint_prefix = "mask_rcnn";  // files: <prefix>_<epoch:04d>.pt
  bool deterministic = false;   // reseed torch's generator from (seed, step) before each step
  // Mixed precision: "off", "bf16" or "fp16" (fp16 on CUDA only). The forward pass and the losses
  // run under autocast; weights, gradients and the SGD update stay float32.
  std::string mixed_precision = "off";
  // Dynamic loss scaling (fp16's small range would flush gradients to zero): the loss is
  // multiplied by this before backward and the gradients divided after; a step whose gradients
  // overflow is skipped and the scale halved; after loss_scale_growth_interval good steps in a
  // row it doubles. 0 = off. torch.cuda.amp.GradScaler's rule and defaults (65536, 2000).
  double loss_scale = 0;
  int64_t loss_scale_growth_interval = 2000;
  uint64_t seed = 0;
  std::vector<std::string> class_names;  // stored in checkpoints
  std::string last_checkpoint;  // the checkpoint training starts from, if any (named in errors)

  void validate() const;  // throws std::invalid_argument naming the field
};

// Dynamic loss scaling (torch.cuda.amp.GradScaler's rule): the loss is multiplied by scale()
// before backward and the gradients divided after; a step whose gradients overflow is skipped
// and the scale halved; after `growth_interval` good steps in a row it doubles. Scale 0: off.
class LossScaler {
 public:
  LossScaler(double scale, int64_t growth_interval) : scale_(scale), growth_interval_(growth_interval) {}
  bool on() const { return scale_ > 0; }
  double scale() const { return scale_; }
  void unscale(std::vector<torch::Tensor>& grads) const;
  // After the gradients' norm is known: false (and the scale halved) when they overflowed.
  // Throws NonFiniteLoss after 25 overflowing steps in a row.
  bool update(double grad_norm);
  // The scale and its count of good steps, for checkpoints (empty when off).
  std::map<std::string, torch::Tensor> state() const;
  void load_state(const std::map<std::string, torch::Tensor>& state);

 private:
  double scale_;
  int64_t growth_interval_;
  int64_t good_steps_ = 0;        // steps since the scale last changed
  int64_t skipped_in_a_row_ = 0;  // overflowing steps in a row
};

// The global L2 norm of the gradients (accumulated in double).
double gradient_norm(const std::vector<torch::Tensor>& grads);
// Scales the gradients down so that their global norm is at most max_norm (torch's
// clip_grad_norm_ rule); nothing when max_norm <= 0.
void clip_gradients(std::vector<torch::Tensor>& grads, double norm, double max_norm);

// Sets requires_grad on the model's parameters: true where the parameter's name (search) or its
// Matterport layer name (full match) matches the regex of `layers` (model.layers_pattern). Returns the trainable names;
// throws when nothing matches.
std::vector<std::string> set_trainable(model::MaskRcnnImpl& model, const std::string& layers);

// A non-finite loss: training stopped at (epoch, step); what() names both and the losses.
struct NonFiniteLoss : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Callbacks {
  // When a training step's batch is loaded, before the step (data-parallel jobs note progress here).
  std::function<void(int64_t epoch, int64_t step)> on_batch;
  // After each training step with its metrics (losses by Matterport name, "loss", "lr"). Return
  // false to stop (the state is saved to <prefix>_interrupted.pt first).
  std::function<bool(int64_t epoch, int64_t step, const std::map<std::string, double>&)> on_step;
  // After each epoch (and its checkpoint): epoch averages and val_ losses, and the checkpoint path.
  // Return false to stop training after this epoch.
  std::function<bool(int64_t epoch, const std::map<std::string, double>&, const std::string&)> on_epoch;
};

struct FitResult {
  int64_t epoch = 0;  // epochs completed
  bool interrupted = false;
  std::string last_checkpoint;
  std::vector<std::map<std::string, double>> history;  // per epoch
};

class Trainer {
 public:
  Trainer(model::MaskRcnn model, TrainOptions options);

  // Data-parallel training over a process group (torch.distributed's): rank 0's weights and
  // buffers are copied to every process, each step's gradients are averaged over the processes
  // (the losses normalised by the whole step's counts, so N processes with b images each compute
  // what one process computes on N x b images), the step's metrics and validation losses are the
  // processes' average, and only rank 0 writes checkpoints and the metrics log. Call before fit,
  // on every process, with loaders sharded by rank (LoaderOptions::rank / processes).
  void distribute(c10::intrusive_ptr<c10d::ProcessGroup> group);
  int rank() const { return parallel_ ? parallel_->rank() : 0; }
  int processes() const { return parallel_ ? parallel_->size() : 1; }

  // Trains from epoch `from_epoch` (completed epochs) to `to_epoch`. The loaders' positions are
  // saved in each checkpoint so that a resumed run sees the same samples.
  FitResult fit(data::Loader& train, data::Loader* val, int64_t from_epoch, int64_t to_epoch,
                const Callbacks& callbacks = {});

  // One optimisation step on a batch; returns the losses (Matterport names), "loss" and "lr".
  std::map<std::string, double> step(const std::vector<data::Sample>& batch);
  // Losses of a batch without updating anything (the model stays in training mode, as Matterport's
  // validation losses).
  std::map<std::string, double> evaluate(const std::vector<data::Sample>& batch);

  // Optimizer state (momentum buffers by parameter name, "step") for checkpoints.
  std::map<std::string, torch::Tensor> optimizer_state() const;
  void load_optimizer_state(const std::map<std::string, torch::Tensor>& state);
  int64_t global_step() const { return global_step_; }
  double learning_rate_at(int64_t step, int64_t total_steps) const;
  const std::vector<std::string>& trainable() const { return trainable_; }

 private:
  std::map<std::string, torch::Tensor> batch_losses(const std::vector<data::Sample>& batch);
  // The processes' average of each metric (the same names on every process); as given alone.
  std::map<std::string, double> averaged(std::map<std::string, double> metrics);
  std::string save(int64_t epoch, const std::string& path, const std::string& extra_json);

  model::MaskRcnn model_;
  TrainOptions options_;
  std::vector<std::string> trainable_;
  std::vector<std::pair<std::string, torch::Tensor>> params_;  // trainable parameters
  std::unique_ptr<torch::optim::SGD> optimizer_;               // torch's SGD over params_
  int64_t global_step_ = 0;
  int64_t total_steps_ = 0;
  c10::ScalarType autocast_dtype_ = c10::ScalarType::Undefined;
  LossScaler scaler_{0, 1};
  std::unique_ptr<DataParallel> parallel_;
  std::shared_ptr<model::StepContext> context_;  // set in deterministic or data-parallel training
};

}  // namespace mrcnn::train
