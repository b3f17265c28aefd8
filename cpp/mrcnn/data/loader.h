// A prefetching loader: worker threads load, resize, augment and build targets for the samples
// the training loop will ask for next, while it trains on the current batch.
//
// The sample stream is deterministic for a seed, whatever the number of workers: stream position
// k is image perm_e[k mod N] of epoch e = k / N (a fresh shuffle per epoch) with its own random
// generator derived from (seed, k). Samples that fail to load are reported and skipped (or raise,
// by policy), and images without instances are skipped, as Matterport's generator does; the next
// position in the stream takes their place, so a batch is always full.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "mrcnn/data/augment.h"
#include "mrcnn/data/sample.h"
#include "mrcnn/model/config.h"

namespace mrcnn::data {

struct LoaderOptions {
  int64_t batch_size = 2;
  bool shuffle = true;
  uint64_t seed = 0;
  int64_t workers = 2;   // 0: every sample is prepared in the calling thread
  int64_t prefetch = 2;  // batches prepared ahead per worker
  bool resize = true;    // resize to the network's input size (Config) in the workers
  AugmentOptions augment;
  bool skip_bad = true;     // false: the first sample that fails raises
  bool skip_empty = true;   // skip images with no instance left
  // Data-parallel training: this process takes stream positions rank, rank + processes, ...;
  // together the processes take every position once, and each sample is the one a single process
  // would prepare at that position (same image, same augmentation).
  int64_t rank = 0;
  int64_t processes = 1;
};

// Called after native augmentation, before targets are built (e.g. an imgaug augmenter run from
// Python). The seed is the sample's own, for reproducible external augmentation.
using SampleHook = std::function<void(Sample&, uint64_t seed)>;

class Loader {
 public:
  Loader(std::shared_ptr<SampleSource> source, model::Config config, LoaderOptions options, SampleHook hook = nullptr);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  std::vector<Sample> next_batch();
  // Stream position of this process's next sample (positions count every process's samples);
  // seek() restarts the workers at this process's first position at or after `position`, so that
  // a run resumed with another number of processes goes on where the saved one stopped.
  int64_t position() const { return global_position(consumed_); }
  void seek(int64_t position);

  int64_t skipped_bad() const { return skipped_bad_; }
  int64_t skipped_empty() const { return skipped_empty_; }
  // Messages of skipped samples since the last call (each names the image and the problem).
  std::vector<std::string> take_warnings();
  int64_t dataset_size() const { return size_; }

  // The prepared sample at stream position k (what a worker computes), without prefetching.
  Sample prepare(int64_t k);
  int64_t image_index(int64_t k);  // dataset index of this process's k-th sample

 private:
  struct Slot {
    std::optional<Sample> sample;
    std::string error;
    bool done = false;
  };
  int64_t global_position(int64_t k) const { return k * options_.processes + options_.rank; }
  void start_workers();
  void stop_workers();
  void worker_loop();
  Slot produce(int64_t k);

  std::shared_ptr<SampleSource> source_;
  model::Config config_;
  LoaderOptions options_;
  SampleHook hook_;
  int64_t size_ = 0;

  std::mutex perm_mutex_;
  std::map<int64_t, std::vector<int64_t>> perms_;  // epoch -> order

  std::mutex mutex_;
  std::condition_variable produced_, wanted_;
  std::map<int64_t, Slot> slots_;
  int64_t next_to_produce_ = 0;
  int64_t consumed_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;

  int64_t skipped_bad_ = 0, skipped_empty_ = 0;
  std::vector<std::string> warnings_;
};

}  // namespace mrcnn::data
