// Autograd of mrcnn::roi_align: the forward saves rois and the input's shape; the backward calls
// mrcnn::_roi_align_backward on whichever backend holds the tensors. Only the input gets a
// gradient (the boxes are treated as constants, as in torchvision).
#include <ATen/ATen.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include "mrcnn/ops/roi_align.h"

namespace mrcnn::ops {

namespace {

class RoiAlignFunction : public torch::autograd::Function<RoiAlignFunction> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input,
                                                const at::Tensor& rois, double spatial_scale,
                                                int64_t pooled_height, int64_t pooled_width,
                                                int64_t sampling_ratio, bool aligned) {
    ctx->saved_data["spatial_scale"] = spatial_scale;
    ctx->saved_data["pooled_height"] = pooled_height;
    ctx->saved_data["pooled_width"] = pooled_width;
    ctx->saved_data["sampling_ratio"] = sampling_ratio;
    ctx->saved_data["aligned"] = aligned;
    ctx->saved_data["input_shape"] = input.sizes();
    ctx->save_for_backward({rois});
    at::AutoDispatchBelowADInplaceOrView guard;
    return {roi_align(input, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned)};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 const torch::autograd::variable_list& grad_output) {
    const at::Tensor rois = ctx->get_saved_variables()[0];
    const auto shape = ctx->saved_data["input_shape"].toIntVector();
    const at::Tensor grad_input = roi_align_backward(
        grad_output[0], rois, ctx->saved_data["spatial_scale"].toDouble(),
        ctx->saved_data["pooled_height"].toInt(), ctx->saved_data["pooled_width"].toInt(), shape[0], shape[1],
        shape[2], shape[3], ctx->saved_data["sampling_ratio"].toInt(), ctx->saved_data["aligned"].toBool());
    return {grad_input, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// The backward is not itself differentiable: say so instead of returning a wrong zero.
class RoiAlignBackwardFunction : public torch::autograd::Function<RoiAlignBackwardFunction> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& grad,
                                                const at::Tensor& rois, double spatial_scale,
                                                int64_t pooled_height, int64_t pooled_width, int64_t batch,
                                                int64_t channels, int64_t height, int64_t width,
                                                int64_t sampling_ratio, bool aligned) {
    at::AutoDispatchBelowADInplaceOrView guard;
    return {roi_align_backward(grad, rois, spatial_scale, pooled_height, pooled_width, batch, channels, height,
                               width, sampling_ratio, aligned)};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*,
                                                 const torch::autograd::variable_list&) {
    TORCH_CHECK(false, "roi_align: double backward is not supported");
  }
};

at::Tensor roi_align_autograd(const at::Tensor& input, const at::Tensor& rois, double spatial_scale,
                              int64_t pooled_height, int64_t pooled_width, int64_t sampling_ratio, bool aligned) {
  return RoiAlignFunction::apply(input, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio,
                                 aligned)[0];
}

at::Tensor roi_align_backward_autograd(const at::Tensor& grad, const at::Tensor& rois, double spatial_scale,
                                       int64_t pooled_height, int64_t pooled_width, int64_t batch,
                                       int64_t channels, int64_t height, int64_t width, int64_t sampling_ratio,
                                       bool aligned) {
  return RoiAlignBackwardFunction::apply(grad, rois, spatial_scale, pooled_height, pooled_width, batch, channels,
                                         height, width, sampling_ratio, aligned)[0];
}

}  // namespace

TORCH_LIBRARY_IMPL(mrcnn, Autograd, m) {
  m.impl("roi_align", TORCH_FN(roi_align_autograd));
  m.impl("_roi_align_backward", TORCH_FN(roi_align_backward_autograd));
}

}  // namespace mrcnn::ops
