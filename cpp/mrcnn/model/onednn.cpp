#include "mrcnn/model/onednn.h"

#include <torch/autograd.h>

#include "mrcnn/core/autocast.h"

#ifdef MRCNN_WITH_DNNL
#include <oneapi/dnnl/dnnl.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>
#endif

namespace mrcnn::model {

namespace {

at::Tensor torch_conv3x3(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  return at::conv2d(x, weight, bias, {1, 1}, {1, 1});
}

#ifdef MRCNN_WITH_DNNL

using dnnl::memory;
using Tag = memory::format_tag;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

enum class Pass { kForward, kBackwardData, kBackwardWeights };

// What a primitive depends on. The activations' layout (NCHW or NHWC) is not part of it: the
// primitives choose their own blocked layouts, and the tensors are reordered to and from them.
struct Shape {
  int64_t n, c, o, h, w;
  bool bias;
  Pass pass;
  std::string key() const {
    std::string k = "conv" + std::to_string(static_cast<int>(pass)) + (bias ? "b" : "-");
    for (int64_t v : {n, c, o, h, w}) k += std::to_string(v) + ",";
    return k;
  }
};

// One compiled primitive with the layouts it wants for each argument.
struct Primitive {
  dnnl::primitive prim;
  memory::desc src, weights, bias, dst, scratchpad;  // backward: src/dst are diff_src/diff_dst as used
  std::shared_ptr<dnnl::convolution_forward::primitive_desc> forward_pd;  // the hint the backward passes need
};

// The convolution's tensors with the layouts left to the primitive.
struct AnyDescs {
  memory::desc src, weights, bias, dst;
  explicit AnyDescs(const Shape& s)
      : src({s.n, s.c, s.h, s.w}, memory::data_type::f32, Tag::any),
        weights({s.o, s.c, 3, 3}, memory::data_type::f32, Tag::any),
        bias({s.o}, memory::data_type::f32, Tag::any),
        dst({s.n, s.o, s.h, s.w}, memory::data_type::f32, Tag::any) {}
};

dnnl::convolution_forward::desc forward_desc(const Shape& s) {
  const AnyDescs d(s);
  // forward_training keeps the weights in a plain blocked layout and transforms them inside the
  // kernel; forward_inference wants them pre-transformed, and that reorder is slower than the conv
  if (s.bias)
    return {dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_winograd, d.src, d.weights, d.bias,
            d.dst, {1, 1}, {1, 1}, {1, 1}};
  return {dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_winograd, d.src, d.weights, d.dst,
          {1, 1}, {1, 1}, {1, 1}};
}

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // from torch's allocator, per call: thread-safe
  return attr;
}

// Compiled primitives (convolutions and matmuls) by a key naming their shapes. make() returns
// null where oneDNN has no implementation, and that is remembered too. Compiling one takes about
// a millisecond; the cache is cleared when it holds too many.
template <class Make>
std::shared_ptr<const Primitive> cached(const std::string& key, Make&& make) {
  static std::mutex mutex;
  static std::unordered_map<std::string, std::shared_ptr<const Primitive>> cache;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  std::shared_ptr<const Primitive> p;
  try {
    p = make();
  } catch (const dnnl::error&) {
    p = nullptr;  // no implementation for these shapes on this CPU
  }
  std::lock_guard<std::mutex> lock(mutex);
  if (cache.size() >= 512) cache.clear();
  cache.emplace(key, p);
  return p;
}

std::shared_ptr<const Primitive> make_primitive(const Shape& s);

// The Winograd primitive for a shape and pass; null where oneDNN has none.
std::shared_ptr<const Primitive> primitive(const Shape& s) {
  return cached(s.key(), [&] { return make_primitive(s); });
}

std::shared_ptr<const Primitive> make_primitive(const Shape& s) {
  auto p = std::make_shared<Primitive>();
  const dnnl::primitive_attr attr = user_scratchpad();
  if (s.pass == Pass::kForward) {
    auto pd = std::make_shared<dnnl::convolution_forward::primitive_desc>(forward_desc(s), attr, cpu_engine());
    p->prim = dnnl::convolution_forward(*pd);
    p->src = pd->src_desc(), p->weights = pd->weights_desc(), p->dst = pd->dst_desc();
    if (s.bias) p->bias = pd->bias_desc();
    p->scratchpad = pd->scratchpad_desc();
    p->forward_pd = std::move(pd);
    return p;
  }
  Shape fs = s;
  fs.pass = Pass::kForward;
  const std::shared_ptr<const Primitive> forward = primitive(fs);
  if (!forward) return nullptr;
  const AnyDescs any(s);
  if (s.pass == Pass::kBackwardData) {
    const dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_winograd, any.src, any.weights,
                                                  any.dst, {1, 1}, {1, 1}, {1, 1});
    const dnnl::convolution_backward_data::primitive_desc pd(d, attr, cpu_engine(), *forward->forward_pd);
    p->prim = dnnl::convolution_backward_data(pd);
    p->src = pd.diff_src_desc(), p->weights = pd.weights_desc(), p->dst = pd.diff_dst_desc();
    p->scratchpad = pd.scratchpad_desc();
    return p;
  }
  auto wd = s.bias ? dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_winograd, any.src,
                                                              any.weights, any.bias, any.dst, {1, 1}, {1, 1},
                                                              {1, 1})
                   : dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_winograd, any.src,
                                                              any.weights, any.dst, {1, 1}, {1, 1}, {1, 1});
  const dnnl::convolution_backward_weights::primitive_desc pd(wd, attr, cpu_engine(), *forward->forward_pd);
  p->prim = dnnl::convolution_backward_weights(pd);
  p->src = pd.src_desc(), p->weights = pd.diff_weights_desc(), p->dst = pd.diff_dst_desc();
  if (s.bias) p->bias = pd.diff_bias_desc();
  p->scratchpad = pd.scratchpad_desc();
  return p;
}

