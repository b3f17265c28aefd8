#include "mrcnn/train/trainer.h"

#include "mrcnn/codecs/json_writer.h"

#include "mrcnn/core/autocast.h"
#include "mrcnn/core/random.h"


#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "mrcnn/model/checkpoint.h"
#include "mrcnn/model/weights.h"

namespace mrcnn::train {

namespace {

constexpr double kPi = 3.14159265358979323846;

uint64_t mix(uint64_t x) { return splitmix64(x); }

std::string format_losses(const std::map<std::string, double>& m) {
  std::ostringstream o;
  bool first = true;
  for (const auto& [k, v] : m) {
    o << (first ? "" : ", ") << k << "=" << v;
    first = false;
  }
  return o.str();
}

void append_line(const std::string& path, const codecs::JsonObjectWriter& j) {
  if (path.empty()) return;
  std::ofstream out(path, std::ios::app);
  out << j.str() << "\n";
}

codecs::JsonObjectWriter metrics_json(const std::map<std::string, double>& metrics) {
  codecs::JsonObjectWriter j;
  for (const auto& [name, value] : metrics) j.add(name, value);
  return j;
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& loss_names() {
  static const std::vector<std::pair<std::string, std::string>> names = {
      {"rpn_class_loss", "loss_objectness"}, {"rpn_bbox_loss", "loss_rpn_box_reg"},
      {"mrcnn_class_loss", "loss_classifier"}, {"mrcnn_bbox_loss", "loss_box_reg"},
      {"mrcnn_mask_loss", "loss_mask"}};
  return names;
}

void TrainOptions::validate() const {
  auto check = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("train: " + what);
  };
  check(learning_rate > 0 && std::isfinite(learning_rate), "learning_rate must be > 0, got " + std::to_string(learning_rate));
  check(momentum >= 0 && momentum < 1, "LEARNING_MOMENTUM must be in [0, 1), got " + std::to_string(momentum));
  check(weight_decay >= 0, "WEIGHT_DECAY must be >= 0, got " + std::to_string(weight_decay));
  check(warmup_steps >= 0, "warmup_steps must be >= 0");
  check(warmup_factor > 0 && warmup_factor <= 1, "warmup_factor must be in (0, 1]");
  check(schedule == "constant" || schedule == "step" || schedule == "cosine",
        "schedule must be 'constant', 'step' or 'cosine', got '" + schedule + "'");
  check(steps_per_epoch >= 1, "STEPS_PER_EPOCH must be >= 1, got " + std::to_string(steps_per_epoch));
  check(validation_steps >= 0, "VALIDATION_STEPS must be >= 0, got " + std::to_string(validation_steps));
  (void)autocast_dtype(mixed_precision);  // throws for an unknown value
  check(loss_scale >= 0 && std::isfinite(loss_scale), "loss_scale must be >= 0 (0: off), got " + std::to_string(loss_scale));
  check(loss_scale_growth_interval >= 1, "loss_scale_growth_interval must be >= 1");
  for (const auto& [k, v] : loss_weights) {
    bool known = false;
    for (const auto& n : loss_names()) known |= n.first == k;
    check(known, "LOSS_WEIGHTS has an unknown loss '" + k +
                     "' (known: rpn_class_loss, rpn_bbox_loss, mrcnn_class_loss, mrcnn_bbox_loss, mrcnn_mask_loss)");
    check(v >= 0 && std::isfinite(v), "LOSS_WEIGHTS['" + k + "'] must be >= 0");
  }
}

std::vector<std::string> set_trainable(model::MaskRcnnImpl& model, const std::string& layers) {
  std::regex re;
  try {
    re = std::regex(model.layers_pattern(layers));
  } catch (const std::regex_error& e) {
    throw std::invalid_argument("train: layers '" + layers +
                                "' is neither heads, 3+, 4+, 5+, all nor a valid regular expression (" + e.what() + ")");
  }
  std::vector<std::string> trainable;
  for (auto& p : model.named_parameters(true)) {
    const std::string alias = model.matterport_layer_name(p.key());
    const bool on = std::regex_search(p.key(), re) || (!alias.empty() && std::regex_match(alias, re));
    p.value().set_requires_grad(on);
    if (on) trainable.push_back(p.key());
  }
  if (trainable.empty())
    throw std::invalid_argument("train: layers '" + layers + "' matches no parameter (names look like " +
                                "backbone.body.layer4.0.conv1.weight or, Matterport's, res5a_branch2a)");
  return trainable;
}

void LossScaler::unscale(std::vector<torch::Tensor>& grads) const {
  for (auto& g : grads) g.mul_(1.0 / scale_);
}

bool LossScaler::update(double grad_norm) {
  if (!std::isfinite(grad_norm)) {
    scale_ *= 0.5;
    good_steps_ = 0;
    if (++skipped_in_a_row_ >= 25)
      throw NonFiniteLoss("the gradients overflowed in 25 steps in a row (loss scale now " + std::to_string(scale_) +
                          ")");
    return false;
  }
  skipped_in_a_row_ = 0;
  if (++good_steps_ >= growth_interval_) {
    scale_ *= 2;
    good_steps_ = 0;
  }
  return true;
}

std::map<std::string, torch::Tensor> LossScaler::state() const {
  if (!on()) return {};
  return {{"loss_scale", torch::tensor(scale_, torch::kDouble)},
          {"loss_scale_good_steps", torch::tensor(good_steps_, torch::kLong)}};
}

void LossScaler::load_state(const std::map<std::string, torch::Tensor>& state) {
  if (!on()) return;
  if (auto it = state.find("loss_scale"); it != state.end()) scale_ = it->second.item<double>();
  if (auto it = state.find("loss_scale_good_steps"); it != state.end()) good_steps_ = it->second.item<int64_t>();
}

double gradient_norm(const std::vector<torch::Tensor>& grads) {
  if (grads.empty()) return 0;
  std::vector<torch::Tensor> norms;
  for (const auto& g : grads) norms.push_back(g.norm(2).to(torch::kDouble));
  return torch::stack(norms).norm(2).item<double>();
}

void clip_gradients(std::vector<torch::Tensor>& grads, double norm, double max_norm) {
  if (max_norm <= 0 || !(norm > max_norm)) return;
  const double scale = max_norm / (norm + 1e-6);
  for (auto& g : grads) g.mul_(scale);
}

Trainer::Trainer(model::MaskRcnn model, TrainOptions options) : model_(std::move(model)), options_(std::move(options)) {
  options_.validate();
  trainable_ = set_trainable(*model_, options_.layers);
  for (auto& p : model_->named_parameters(true))
    if (p.value().requires_grad()) params_.emplace_back(p.key(), p.value());
  autocast_dtype_ = autocast_dtype(options_.mixed_precision);
  const torch::Device device = params_.empty() ? torch::Device(torch::kCPU) : params_[0].second.device();
  if (autocast_dtype_ == torch::kHalf && !device.is_cuda())
    throw std::invalid_argument("train: mixed_precision='fp16' needs the model on a CUDA device (it is on " +
                                device.str() + "); on CPU use 'bf16'");
  scaler_ = LossScaler(options_.loss_scale, options_.loss_scale_growth_interval);
  std::vector<torch::Tensor> tensors;
  for (auto& [name, p] : params_) tensors.push_back(p);
  optimizer_ = std::make_unique<torch::optim::SGD>(
      tensors, torch::optim::SGDOptions(options_.learning_rate)
                   .momentum(options_.momentum)
                   .weight_decay(options_.weight_decay)
                   .dampening(0)
                   .nesterov(false));
  if (options_.deterministic) {
    context_ = std::make_shared<model::StepContext>();
    model_->set_step_context(context_);
  }
}

void Trainer::distribute(c10::intrusive_ptr<c10d::ProcessGroup> group) {
  std::vector<torch::Tensor> trainable;
  for (auto& [name, p] : params_) trainable.push_back(p);
  parallel_ = std::make_unique<DataParallel>(std::move(group), trainable);
  if (parallel_->size() == 1) {
    parallel_.reset();
    return;
  }
  std::vector<torch::Tensor> state;
  for (auto& p : model_->parameters()) state.push_back(p);
  for (auto& b : model_->buffers()) state.push_back(b);
  parallel_->broadcast(state);  // identical initial weights on every process
  if (!context_) context_ = std::make_shared<model::StepContext>();
  context_->processes = parallel_->size();
  context_->total_over_processes = [this](double count) { return parallel_->sum(count); };
  model_->set_step_context(context_);
}

std::map<std::string, double> Trainer::averaged(std::map<std::string, double> metrics) {
  if (!parallel_) return metrics;
  std::vector<double> values;
  for (const auto& [name, v] : metrics) values.push_back(v);
  values = parallel_->sum(values);
  size_t i = 0;
  for (auto& [name, v] : metrics) v = values[i++] / parallel_->size();
  return metrics;
}

namespace {

// Where torch's optimizer keeps a parameter's state: its key in Optimizer::state(), the
// TensorImpl's address (as a string before torch 2.7 or so, as a pointer since).
using OptimizerState = std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;
template <class Key = OptimizerState::key_type>
Key state_key(const torch::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream key;
    key << p.unsafeGetTensorImpl();
    return key.str();
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}

}  // namespace

double Trainer::learning_rate_at(int64_t step, int64_t total_steps) const {
  double lr = options_.learning_rate;
  if (options_.warmup_steps > 0 && step < options_.warmup_steps) {
    const double t = static_cast<double>(step) / static_cast<double>(options_.warmup_steps);
    lr *= options_.warmup_factor * (1 - t) + t;
  }
  if (options_.schedule == "cosine" && total_steps > 0) {
    lr *= 0.5 * (1 + std::cos(kPi * std::min(1.0, static_cast<double>(step) / static_cast<double>(total_steps))));
  } else if (options_.schedule == "step") {
    const int64_t epoch = step / options_.steps_per_epoch;  // epochs completed before this step
    for (int64_t e : options_.step_epochs)
      if (epoch >= e) lr *= options_.step_gamma;
  }
  return lr;
}

std::map<std::string, torch::Tensor> Trainer::batch_losses(const std::vector<data::Sample>& batch) {
  TORCH_CHECK_VALUE(!batch.empty(), "train: empty batch");
  const torch::Device device = params_.empty() ? torch::Device(torch::kCPU) : params_[0].second.device();
  std::vector<torch::Tensor> images;
  std::vector<model::Target> targets;
  if (context_ && options_.deterministic) {  // each image's examples drawn from its own stream position
    context_->image_seeds.clear();
    for (const data::Sample& s : batch) context_->image_seeds.push_back(s.seed);
  }
  for (const data::Sample& s : batch) {
    images.push_back(s.image.permute({2, 0, 1}).to(device));
    targets.push_back({s.boxes.to(device), s.class_ids.to(device), s.masks.to(device)});
  }
  std::map<std::string, torch::Tensor> raw;
  {
    const AutocastGuard autocast(device.type(), autocast_dtype_);
    raw = model_->losses(images, targets, /*resize=*/false);
  }
  std::map<std::string, torch::Tensor> out;
  for (const auto& [ours, theirs] : loss_names()) {
    auto it = raw.find(theirs);
    TORCH_CHECK(it != raw.end(), "train: the model returned no ", theirs);
    const auto type = it->second.scalar_type();  // summed and scaled in float32 under mixed precision
    out[ours] = type == torch::kHalf || type == torch::kBFloat16 ? it->second.to(torch::kFloat) : it->second;
  }
  return out;
}

std::map<std::string, double> Trainer::step(const std::vector<data::Sample>& batch) {
  model_->train();
  const double lr = learning_rate_at(global_step_, total_steps_);
  optimizer_->zero_grad(/*set_to_none=*/true);
  const auto losses = batch_losses(batch);
  torch::Tensor total;
  std::map<std::string, double> metrics;
  for (const auto& [name, value] : losses) {
    auto w = options_.loss_weights.find(name);
    const double weight = w == options_.loss_weights.end() ? 1.0 : w->second;
    metrics[name] = value.item<double>();
    total = total.defined() ? total + value * weight : value * weight;
  }
  metrics["loss"] = total.item<double>();
  metrics = averaged(metrics);  // every process sees the same values, so all stop together
  metrics["lr"] = lr;
  for (const auto& [name, v] : metrics)
    if (!std::isfinite(v)) throw NonFiniteLoss(name + " is " + std::to_string(v) + " (" + format_losses(metrics) + ")");
  if (parallel_) parallel_->begin_backward();
  (scaler_.on() ? total * scaler_.scale() : total).backward();
  if (parallel_) parallel_->finish_backward();
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (auto& [name, p] : params_)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (scaler_.on()) {
    metrics["loss_scale"] = scaler_.scale();
    scaler_.unscale(grads);
  }
  if (options_.clip_norm > 0 || scaler_.on()) {
    const double norm = gradient_norm(grads);  // 0 without gradients
    if (scaler_.on() && !scaler_.update(norm)) {
      // the scaled gradients overflowed: this update is skipped, the next step tries half the
      // scale (no grad_norm: an infinite one would make the epoch's average infinite)
      metrics["skipped"] = 1;
      optimizer_->zero_grad(/*set_to_none=*/true);
      ++global_step_;
      return metrics;
    }
    if (!grads.empty()) {
      metrics["grad_norm"] = norm;
      if (!std::isfinite(norm)) throw NonFiniteLoss("the gradient norm is " + std::to_string(norm));
      clip_gradients(grads, norm, options_.clip_norm);
    }
  }
  // torch's SGD (as torch.optim.SGD: d = g + wd * p; buf = m * buf + d; p -= lr * buf) at this
  // step's learning rate
  for (auto& group : optimizer_->param_groups()) static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
  optimizer_->step();
  ++global_step_;
  return metrics;
}

std::map<std::string, double> Trainer::evaluate(const std::vector<data::Sample>& batch) {
  model_->train();
  torch::NoGradGuard no_grad;
  const auto losses = batch_losses(batch);
  std::map<std::string, double> metrics;
  double total = 0;
  for (const auto& [name, value] : losses) {
    auto w = options_.loss_weights.find(name);
    metrics[name] = value.item<double>();
    total += metrics[name] * (w == options_.loss_weights.end() ? 1.0 : w->second);
  }
  metrics["loss"] = total;
  return averaged(metrics);
}

std::map<std::string, torch::Tensor> Trainer::optimizer_state() const {
  std::map<std::string, torch::Tensor> out;
  auto& state = optimizer_->state();
  for (const auto& [name, p] : params_) {
    auto it = state.find(state_key(p));
    if (it == state.end()) continue;
    const auto& buf = static_cast<const torch::optim::SGDParamState&>(*it->second).momentum_buffer();
    if (buf.defined()) out["momentum." + name] = buf;
  }
  out["global_step"] = torch::tensor(global_step_, torch::kLong);
  for (auto& [key, value] : scaler_.state()) out[key] = value;
  return out;
}

void Trainer::load_optimizer_state(const std::map<std::string, torch::Tensor>& state) {
  scaler_.load_state(state);  // a resumed fp16 run keeps the scale it had found
  auto& sgd_state = optimizer_->state();
  sgd_state.clear();
  std::map<std::string, torch::Tensor> ours(params_.begin(), params_.end());
  for (const auto& [key, t] : state) {
    if (key == "global_step") {
      global_step_ = t.item<int64_t>();
      continue;
    }
    if (key.rfind("momentum.", 0) != 0) continue;
    const std::string name = key.substr(9);
    auto it = ours.find(name);
    if (it == ours.end() || !it->second.sizes().equals(t.sizes())) continue;  // frozen now, or another shape
    auto buffer = std::make_unique<torch::optim::SGDParamState>();
    buffer->momentum_buffer(t.to(it->second.device(), it->second.scalar_type()).clone());
    sgd_state[state_key(it->second)] = std::move(buffer);
  }
}

std::string Trainer::save(int64_t epoch, const std::string& path, const std::string& extra_json) {
  model::Checkpoint c;
  c.weights = model::state_dict(*model_);
  c.config_json = model_->config.to_json();
  c.class_names = options_.class_names;
  c.epoch = epoch;
  c.optimizer = optimizer_state();
  c.extra_json = extra_json;
  model::save_checkpoint(path, c);
  return path;
}

FitResult Trainer::fit(data::Loader& train, data::Loader* val, int64_t from_epoch, int64_t to_epoch,
                       const Callbacks& callbacks) {
  FitResult result;
  result.epoch = from_epoch;
  result.last_checkpoint = options_.last_checkpoint;
  if (to_epoch <= from_epoch) return result;
  total_steps_ = to_epoch * options_.steps_per_epoch;
  global_step_ = std::max(global_step_, from_epoch * options_.steps_per_epoch);
  const std::string dir = rank() == 0 ? options_.log_dir : std::string();  // one writer
  std::string metrics_path;
  if (!dir.empty()) {
    std::filesystem::create_directories(dir);
    metrics_path = (std::filesystem::path(dir) / "metrics.jsonl").string();
  }
  auto file_for = [&](const std::string& suffix) {
    return dir.empty() ? std::string() : (std::filesystem::path(dir) / (options_.checkpoint_prefix + "_" + suffix + ".pt")).string();
  };
  auto state_json = [&](int64_t epoch, int64_t step_in_epoch, const std::map<std::string, double>& metrics) {
    return codecs::JsonObjectWriter()
        .add("epoch", epoch)
        .add("step_in_epoch", step_in_epoch)
        .add("global_step", global_step_)
        .add("train_position", train.position())
        .add("val_position", val ? val->position() : int64_t{0})
        .add("layers", options_.layers)
        .add_json("metrics", metrics_json(metrics).str())
        .str();
  };

  for (int64_t epoch = from_epoch + 1; epoch <= to_epoch; ++epoch) {
    std::map<std::string, double> sums;
    for (int64_t s = 1; s <= options_.steps_per_epoch; ++s) {
      if (options_.deterministic) torch::manual_seed(mix(options_.seed ^ mix(static_cast<uint64_t>(global_step_))));
      std::map<std::string, double> m;
      try {
        std::vector<data::Sample> batch = train.next_batch();
        if (callbacks.on_batch) callbacks.on_batch(epoch, s);
        m = step(batch);
      } catch (const NonFiniteLoss& e) {
        throw NonFiniteLoss("training stopped at epoch " + std::to_string(epoch) + ", step " + std::to_string(s) +
                            ": " + e.what() + ". The last good checkpoint is " +
                            (result.last_checkpoint.empty() ? std::string("none") : result.last_checkpoint) +
                            "; try a lower learning rate");
      }
      for (const auto& [k, v] : m) sums[k] += v;
      append_line(metrics_path, metrics_json(m).add("epoch", epoch).add("step", s).add("global_step", global_step_));
      bool go_on = true;
      try {
        if (callbacks.on_step) go_on = callbacks.on_step(epoch, s, m);
        if (parallel_) go_on = parallel_->sum(go_on ? 0.0 : 1.0) == 0;  // one process stopping stops all
      } catch (...) {  // e.g. KeyboardInterrupt raised in a Python callback: save, then let it through
        if (!dir.empty()) save(epoch - 1, file_for("interrupted"), state_json(epoch - 1, s, m));
        throw;
      }
      if (!go_on) {
        if (!dir.empty()) result.last_checkpoint = save(epoch - 1, file_for("interrupted"), state_json(epoch - 1, s, m));
        result.interrupted = true;
        return result;
      }
    }
    std::map<std::string, double> epoch_metrics;
    for (const auto& [k, v] : sums) epoch_metrics[k] = v / static_cast<double>(options_.steps_per_epoch);
    if (val && options_.validation_steps > 0) {
      std::map<std::string, double> vs;
      for (int64_t s = 0; s < options_.validation_steps; ++s) {
        if (options_.deterministic) torch::manual_seed(mix(options_.seed ^ mix(~static_cast<uint64_t>(global_step_ * 1000 + s))));
        for (const auto& [k, v] : evaluate(val->next_batch())) vs[k] += v;
      }
      for (const auto& [k, v] : vs) epoch_metrics["val_" + k] = v / static_cast<double>(options_.validation_steps);
    }
    std::string path;
    if (!options_.log_dir.empty()) {
      char name[32];
      std::snprintf(name, sizeof(name), "%04lld", static_cast<long long>(epoch));
      path = (std::filesystem::path(options_.log_dir) / (options_.checkpoint_prefix + "_" + name + ".pt")).string();
      if (!dir.empty()) save(epoch, path, state_json(epoch, 0, epoch_metrics));
      if (parallel_) parallel_->sum(0.0);  // the others wait for rank 0's checkpoint to be complete
      result.last_checkpoint = path;
    }
    append_line(metrics_path, metrics_json(epoch_metrics).add("epoch", epoch).add("type", "epoch").add("checkpoint", path));
    result.epoch = epoch;
    result.history.push_back(epoch_metrics);
    bool go_on = !callbacks.on_epoch || callbacks.on_epoch(epoch, epoch_metrics, path);
    if (parallel_) go_on = parallel_->sum(go_on ? 0.0 : 1.0) == 0;
    if (!go_on) break;
  }
  return result;
}

}  // namespace mrcnn::train
