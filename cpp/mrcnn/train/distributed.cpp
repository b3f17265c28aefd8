#include "mrcnn/train/distributed.h"

#include <stdexcept>

namespace mrcnn::train {

DataParallel::DataParallel(c10::intrusive_ptr<c10d::ProcessGroup> group, std::vector<torch::Tensor> params,
                           int64_t bucket_bytes)
    : group_(std::move(group)), params_(std::move(params)) {
  if (!group_) throw std::invalid_argument("DataParallel: no process group");
  rank_ = group_->getRank();
  size_ = group_->getSize();
  // Buckets in reverse order of the parameters: the backward pass reaches the last layers first.
  bucket_of_.resize(params_.size());
  slot_of_.resize(params_.size());
  int64_t bytes = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    const torch::Tensor& p = params_[k];
    if (buckets_.empty() || bytes >= bucket_bytes) {
      buckets_.emplace_back();
      bytes = 0;
    }
    Bucket& b = buckets_.back();
    bucket_of_[k] = buckets_.size() - 1;
    slot_of_[k] = b.params.size();
    b.params.push_back(k);
    bytes += p.numel() * p.element_size();
  }
  for (Bucket& b : buckets_) {
    int64_t n = 0;
    for (size_t k : b.params) {
      b.offsets.push_back(n);
      n += params_[k].numel();
    }
    const torch::Tensor& first = params_[b.params[0]];
    b.flat = torch::zeros({n + static_cast<int64_t>(b.params.size())}, first.options().requires_grad(false));
  }
  // The gradient of a leaf reaches its hook once, summed over all its uses, before it is
  // accumulated into .grad.
  for (size_t k = 0; k < params_.size(); ++k)
    hooks_.push_back(params_[k].register_hook([this, k](const torch::Tensor& grad) { on_gradient(k, grad); }));
}

DataParallel::~DataParallel() {
  for (size_t k = 0; k < hooks_.size(); ++k) params_[k].remove_hook(hooks_[k]);
}

void DataParallel::broadcast(std::vector<torch::Tensor> tensors) {
  if (tensors.empty()) return;
  torch::NoGradGuard no_grad;
  for (torch::Tensor& t : tensors) {
    std::vector<torch::Tensor> one{t.is_contiguous() ? t : t.contiguous()};
    group_->broadcast(one)->wait();
    if (!one[0].is_same(t)) t.copy_(one[0]);
  }
}

std::vector<double> DataParallel::sum(std::vector<double> values) {
  if (values.empty()) return values;
  const torch::Device device = params_.empty() ? torch::Device(torch::kCPU) : params_[0].device();
  std::vector<torch::Tensor> t{torch::tensor(values, torch::dtype(torch::kDouble)).to(device)};
  group_->allreduce(t)->wait();
  const torch::Tensor cpu = t[0].cpu();
  return std::vector<double>(cpu.data_ptr<double>(), cpu.data_ptr<double>() + cpu.numel());
}

void DataParallel::begin_backward() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (Bucket& b : buckets_) {
    b.flat.zero_();
    b.ready = 0;
    b.sent = false;
    b.work.reset();
  }
  next_to_send_ = 0;
  in_backward_ = true;
}

void DataParallel::on_gradient(size_t param, const torch::Tensor& grad) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!in_backward_) return;  // a backward pass outside a training step (none in the trainer)
  Bucket& b = buckets_[bucket_of_[param]];
  const size_t slot = slot_of_[param];
  const int64_t n = params_[param].numel();
  torch::NoGradGuard no_grad;
  b.flat.narrow(0, b.offsets[slot], n).view(grad.sizes()).copy_(grad);
  b.flat[b.flat.numel() - static_cast<int64_t>(b.params.size()) + static_cast<int64_t>(slot)].fill_(1);
  ++b.ready;
  send_ready_buckets();
}

void DataParallel::send(Bucket& b) {
  std::vector<torch::Tensor> t{b.flat};
  b.work = group_->allreduce(t);
  b.sent = true;
}

void DataParallel::send_ready_buckets() {
  while (next_to_send_ < buckets_.size() && buckets_[next_to_send_].ready == buckets_[next_to_send_].params.size())
    send(buckets_[next_to_send_++]);
}

void DataParallel::finish_backward() {
  std::unique_lock<std::mutex> lock(mutex_);
  in_backward_ = false;
  // Parameters without a gradient on this process (not used by its batch) send zeros and no flag.
  while (next_to_send_ < buckets_.size()) send(buckets_[next_to_send_++]);
  lock.unlock();
  torch::NoGradGuard no_grad;
  for (Bucket& b : buckets_) {
    b.work->wait();
    const int64_t flags = b.flat.numel() - static_cast<int64_t>(b.params.size());
    const torch::Tensor had =
        b.flat.narrow(0, flags, static_cast<int64_t>(b.params.size())).to(torch::kCPU, torch::kDouble).contiguous();
    const double* had_grad = had.data_ptr<double>();
    for (size_t slot = 0; slot < b.params.size(); ++slot) {
      torch::Tensor& p = params_[b.params[slot]];
      if (had_grad[slot] == 0) {
        p.mutable_grad() = torch::Tensor();
        continue;
      }
      const torch::Tensor avg = b.flat.narrow(0, b.offsets[slot], p.numel()).view(p.sizes()) / size_;
      if (p.grad().defined()) p.mutable_grad().copy_(avg);
      else p.mutable_grad() = avg.clone();
    }
  }
}

}  // namespace mrcnn::train
