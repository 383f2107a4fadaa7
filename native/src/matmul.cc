// Batched matrix product out[b] = op(a[b]) · op(b[b]) (+ bias, ReLU), op = optional transpose,
// expressed through strides so no transposed copy is made. Primitives cached per shape.
#include <map>
#include "common.h"

namespace hpcdl {
namespace {

struct Cached {
  dnnl::matmul primitive;
  memory::desc a, b, out, bias;
};

std::map<std::string, Cached> cache;

}  // namespace

// matMul(a, b, out, [batch, m, k, n, transposeA, transposeB], bias|null, relu)
Napi::Value MatMul(const Napi::CallbackInfo &info) {
  return guarded(info, [&] {
    auto g = ints(info, 3);
    if (g.size() != 6) throw std::invalid_argument("matMul geometry needs 6 integers");
    int64_t batch = g[0], m = g[1], k = g[2], n = g[3];
    bool ta = g[4] != 0, tb = g[5] != 0;
    bool bias = !absent(info, 4);
    bool relu = info[5].As<Napi::Boolean>().Value();
    std::string key;
    for (int64_t v : g) key += std::to_string(v) + ",";
    key += bias ? "B" : "";
    key += relu ? "R" : "";
    auto found = cache.find(key);
    if (found == cache.end()) {
      memory::desc a({batch, m, k}, dt::f32, ta ? memory::dims{m * k, 1, m} : memory::dims{m * k, k, 1});
      memory::desc b({batch, k, n}, dt::f32, tb ? memory::dims{k * n, 1, k} : memory::dims{k * n, n, 1});
      memory::desc out({batch, m, n}, dt::f32, memory::dims{m * n, n, 1});
      memory::desc biasDesc = bias ? memory::desc({1, 1, n}, dt::f32, memory::dims{n, n, 1}) : memory::desc();
      dnnl::primitive_attr attr;
      if (relu) {
        dnnl::post_ops ops;
        ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
        attr.set_post_ops(ops);
      }
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, biasDesc, out), attr, cpuEngine());
      found = cache.emplace(key, Cached{dnnl::matmul(pd), a, b, out, biasDesc}).first;
    }
    Cached &c = found->second;
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(c.a, cpuEngine(), floats(info, 0))},
                                         {DNNL_ARG_WEIGHTS, memory(c.b, cpuEngine(), floats(info, 1))},
                                         {DNNL_ARG_DST, memory(c.out, cpuEngine(), floats(info, 2))}};
    if (bias) args[DNNL_ARG_BIAS] = memory(c.bias, cpuEngine(), floats(info, 4));
    c.primitive.execute(cpuStream(), args);
    cpuStream().wait();
  });
}

}  // namespace hpcdl
