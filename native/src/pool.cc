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
// Per output pixel: the window position of each channel's first strict maximum (branch-free, so
// the channel loops vectorise), then that channel's gradient goes to that position. When the
// windows tile the input exactly (2x2/2 on even sizes), every dx element is written once and no
// zeroing pass is needed.
Napi::Value MaxPoolGrad(const Napi::CallbackInfo &info) {
  return guarded(info, [&] {
    Window w = Window::from(ints(info, 3));
    const float *dy = floats(info, 0);
    const float *x = floats(info, 1);
    float *dx = floats(info, 2);
    const bool tiles = w.sh == w.fh && w.sw == w.fw && w.pt == 0 && w.pl == 0 && w.oh * w.sh == w.ih && w.ow * w.sw == w.iw;
    const int64_t C = w.c;
    // calls body(element offset in the image, window position) for the taps of an output pixel inside the input
    auto eachTap = [&w, C](int64_t oy, int64_t ox, auto &&body) {
      for (int64_t fy = 0; fy < w.fh; fy++) {
        int64_t y = oy * w.sh - w.pt + fy;
        if (y < 0 || y >= w.ih) continue;
        for (int64_t fx = 0; fx < w.fw; fx++) {
          int64_t xx = ox * w.sw - w.pl + fx;
          if (xx < 0 || xx >= w.iw) continue;
          body((y * w.iw + xx) * C, static_cast<int32_t>(fy * w.fw + fx));
        }
      }
    };
    // Each image's gradient is written by one thread only (windows may overlap).
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < w.n; b++) {
      const float *xb = x + b * w.ih * w.iw * C;
      float *dxb = dx + b * w.ih * w.iw * C;
      const float *dyb = dy + b * w.oh * w.ow * C;
      if (!tiles) std::memset(dxb, 0, sizeof(float) * w.ih * w.iw * C);
      std::vector<float> best(C);
      std::vector<int32_t> where(C);
      for (int64_t oy = 0; oy < w.oh; oy++) {
        for (int64_t ox = 0; ox < w.ow; ox++) {
          float *bp = best.data();
          int32_t *wp = where.data();
          for (int64_t ch = 0; ch < C; ch++) {
            bp[ch] = -std::numeric_limits<float>::infinity();
            wp[ch] = -1;
          }
          eachTap(oy, ox, [&](int64_t offset, int32_t k) {
            const float *px = xb + offset;
            // as tfjs: the first strict maximum; none for a window of -inf or NaN only
#pragma omp simd
            for (int64_t ch = 0; ch < C; ch++) {
              const bool greater = px[ch] > bp[ch];
              bp[ch] = greater ? px[ch] : bp[ch];
              wp[ch] = greater ? k : wp[ch];
            }
          });
          const float *g = dyb + (oy * w.ow + ox) * C;
          eachTap(oy, ox, [&](int64_t offset, int32_t k) {
            float *pd = dxb + offset;
            if (tiles) {
#pragma omp simd
              for (int64_t ch = 0; ch < C; ch++) pd[ch] = wp[ch] == k ? g[ch] : 0.f;
            } else {
#pragma omp simd
              for (int64_t ch = 0; ch < C; ch++) pd[ch] += wp[ch] == k ? g[ch] : 0.f;
            }
          });
        }
      }
    }
  });
}

}  // namespace hpcdl
