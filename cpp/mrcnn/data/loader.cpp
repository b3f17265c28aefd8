#include "mrcnn/data/loader.h"

#include "mrcnn/core/random.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

namespace mrcnn::data {

namespace {

uint64_t mix(uint64_t x) { return splitmix64(x); }

}  // namespace

Loader::Loader(std::shared_ptr<SampleSource> source, model::Config config, LoaderOptions options, SampleHook hook)
    : source_(std::move(source)), config_(std::move(config)), options_(options), hook_(std::move(hook)) {
  if (!source_) throw std::invalid_argument("Loader: no dataset");
  size_ = source_->size();
  if (size_ <= 0) throw std::invalid_argument("Loader: the dataset has no images");
  if (options_.batch_size < 1) throw std::invalid_argument("Loader: batch_size must be >= 1");
  if (options_.workers < 0) throw std::invalid_argument("Loader: workers must be >= 0");
  if (options_.prefetch < 1) throw std::invalid_argument("Loader: prefetch must be >= 1");
  if (options_.processes < 1 || options_.rank < 0 || options_.rank >= options_.processes)
    throw std::invalid_argument("Loader: rank " + std::to_string(options_.rank) + " of " +
                                std::to_string(options_.processes) + " processes");
  options_.augment.validate();
  start_workers();
}

Loader::~Loader() { stop_workers(); }

int64_t Loader::image_index(int64_t local) {
  const int64_t k = global_position(local);
  const int64_t epoch = k / size_, pos = k % size_;
  if (!options_.shuffle) return pos;
  std::lock_guard<std::mutex> lock(perm_mutex_);
  auto it = perms_.find(epoch);
  if (it == perms_.end()) {
    std::vector<int64_t> order(static_cast<size_t>(size_));
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(mix(options_.seed ^ mix(static_cast<uint64_t>(epoch) + 0x51ed27)));
    for (int64_t i = size_ - 1; i > 0; --i)  // Fisher-Yates with our own draws: the same on every platform
      std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(rng() % static_cast<uint64_t>(i + 1))]);
    while (perms_.size() > 3) perms_.erase(perms_.begin());
    it = perms_.emplace(epoch, std::move(order)).first;
  }
  return it->second[static_cast<size_t>(pos)];
}

Sample Loader::prepare(int64_t k) {
  const int64_t index = image_index(k);
  const uint64_t seed = mix(options_.seed ^ mix(static_cast<uint64_t>(global_position(k))));
  std::mt19937_64 rng(seed);
  Sample s = source_->load(index);
  s.seed = seed;
  TORCH_CHECK_VALUE(s.image.dim() == 3 && s.image.size(2) == 3 && s.image.scalar_type() == torch::kByte,
                    "load_image must give uint8 [H, W, 3], got ", s.image.scalar_type(), " ", s.image.sizes());
  TORCH_CHECK_VALUE(s.masks.dim() == 3 && s.masks.size(1) == s.image.size(0) && s.masks.size(2) == s.image.size(1),
                    "masks must be [N, ", s.image.size(0), ", ", s.image.size(1), "] like the image, got ",
                    s.masks.sizes());
  s.image = s.image.contiguous();
  s.masks = s.masks.to(torch::kByte).contiguous();
  s.class_ids = s.class_ids.to(torch::kLong).reshape({-1});
  const AugmentOptions& a = options_.augment;
  const double scale = (a.scale_min != 1 || a.scale_max != 1)
                           ? std::uniform_real_distribution<double>(a.scale_min, a.scale_max)(rng)
                           : 1.0;
  if (options_.resize) resize_sample(s, config_, scale, &rng);
  if (a.any()) augment(s, a, rng);
  if (hook_) hook_(s, rng());
  make_targets(s);
  return s;
}

Loader::Slot Loader::produce(int64_t k) {
  Slot slot;
  try {
    slot.sample = prepare(k);
  } catch (const std::exception& e) {
    int64_t index = -1;
    try {
      index = image_index(k);
    } catch (...) {
    }
    slot.error = "image " + std::to_string(index) + " (" + source_->reference(index) + "): " + e.what();
  }
  slot.done = true;
  return slot;
}

void Loader::worker_loop() {
  const int64_t ahead = options_.prefetch * options_.batch_size * std::max<int64_t>(1, options_.workers);
  for (;;) {
    int64_t k;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wanted_.wait(lock, [&] { return stopping_ || next_to_produce_ < consumed_ + ahead; });
      if (stopping_) return;
      k = next_to_produce_++;
      slots_[k];  // reserved
    }
    Slot slot = produce(k);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
      slots_[k] = std::move(slot);
    }
    produced_.notify_all();
  }
}

void Loader::start_workers() {
  stopping_ = false;
  next_to_produce_ = consumed_;
  for (int64_t i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { worker_loop(); });
}

void Loader::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wanted_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  slots_.clear();
}

void Loader::seek(int64_t position) {
  if (position < 0) throw std::invalid_argument("Loader.seek: position must be >= 0");
  stop_workers();
  // this process's first position k * processes + rank at or after `position`
  consumed_ = std::max<int64_t>(0, (position - options_.rank + options_.processes - 1) / options_.processes);
  start_workers();
}

std::vector<Sample> Loader::next_batch() {
  std::vector<Sample> batch;
  int64_t failed_in_a_row = 0;
  while (static_cast<int64_t>(batch.size()) < options_.batch_size) {
    const int64_t k = consumed_;
    Slot slot;
    if (threads_.empty()) {
      slot = produce(k);
    } else {
      std::unique_lock<std::mutex> lock(mutex_);
      produced_.wait(lock, [&] {
        auto it = slots_.find(k);
        return it != slots_.end() && it->second.done;
      });
      slot = std::move(slots_[k]);
      slots_.erase(k);
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++consumed_;
    }
    wanted_.notify_all();
    if (!slot.error.empty()) {
      if (!options_.skip_bad) throw std::runtime_error(slot.error);
      ++skipped_bad_;
      warnings_.push_back(slot.error + "; skipped");
    } else if (options_.skip_empty && slot.sample->masks.size(0) == 0) {
      ++skipped_empty_;
    } else {
      batch.push_back(std::move(*slot.sample));
      failed_in_a_row = 0;
      continue;
    }
    // 2N - 1 consecutive positions cover one whole epoch: no image of the dataset is usable (one
    // of several processes sees every processes-th position)
    if (++failed_in_a_row >= (2 * size_ - 1) * options_.processes)
      throw std::runtime_error("Loader: every one of the " + std::to_string(size_) +
                               " images failed or had no instances (" + std::to_string(failed_in_a_row) +
                               " samples in a row failed); last: " +
                               (slot.error.empty() ? "image " + std::to_string(image_index(k)) + " has no instances"
                                                   : slot.error));
  }
  return batch;
}

std::vector<std::string> Loader::take_warnings() {
  std::vector<std::string> out;
  out.swap(warnings_);
  return out;
}

}  // namespace mrcnn::data