// A reorder and the scratchpad it needs (user-provided, like the convolutions': primitives that
// share the library's scratchpad must not run concurrently).
struct Reorder {
  dnnl::reorder prim;
  memory::desc scratchpad;
};

// Reorders between the tensors' layouts and the primitives', compiled once per pair.
Reorder reorder_between(const memory::desc& from, const memory::desc& to) {
  static std::mutex mutex;
  static std::vector<std::tuple<memory::desc, memory::desc, Reorder>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  for (const auto& [f, t, r] : cache)
    if (f == from && t == to) return r;
  if (cache.size() >= 512) cache.clear();
  const dnnl::reorder::primitive_desc pd(cpu_engine(), from, cpu_engine(), to, user_scratchpad());
  Reorder r{dnnl::reorder(pd), pd.scratchpad_desc()};
  cache.emplace_back(from, to, r);
  return r;
}

// One execution: wraps tensors as oneDNN memory, converting layouts where the primitive wants
// another one. Buffers come from torch's allocator and live until the call is done.
class Call {
 public:
  Call() : stream_(cpu_engine()) {}

  // `t` (in layout `user`) as the primitive reads it
  memory in(const memory::desc& want, const memory::desc& user, const at::Tensor& t) {
    memory m(user, cpu_engine(), t.data_ptr());
    if (want == user) return m;
    memory converted(want, cpu_engine(), buffer(want));
    convert(m, converted);
    return converted;
  }

  // where the primitive writes what ends in `t` (layout `user`); copied there by finish()
  memory out(const memory::desc& want, const memory::desc& user, const at::Tensor& t) {
    memory m(user, cpu_engine(), t.data_ptr());
    if (want == user) return m;
    memory staged(want, cpu_engine(), buffer(want));
    pending_.emplace_back(staged, m);
    return staged;
  }

