// 2-D convolution forward (with bias and ReLU fused), backward data and backward weights.
// Activations stay in the caller's layout (NHWC or NCHW, plain); weights are tfjs's
// [fh, fw, in, out] (oneDNN's hwio) and are reordered into the blocked layout oneDNN prefers,
// which costs little (weights are small) and makes the weight gradient ~3x faster on conv1.
// Primitives are created once per geometry and cached. With bf16 set, inputs are converted to
// bf16 and the outputs stay fp32 (fp32 master weights on the JS side).
#include <map>
#include <memory>
#include "common.h"

namespace hpcdl {
namespace {

struct Geometry {
  int64_t n, ih, iw, ic, oh, ow, oc, fh, fw, sh, sw, dh, dw, pt, pb, pl, pr;
  bool nchw, bf16;
  static Geometry from(const std::vector<int64_t> &g) {
    if (g.size() != 19) throw std::invalid_argument("conv geometry needs 19 integers");
    return {g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15], g[16],
            g[17] != 0, g[18] != 0};
  }
  std::string key(const char *op, bool bias, bool relu) const {
    std::string k(op);
    for (int64_t v : {n, ih, iw, ic, oh, ow, oc, fh, fw, sh, sw, dh, dw, pt, pb, pl, pr}) k += "," + std::to_string(v);
    return k + (nchw ? "c" : "l") + (bf16 ? "b" : "f") + (bias ? "B" : "") + (relu ? "R" : "");
  }
  memory::dims srcDims() const { return {n, ic, ih, iw}; }
  memory::dims dstDims() const { return {n, oc, oh, ow}; }
  memory::dims weiDims() const { return {oc, ic, fh, fw}; }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims dilates() const { return {dh - 1, dw - 1}; }
  memory::dims padL() const { return {pt, pl}; }
  memory::dims padR() const { return {pb, pr}; }
  tag act() const { return nchw ? tag::nchw : tag::nhwc; }
  dt compute() const { return bf16 ? dt::bf16 : dt::f32; }
  memory::desc user(const memory::dims &d) const { return memory::desc(d, dt::f32, act()); }
  memory::desc userWeights() const { return memory::desc(weiDims(), dt::f32, tag::hwio); }
  /** activations in the compute type, same layout (bf16: a converted copy) */
  memory::desc computeAct(const memory::dims &d) const { return memory::desc(d, compute(), act()); }
  memory::desc anyWeights() const { return memory::desc(weiDims(), compute(), tag::any); }
};

dnnl::convolution_forward::primitive_desc forwardDesc(const Geometry &g, bool bias, bool relu) {
  memory::desc biasDesc = bias ? memory::desc({g.oc}, dt::f32, tag::x) : memory::desc();
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                    g.computeAct(g.srcDims()), g.anyWeights(), biasDesc, g.user(g.dstDims()),
                                    g.strides(), g.dilates(), g.padL(), g.padR());
  dnnl::primitive_attr attr;
  if (relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(ops);
  }
  return dnnl::convolution_forward::primitive_desc(d, attr, cpuEngine());
}

struct Cached {
  dnnl::primitive primitive;
  memory::desc srcDesc, weiDesc, dstDesc;
  memory srcScratch, weiScratch, dstScratch;
};

std::map<std::string, std::unique_ptr<Cached>> cache;

Cached &lookup(const std::string &key, const std::function<std::unique_ptr<Cached>()> &make) {
  auto found = cache.find(key);
  if (found != cache.end()) return *found->second;
  auto made = make();
  Cached &ref = *made;
  cache.emplace(key, std::move(made));
  return ref;
}

}  // namespace

// conv2dForward(x, filter, bias|null, out, geometry, relu)
Napi::Value Conv2dForward(const Napi::CallbackInfo &info) {
  return guarded(info, [&] {
    Geometry g = Geometry::from(ints(info, 4));
    bool bias = !absent(info, 2);
    bool relu = info[5].As<Napi::Boolean>().Value();
    Cached &c = lookup(g.key("fwd", bias, relu), [&] {
      auto pd = forwardDesc(g, bias, relu);
      return std::make_unique<Cached>(Cached{dnnl::convolution_forward(pd), pd.src_desc(), pd.weights_desc(), pd.dst_desc(), {}, {}, {}});
    });
    memory src(g.user(g.srcDims()), cpuEngine(), floats(info, 0));
    memory wei(g.userWeights(), cpuEngine(), floats(info, 1));
    memory dst(g.user(g.dstDims()), cpuEngine(), floats(info, 3));
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, asDesc(src, c.srcDesc, c.srcScratch)},
                                         {DNNL_ARG_WEIGHTS, asDesc(wei, c.weiDesc, c.weiScratch)},
                                         {DNNL_ARG_DST, dst}};
    if (bias) args[DNNL_ARG_BIAS] = memory(memory::desc({g.oc}, dt::f32, tag::x), cpuEngine(), floats(info, 2));
    c.primitive.execute(cpuStream(), args);
    cpuStream().wait();
  });
}

