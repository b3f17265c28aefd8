#pragma once

#include <ATen/ATen.h>

#include <string>

namespace mrcnn::model {

// A 3x3 convolution with stride 1 and padding 1, as torch::conv2d(x, weight, bias, 1, 1).
//   x:      [N, C, H, W], NCHW or channels-last; the result has the same memory format
//   weight: [O, C, 3, 3]
//   bias:   [O] or undefined
// With winograd true, float32 CPU tensors outside autocast go through oneDNN's Winograd
// F(4x4, 3x3) convolution (forward and both backward passes, autograd included) when this build
// has oneDNN and the CPU has an implementation for the shape (AVX-512, channels a multiple of
// 16). It does about 2.5x fewer multiplications than the direct convolution torch runs; results
// differ from it by rounding (~2e-6 relative). Everything else goes to torch::conv2d.
at::Tensor conv3x3(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, bool winograd);

// y = x @ weight^T + bias, as torch::linear, for 2-D x [M, K] and weight [N, K] (any strides).
// With onednn true, float32 CPU tensors outside autocast go through oneDNN's matmul (about twice
// the speed of the BLAS product torch calls on AVX-512 CPUs), its backward too; otherwise
// at::linear. Results differ from at::linear by rounding.
at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, bool onednn);

// Whether this build calls oneDNN directly and it runs on this CPU (conv3x3's Winograd path or
// linear's matmul; each falls back to torch where its own primitive does not run).
bool onednn_available();

// Whether oneDNN's matmul is built in and runs on this CPU (probed once on a small product).
bool onednn_matmul_available();

// Whether linear layers on x would run through oneDNN's matmul: the build has it, it runs on this
// CPU, and x is a float32 CPU tensor outside autocast (CUDA tensors and autocast go to torch).
bool onednn_applies(const at::Tensor& x);

// "oneDNN <version>" when the Winograd path is compiled in and this CPU runs it, otherwise why not.
std::string winograd_status();

}  // namespace mrcnn::model