  void run(const Primitive& p, std::unordered_map<int, memory> args) {
    args.emplace(DNNL_ARG_SCRATCHPAD, memory(p.scratchpad, cpu_engine(), buffer(p.scratchpad)));
    p.prim.execute(stream_, args);
    for (auto& [staged, user] : pending_) convert(staged, user);
    stream_.wait();
  }

 private:
  void convert(const memory& from, const memory& to) {
    const Reorder r = reorder_between(from.get_desc(), to.get_desc());
    std::unordered_map<int, memory> args{{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    if (r.scratchpad.get_size() > 0)
      args.emplace(DNNL_ARG_SCRATCHPAD, memory(r.scratchpad, cpu_engine(), buffer(r.scratchpad)));
    r.prim.execute(stream_, args);
  }

  void* buffer(const memory::desc& d) {
    keep_.push_back(at::empty({static_cast<int64_t>(d.get_size())}, at::TensorOptions().dtype(at::kByte)));
    return keep_.back().data_ptr();
  }

  dnnl::stream stream_;
  std::vector<at::Tensor> keep_;
  std::vector<std::pair<memory, memory>> pending_;
};

memory::desc activation_desc(const at::Tensor& t, bool nhwc) {
  return memory::desc({t.size(0), t.size(1), t.size(2), t.size(3)}, memory::data_type::f32,
                      nhwc ? Tag::nhwc : Tag::nchw);
}

memory::desc weight_desc(const Shape& s) {
  return memory::desc({s.o, s.c, 3, 3}, memory::data_type::f32, Tag::oihw);
}

memory::desc bias_desc(const Shape& s) { return memory::desc({s.o}, memory::data_type::f32, Tag::x); }

at::MemoryFormat layout(bool nhwc) { return nhwc ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous; }

Shape shape_of(const at::Tensor& x, const at::Tensor& w, bool bias, Pass pass) {
  return {x.size(0), x.size(1), w.size(0), x.size(2), x.size(3), bias, pass};
}

// x, w (and b) contiguous in their layouts
at::Tensor run_forward(const Primitive& p, const Shape& s, const at::Tensor& x, const at::Tensor& w,
                   const at::Tensor& b, bool nhwc) {
  at::Tensor y = at::empty({s.n, s.o, s.h, s.w}, x.options().memory_format(layout(nhwc)));
  Call call;
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, call.in(p.src, activation_desc(x, nhwc), x)},
                                       {DNNL_ARG_WEIGHTS, call.in(p.weights, weight_desc(s), w)},
                                       {DNNL_ARG_DST, call.out(p.dst, activation_desc(y, nhwc), y)}};
  if (s.bias) args.emplace(DNNL_ARG_BIAS, call.in(p.bias, bias_desc(s), b));
  call.run(p, std::move(args));
  return y;
}

at::Tensor run_backward_data(const Primitive& p, const Shape& s, const at::Tensor& grad, const at::Tensor& w,
                         bool nhwc) {
  at::Tensor gx = at::empty({s.n, s.c, s.h, s.w}, grad.options().memory_format(layout(nhwc)));
  Call call;
  call.run(p, {{DNNL_ARG_DIFF_DST, call.in(p.dst, activation_desc(grad, nhwc), grad)},
               {DNNL_ARG_WEIGHTS, call.in(p.weights, weight_desc(s), w)},
               {DNNL_ARG_DIFF_SRC, call.out(p.src, activation_desc(gx, nhwc), gx)}});
  return gx;
}

std::pair<at::Tensor, at::Tensor> run_backward_weights(const Primitive& p, const Shape& s, const at::Tensor& x,
                                                   const at::Tensor& grad, bool nhwc) {
  at::Tensor gw = at::empty({s.o, s.c, 3, 3}, x.options());
  at::Tensor gb = s.bias ? at::empty({s.o}, x.options()) : at::Tensor();
  Call call;
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, call.in(p.src, activation_desc(x, nhwc), x)},
                                       {DNNL_ARG_DIFF_DST, call.in(p.dst, activation_desc(grad, nhwc), grad)},
                                       {DNNL_ARG_DIFF_WEIGHTS, call.out(p.weights, weight_desc(s), gw)}};
  if (s.bias) args.emplace(DNNL_ARG_DIFF_BIAS, call.out(p.bias, bias_desc(s), gb));
  call.run(p, std::move(args));
  return {gw, gb};
}