// conv2dBackwardData(dy, filter, dx, geometry)
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo &info) {
  return guarded(info, [&] {
    Geometry g = Geometry::from(ints(info, 3));
    Cached &c = lookup(g.key("bwd_data", false, false), [&] {
      auto hint = forwardDesc(g, false, false);
      dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, g.user(g.srcDims()), g.anyWeights(),
                                              g.computeAct(g.dstDims()), g.strides(), g.dilates(), g.padL(), g.padR());
      dnnl::convolution_backward_data::primitive_desc pd(d, cpuEngine(), hint);
      return std::make_unique<Cached>(Cached{dnnl::convolution_backward_data(pd), pd.diff_src_desc(), pd.weights_desc(), pd.diff_dst_desc(), {}, {}, {}});
    });
    memory dy(g.user(g.dstDims()), cpuEngine(), floats(info, 0));
    memory wei(g.userWeights(), cpuEngine(), floats(info, 1));
    memory dx(g.user(g.srcDims()), cpuEngine(), floats(info, 2));
    c.primitive.execute(cpuStream(), {{DNNL_ARG_DIFF_DST, asDesc(dy, c.dstDesc, c.dstScratch)},
                                      {DNNL_ARG_WEIGHTS, asDesc(wei, c.weiDesc, c.weiScratch)},
                                      {DNNL_ARG_DIFF_SRC, dx}});
    cpuStream().wait();
  });
}

// conv2dBackwardWeights(x, dy, dFilter, dBias|null, geometry)
Napi::Value Conv2dBackwardWeights(const Napi::CallbackInfo &info) {
  return guarded(info, [&] {
    Geometry g = Geometry::from(ints(info, 4));
    bool bias = !absent(info, 3);
    Cached &c = lookup(g.key("bwd_weights", bias, false), [&] {
      auto hint = forwardDesc(g, bias, false);
      memory::desc diffBias = bias ? memory::desc({g.oc}, dt::f32, tag::x) : memory::desc();
      memory::desc diffWei(g.weiDims(), dt::f32, tag::any);
      dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, g.computeAct(g.srcDims()), diffWei,
                                                 diffBias, g.computeAct(g.dstDims()), g.strides(), g.dilates(), g.padL(), g.padR());
      dnnl::convolution_backward_weights::primitive_desc pd(d, cpuEngine(), hint);
      return std::make_unique<Cached>(Cached{dnnl::convolution_backward_weights(pd), pd.src_desc(), pd.diff_weights_desc(), pd.diff_dst_desc(), {}, {}, {}});
    });
    memory x(g.user(g.srcDims()), cpuEngine(), floats(info, 0));
    memory dy(g.user(g.dstDims()), cpuEngine(), floats(info, 1));
    memory dw(g.userWeights(), cpuEngine(), floats(info, 2));
    memory dwComputed = dw.get_desc() == c.weiDesc ? dw : (c.weiScratch ? c.weiScratch : (c.weiScratch = memory(c.weiDesc, cpuEngine())));
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, asDesc(x, c.srcDesc, c.srcScratch)},
                                         {DNNL_ARG_DIFF_DST, asDesc(dy, c.dstDesc, c.dstScratch)},
                                         {DNNL_ARG_DIFF_WEIGHTS, dwComputed}};
    if (bias) args[DNNL_ARG_DIFF_BIAS] = memory(memory::desc({g.oc}, dt::f32, tag::x), cpuEngine(), floats(info, 3));
    c.primitive.execute(cpuStream(), args);
    if (dwComputed != dw) dnnl::reorder(dwComputed, dw).execute(cpuStream(), dwComputed, dw);
    cpuStream().wait();
  });
}

}  // namespace hpcdl
