// Max pooling, NHWC: forward in oneDNN; the gradient as a loop that sends each output's
// gradient to the first maximum of its window (tfjs's cpu backend picks the same element),
// which needs no workspace from the forward pass.
#include <omp.h>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include "common.h"

namespace hpcdl {
namespace {

struct Window {
  int64_t n, ih, iw, c, oh, ow, fh, fw, sh, sw, pt, pl;
  static Window from(const std::vector<int64_t> &g) {
    if (g.size() != 12) throw std::invalid_argument("pool geometry needs 12 integers");
    return {g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11]};
  }
};

std::map<std::string, dnnl::pooling_forward> cache;

}  // namespace

// maxPool(x, out, [n, ih, iw, c, oh, ow, fh, fw, sh, sw, padTop, padLeft])
Napi::Value MaxPool(const Napi::CallbackInfo &info) {
  return guarded(info, [&] {
    auto raw = ints(info, 2);
    Window w = Window::from(raw);
    memory::desc src({w.n, w.c, w.ih, w.iw}, dt::f32, tag::nhwc);
    memory::desc dst({w.n, w.c, w.oh, w.ow}, dt::f32, tag::nhwc);
    std::string key;
    for (int64_t v : raw) key += std::to_string(v) + ",";
    auto found = cache.find(key);
    if (found == cache.end()) {
      int64_t pb = (w.oh - 1) * w.sh + w.fh - w.ih - w.pt;
      int64_t pr = (w.ow - 1) * w.sw + w.fw - w.iw - w.pl;
      dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max, src, dst,
                                    {w.sh, w.sw}, {w.fh, w.fw}, {w.pt, w.pl}, {pb, pr});
      found = cache.emplace(key, dnnl::pooling_forward(dnnl::pooling_forward::primitive_desc(d, cpuEngine()))).first;
    }
    found->second.execute(cpuStream(), {{DNNL_ARG_SRC, memory(src, cpuEngine(), floats(info, 0))},
                                        {DNNL_ARG_DST, memory(dst, cpuEngine(), floats(info, 1))}});
    cpuStream().wait();
  });
}

// maxPoolGrad(dy, x, dx, [n, ih, iw, c, oh, ow, fh, fw, sh, sw, padTop, padLeft])
Napi::Value MaxPoolGrad(const Napi::CallbackInfo &info) {
  return guarded(info, [&] {
    Window w = Window::from(ints(info, 3));
    const float *dy = floats(info, 0);
    const float *x = floats(info, 1);
    float *dx = floats(info, 2);
    // Each image's gradient is written by one thread only (windows may overlap).
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < w.n; b++) {
      const float *xb = x + b * w.ih * w.iw * w.c;
      float *dxb = dx + b * w.ih * w.iw * w.c;
      const float *dyb = dy + b * w.oh * w.ow * w.c;
      std::memset(dxb, 0, sizeof(float) * w.ih * w.iw * w.c);
      std::vector<float> best(w.c);
      std::vector<int64_t> where(w.c);
      for (int64_t oy = 0; oy < w.oh; oy++) {
        for (int64_t ox = 0; ox < w.ow; ox++) {
          std::fill(best.begin(), best.end(), -std::numeric_limits<float>::infinity());
          std::fill(where.begin(), where.end(), -1);
          for (int64_t fy = 0; fy < w.fh; fy++) {
            int64_t y = oy * w.sh - w.pt + fy;
            if (y < 0 || y >= w.ih) continue;
            for (int64_t fx = 0; fx < w.fw; fx++) {
              int64_t xx = ox * w.sw - w.pl + fx;
              if (xx < 0 || xx >= w.iw) continue;
              const float *px = xb + (y * w.iw + xx) * w.c;
              int64_t offset = (y * w.iw + xx) * w.c;
              for (int64_t ch = 0; ch < w.c; ch++) {
                if (px[ch] > best[ch]) {  // as tfjs: the first strict maximum, none for all -inf or NaN
                  best[ch] = px[ch];
                  where[ch] = offset + ch;
                }
              }
            }
          }
          const float *g = dyb + (oy * w.ow + ox) * w.c;
          for (int64_t ch = 0; ch < w.c; ch++) {
            if (where[ch] >= 0) dxb[where[ch]] += g[ch];
          }
        }
      }
    }
  });
}

}  // namespace hpcdl
