// Mixed precision for a scope: autocast on one device type with a chosen lower-precision dtype
// (bf16 or fp16), restored on exit. torch 2.4 replaced the per-device functions (set_enabled,
// set_cpu_enabled, set_autocast_gpu_dtype, ...) by ones taking the device type; both are handled.
#pragma once

#include <ATen/autocast_mode.h>
#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>
#include <torch/version.h>

#include <stdexcept>
#include <string>

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define MRCNN_AUTOCAST_BY_DEVICE_TYPE 1
#else
#define MRCNN_AUTOCAST_BY_DEVICE_TYPE 0
#endif

namespace mrcnn {

// "off" -> Undefined, "bf16" -> BFloat16, "fp16" -> Half; anything else throws naming the value.
inline c10::ScalarType autocast_dtype(const std::string& mixed_precision) {
  if (mixed_precision == "off" || mixed_precision.empty()) return c10::ScalarType::Undefined;
  if (mixed_precision == "bf16") return c10::ScalarType::BFloat16;
  if (mixed_precision == "fp16") return c10::ScalarType::Half;
  throw std::invalid_argument("mixed_precision must be 'off', 'bf16' or 'fp16', got '" + mixed_precision + "'");
}

// Whether autocast is on for this device type in the calling thread.
inline bool autocast_enabled(c10::DeviceType device) {
#if MRCNN_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::is_autocast_enabled(device);
#else
  return device == c10::DeviceType::CUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

class AutocastGuard {
 public:
  // dtype Undefined: the guard does nothing.
  AutocastGuard(c10::DeviceType device, c10::ScalarType dtype) : device_(device), active_(dtype != c10::ScalarType::Undefined) {
    if (!active_) return;
    if (device_ != c10::DeviceType::CPU && device_ != c10::DeviceType::CUDA)
      throw std::invalid_argument("mixed precision runs on CPU or CUDA devices only");
    was_enabled_ = enabled();
    old_dtype_ = dtype_now();
    set(true, dtype);
    at::autocast::increment_nesting();
  }
  ~AutocastGuard() {
    if (!active_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    set(was_enabled_, old_dtype_);
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool enabled() const { return autocast_enabled(device_); }
  c10::ScalarType dtype_now() const {
#if MRCNN_AUTOCAST_BY_DEVICE_TYPE
    return at::autocast::get_autocast_dtype(device_);
#else
    return device_ == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
  }
  void set(bool on, c10::ScalarType dtype) const {
#if MRCNN_AUTOCAST_BY_DEVICE_TYPE
    at::autocast::set_autocast_dtype(device_, dtype);
    at::autocast::set_autocast_enabled(device_, on);
#else
    if (device_ == c10::DeviceType::CUDA) {
      at::autocast::set_autocast_gpu_dtype(dtype);
      at::autocast::set_enabled(on);
    } else {
      at::autocast::set_autocast_cpu_dtype(dtype);
      at::autocast::set_cpu_enabled(on);
    }
#endif
  }

  c10::DeviceType device_;
  bool active_;
  bool was_enabled_ = false;
  c10::ScalarType old_dtype_ = c10::ScalarType::Undefined;
};

}  // namespace mrcnn
