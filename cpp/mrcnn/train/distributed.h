// Data-parallel training on a torch.distributed process group (c10d: Gloo on CPU, NCCL on CUDA),
// the engine torch's own DistributedDataParallel runs on. Each process trains on its shard of the
// step's batch; the gradients of the trainable parameters are summed over the processes in
// buckets while the backward pass still runs (each bucket is sent as soon as all of its gradients
// are there, in the same bucket order on every process), then averaged.
#pragma once

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/torch.h>

#include <memory>
#include <mutex>
#include <vector>

namespace mrcnn::train {

class DataParallel {
 public:
  // params: the trainable parameters, the same list in the same order on every process. A bucket
  // holds about bucket_bytes of them (25 MB, torch's default).
  DataParallel(c10::intrusive_ptr<c10d::ProcessGroup> group, std::vector<torch::Tensor> params,
               int64_t bucket_bytes = 25 << 20);
  ~DataParallel();  // removes the gradient hooks
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }

  // Copies rank 0's values into these tensors on every process (weights, buffers).
  void broadcast(std::vector<torch::Tensor> tensors);
  // Element-wise sums over the processes.
  std::vector<double> sum(std::vector<double> values);
  double sum(double value) { return sum(std::vector<double>{value})[0]; }

  // Around one backward pass: before it, the buckets are emptied; after it, what is left is sent,
  // everything is waited for, and each parameter's .grad becomes the average over the processes
  // (a parameter that no process gave a gradient keeps none, as in one process).
  void begin_backward();
  void finish_backward();

 private:
  struct Bucket {
    torch::Tensor flat;             // the gradients, then one flag per parameter (1: it had one)
    std::vector<size_t> params;     // indices into params_
    std::vector<int64_t> offsets;   // of each parameter's gradient in flat
    size_t ready = 0;
    bool sent = false;
    c10::intrusive_ptr<c10d::Work> work;
  };
  void on_gradient(size_t param, const torch::Tensor& grad);
  void send_ready_buckets();  // in bucket order only: every process sends the same sequence
  void send(Bucket& b);

  c10::intrusive_ptr<c10d::ProcessGroup> group_;
  int rank_ = 0, size_ = 1;
  std::vector<torch::Tensor> params_;
  std::vector<size_t> bucket_of_;     // parameter -> bucket
  std::vector<size_t> slot_of_;       // parameter -> its position in the bucket
  std::vector<Bucket> buckets_;
  std::vector<unsigned> hooks_;
  size_t next_to_send_ = 0;
  bool in_backward_ = false;
  std::mutex mutex_;  // hooks may run on autograd's device threads
};

}  // namespace mrcnn::train
