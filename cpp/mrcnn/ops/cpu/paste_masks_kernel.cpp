// CPU kernel of mrcnn::paste_masks. Unlike a resize of the whole box followed by a copy, only the
// part of the box inside the image is interpolated, with the row and column weights computed
// once per mask; masks are pasted in parallel.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "mrcnn/ops/cpu/reduced_float.h"
#include "mrcnn/ops/paste_geometry.h"
#include "mrcnn/ops/paste_masks.h"

namespace mrcnn::ops {

namespace {

template <typename T, typename B, typename Out>
void paste_masks_impl(const at::Tensor& masks, const at::Tensor& boxes, int64_t height, int64_t width,
                      int64_t padding, double threshold, at::Tensor& out) {
  const int64_t n = masks.size(0), mh = masks.size(1), mw = masks.size(2);
  const int64_t ph = mh + 2 * padding, pw = mw + 2 * padding;
  const B scale = static_cast<B>(static_cast<double>(mw + 2 * padding) / static_cast<double>(mw));
  const T* mask_data = masks.data_ptr<T>();
  const B* box_data = boxes.data_ptr<B>();
  Out* out_data = out.data_ptr<Out>();
  const bool binary = threshold >= 0;
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    std::vector<T> padded(static_cast<size_t>(ph * pw));
    std::vector<int64_t> cx0, cx1;
    std::vector<T> lx0, lx1;
    for (int64_t k = begin; k < end; ++k) {
      const PasteBox p = paste_box(box_data + 4 * k, scale);
      const int64_t ys = std::max<int64_t>(p.y0, 0), ye = std::min<int64_t>(p.y1 + 1, height);
      const int64_t xs = std::max<int64_t>(p.x0, 0), xe = std::min<int64_t>(p.x1 + 1, width);
      if (ys >= ye || xs >= xe) continue;
      Out* image = out_data + k * height * width;
      std::fill(padded.begin(), padded.end(), T(0));
      for (int64_t r = 0; r < mh; ++r)
        std::copy_n(mask_data + (k * mh + r) * mw, mw, padded.data() + (r + padding) * pw + padding);
      const int64_t cols = xe - xs;
      cx0.resize(cols), cx1.resize(cols), lx0.resize(cols), lx1.resize(cols);
      for (int64_t x = xs; x < xe; ++x)
        linear_source(x - p.x0, pw, p.w, cx0[x - xs], cx1[x - xs], lx0[x - xs], lx1[x - xs]);
      for (int64_t y = ys; y < ye; ++y) {
        int64_t r0, r1;
        T ly0, ly1;
        linear_source(y - p.y0, ph, p.h, r0, r1, ly0, ly1);
        const T* row0 = padded.data() + r0 * pw;
        const T* row1 = padded.data() + r1 * pw;
        Out* dst = image + y * width + xs;
        for (int64_t c = 0; c < cols; ++c) {
          const T v = bilinear_value(row0[cx0[c]], row0[cx1[c]], row1[cx0[c]], row1[cx1[c]], lx0[c], lx1[c], ly0, ly1);
          if (binary)
            dst[c] = static_cast<Out>(static_cast<double>(v) >= threshold);
          else
            dst[c] = static_cast<Out>(v);
        }
      }
    }
  });
}

at::Tensor paste_masks_cpu(const at::Tensor& masks, const at::Tensor& boxes, int64_t height, int64_t width,
                           int64_t padding, double threshold) {
  if (is_reduced_float(masks) || is_reduced_float(boxes)) {
    const at::Tensor out = paste_masks_cpu(as_float32(masks), as_float32(boxes), height, width, padding, threshold);
    return threshold >= 0 ? out : out.to(masks.scalar_type());
  }
  check_paste_masks_args(masks, boxes, height, width, padding);
  TORCH_CHECK_VALUE(masks.device().is_cpu(), "paste_masks: the CPU kernel got masks on ", masks.device());
  const at::Tensor m = masks.reshape({masks.size(0), masks.size(-2), masks.size(-1)}).contiguous();
  const at::Tensor b = boxes.contiguous();
  const bool binary = threshold >= 0;
  // zeroed in one pass first (memset's streaming stores beat writing the zeros pixel by pixel)
  at::Tensor out = at::zeros({m.size(0), height, width}, masks.options().dtype(binary ? at::kBool : masks.scalar_type()));
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES(m.scalar_type(), "paste_masks_cpu", [&] {
    using T = scalar_t;
    AT_DISPATCH_FLOATING_TYPES(b.scalar_type(), "paste_masks_cpu_boxes", [&] {
      if (binary)
        paste_masks_impl<T, scalar_t, bool>(m, b, height, width, padding, threshold, out);
      else
        paste_masks_impl<T, scalar_t, T>(m, b, height, width, padding, threshold, out);
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(mrcnn, CPU, m) {
  m.impl("paste_masks", TORCH_FN(paste_masks_cpu));
}

}  // namespace mrcnn::ops