class WinogradConv : public torch::autograd::Function<WinogradConv> {
 public:
  // x, weight (and bias) contiguous in their layouts; the forward primitive exists
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, bool nhwc) {
    const bool has_bias = bias.numel() > 0;
    const Shape s = shape_of(x, weight, has_bias, Pass::kForward);
    ctx->save_for_backward({x, weight});
    ctx->saved_data["nhwc"] = nhwc;
    ctx->saved_data["bias"] = has_bias;
    return run_forward(*primitive(s), s, x, weight, has_bias ? bias : at::Tensor(), nhwc);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 const torch::autograd::variable_list& grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1];
    const bool nhwc = ctx->saved_data["nhwc"].toBool(), has_bias = ctx->saved_data["bias"].toBool();
    const bool need_x = ctx->needs_input_grad(0), need_w = ctx->needs_input_grad(1);
    const bool need_b = has_bias && ctx->needs_input_grad(2);
    at::Tensor gx, gw, gb;
    if (!grads[0].defined()) return {gx, gw, gb, at::Tensor()};
    const at::Tensor g = grads[0].contiguous(layout(nhwc));
    if (need_x) {
      const Shape s = shape_of(x, w, has_bias, Pass::kBackwardData);
      if (auto p = primitive(s)) gx = run_backward_data(*p, s, g, w, nhwc);
    }
    if (need_w || need_b) {
      const Shape s = shape_of(x, w, need_b, Pass::kBackwardWeights);
      if (auto p = primitive(s)) std::tie(gw, gb) = run_backward_weights(*p, s, x, g, nhwc);
    }
    // a pass oneDNN has no Winograd implementation for: the direct convolution's backward
    if ((need_x && !gx.defined()) || ((need_w || need_b) && !gw.defined())) {
      const std::vector<int64_t> bias_size{w.size(0)};
      const auto [dx, dw, db] = at::convolution_backward(
          g, x, w, has_bias ? c10::OptionalIntArrayRef(bias_size) : c10::nullopt, {1, 1}, {1, 1}, {1, 1}, false,
          {0, 0}, 1, {need_x && !gx.defined(), (need_w || need_b) && !gw.defined(), need_b && !gw.defined()});
      if (need_x && !gx.defined()) gx = dx;
      if ((need_w || need_b) && !gw.defined()) gw = dw, gb = db;
    }
    if (!need_w) gw = at::Tensor();
    return {gx, gw, need_b ? gb : at::Tensor(), at::Tensor()};
  }
};

#endif  // MRCNN_WITH_DNNL

// float32 strided CPU tensors (b may be undefined) outside autocast, which would want bf16
bool float_cpu_operands(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  auto plain_float_cpu = [](const at::Tensor& t) {
    return t.device().is_cpu() && t.scalar_type() == at::kFloat && t.layout() == at::kStrided;
  };
  return plain_float_cpu(x) && plain_float_cpu(w) && (!b.defined() || plain_float_cpu(b)) &&
         !autocast_enabled(c10::DeviceType::CPU);
}

#ifdef MRCNN_WITH_DNNL

bool winograd_applies(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  if (!float_cpu_operands(x, w, b)) return false;
  if (x.dim() != 4 || w.dim() != 4 || w.size(2) != 3 || w.size(3) != 3 || x.size(1) != w.size(1)) return false;
  if (b.defined() && (b.dim() != 1 || b.size(0) != w.size(0))) return false;
  return x.numel() > 0 && w.numel() > 0 && w.size(0) % 16 == 0 && w.size(1) % 16 == 0;
}

// ---- matrix products ----

memory::desc strided_desc(const at::Tensor& t) {
  return memory::desc({t.size(0), t.size(1)}, memory::data_type::f32, memory::dims{t.stride(0), t.stride(1)});
}

// Matmul primitives by operand sizes and strides (transposed operands are strides, not copies).
std::shared_ptr<const Primitive> matmul_primitive(const at::Tensor& a, const at::Tensor& b, bool bias) {
  std::string key = bias ? "mm b" : "mm -";
  for (int64_t v : {a.size(0), a.size(1), a.stride(0), a.stride(1), b.size(1), b.stride(0), b.stride(1)})
    key += std::to_string(v) + ",";
  return cached(key, [&] {
    auto p = std::make_shared<Primitive>();
    p->src = strided_desc(a), p->weights = strided_desc(b);
    p->dst = memory::desc({a.size(0), b.size(1)}, memory::data_type::f32, Tag::ab);
    if (bias) p->bias = memory::desc({1, b.size(1)}, memory::data_type::f32, Tag::ab);
    const dnnl::matmul::desc d = bias ? dnnl::matmul::desc(p->src, p->weights, p->bias, p->dst)
                                      : dnnl::matmul::desc(p->src, p->weights, p->dst);
    const dnnl::matmul::primitive_desc pd(d, user_scratchpad(), cpu_engine());
    p->prim = dnnl::matmul(pd);
    p->scratchpad = pd.scratchpad_desc();
    return p;
  });
}

at::Tensor onednn_mm_unchecked(const at::Tensor& a, const at::Tensor& b, const at::Tensor& bias);

// Whether oneDNN's matmul runs on this CPU and gives torch's product: some builds create the
// primitive but fail to execute it (Debian's oneDNN 2.6 on AVX2-only AMD CPUs: "could not execute
// a primitive"). Probed once, on a small product; torch's product is used otherwise.
bool matmul_works() {
  static const bool works = [] {
    try {
      const at::Tensor a = at::arange(24, at::kFloat).view({4, 6}).div_(7);
      const at::Tensor b = at::arange(30, at::kFloat).view({6, 5}).div_(11);
      const at::Tensor bias = at::arange(5, at::kFloat);
      const at::Tensor c = onednn_mm_unchecked(a, b, bias);
      return c.defined() && at::allclose(c, at::addmm(bias, a, b), 1e-5, 1e-5);
    } catch (const std::exception&) {
      return false;
    }
  }();
  return works;
}

// a [M, K] @ b [K, N] (+ bias [N]) as a new row-major [M, N]; a and b float32 with any strides.
// Undefined when oneDNN has no implementation for these operands or its matmul does not run here.
at::Tensor onednn_mm(const at::Tensor& a, const at::Tensor& b, const at::Tensor& bias) {
  if (!matmul_works()) return at::Tensor();
  return onednn_mm_unchecked(a, b, bias);
}

at::Tensor onednn_mm_unchecked(const at::Tensor& a, const at::Tensor& b, const at::Tensor& bias) {
  const auto p = matmul_primitive(a, b, bias.defined());
  if (!p) return at::Tensor();
  at::Tensor c = at::empty({a.size(0), b.size(1)}, a.options().memory_format(at::MemoryFormat::Contiguous));
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(p->src, cpu_engine(), a.data_ptr())},
                                       {DNNL_ARG_WEIGHTS, memory(p->weights, cpu_engine(), b.data_ptr())},
                                       {DNNL_ARG_DST, memory(p->dst, cpu_engine(), c.data_ptr())}};
  if (bias.defined()) args.emplace(DNNL_ARG_BIAS, memory(p->bias, cpu_engine(), bias.data_ptr()));
  Call call;
  call.run(*p, std::move(args));
  return c;
}

at::Tensor mm_or_blas(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor c = onednn_mm(a, b, at::Tensor());
  return c.defined() ? c : at::mm(a, b);
}

class OneDnnLinear : public torch::autograd::Function<OneDnnLinear> {
 public:
  // bias: [N] or empty
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias) {
    ctx->save_for_backward({x, weight});
    const at::Tensor b = bias.numel() > 0 ? bias : at::Tensor();
    at::Tensor y = onednn_mm(x, weight.t(), b);
    return y.defined() ? y : at::linear(x, weight, b);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 const torch::autograd::variable_list& grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1];
    at::Tensor gx, gw, gb;
    const at::Tensor& g = grads[0];
    if (!g.defined()) return {gx, gw, gb};
    if (ctx->needs_input_grad(0)) gx = mm_or_blas(g, w);      // [M, N] @ [N, K]
    if (ctx->needs_input_grad(1)) gw = mm_or_blas(g.t(), x);  // [N, M] @ [M, K]
    if (ctx->needs_input_grad(2)) gb = g.sum(0);
    return {gx, gw, gb};
  }
};

bool linear_applies(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  if (!float_cpu_operands(x, w, b)) return false;
  if (x.dim() != 2 || w.dim() != 2 || x.size(1) != w.size(1) || x.numel() == 0 || w.numel() == 0) return false;
  return !b.defined() || (b.dim() == 1 && b.size(0) == w.size(0) && b.is_contiguous());
}

#endif  // MRCNN_WITH_DNNL

}  // namespace

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, bool onednn) {
#ifdef MRCNN_WITH_DNNL
  if (onednn && linear_applies(x, weight, bias) && matmul_works()) {
    const bool grad = at::GradMode::is_enabled() &&
                      (x.requires_grad() || weight.requires_grad() || (bias.defined() && bias.requires_grad()));
    if (!grad) {
      at::Tensor y = onednn_mm(x, weight.t(), bias);
      if (y.defined()) return y;
    } else {
      return OneDnnLinear::apply(x, weight, bias.defined() ? bias : at::empty({0}, x.options()));
    }
  }
#endif
  return at::linear(x, weight, bias);
}

bool onednn_available() {
#ifdef MRCNN_WITH_DNNL
  return matmul_works() || static_cast<bool>(primitive({1, 16, 16, 8, 8, true, Pass::kForward}));
#else
  return false;
#endif
}

bool onednn_matmul_available() {
#ifdef MRCNN_WITH_DNNL
  return matmul_works();
#else
  return false;
#endif
}

bool onednn_applies(const at::Tensor& x) {
#ifdef MRCNN_WITH_DNNL
  return float_cpu_operands(x, x, at::Tensor()) && matmul_works();
#else
  return false;
#endif
}

at::Tensor conv3x3(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, bool winograd) {
#ifdef MRCNN_WITH_DNNL
  if (winograd && winograd_applies(x, weight, bias)) {
    const bool nhwc = x.suggest_memory_format() == at::MemoryFormat::ChannelsLast;
    const at::Tensor xc = x.contiguous(layout(nhwc)), wc = weight.contiguous();
    const at::Tensor bc = bias.defined() ? bias.contiguous() : bias;
    const Shape s = shape_of(xc, wc, bc.defined(), Pass::kForward);
    if (auto p = primitive(s)) {
      const bool grad = at::GradMode::is_enabled() &&
                        (xc.requires_grad() || wc.requires_grad() || (bc.defined() && bc.requires_grad()));
      if (!grad) return run_forward(*p, s, xc, wc, bc, nhwc);
      // autograd functions take no undefined tensor: no bias is an empty one (has_bias from its size)
      return WinogradConv::apply(xc, wc, bc.defined() ? bc : at::empty({0}, xc.options()), nhwc);
    }
  }
#endif
  return torch_conv3x3(x, weight, bias);
}

std::string winograd_status() {
#ifdef MRCNN_WITH_DNNL
  const dnnl_version_t* v = dnnl_version();
  const std::string version = "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                              std::to_string(v->patch);
  if (!primitive({1, 16, 16, 8, 8, true, Pass::kForward})) return "off (" + version + " has none for this CPU)";
  return version;
#else
  return "off (built without oneDNN headers)";
#endif
}

}  // namespace mrcnn::model
