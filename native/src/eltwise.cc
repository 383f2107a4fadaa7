// The elementwise work of a training step: ReLU, its gradient, the bias gradient (a sum over
// all but the channel axis) and Adam's update. Plain OpenMP loops (memory-bound; the compiler
// vectorises them), on the same thread pool as oneDNN.
#include <omp.h>
#include <cmath>
#include <vector>
#include "common.h"

namespace hpcdl {

static int64_t count(const Napi::CallbackInfo &info, size_t index) {
  return info[index].As<Napi::Number>().Int64Value();
}

// binary(op, a, b, out, n, mode): op 0 add, 1 sub, 2 mul, 3 div; mode 0 same shape,
// 1 a is a scalar, 2 b is a scalar
Napi::Value Binary(const Napi::CallbackInfo &info) {
  return guarded(info, [&] {
    int op = info[0].As<Napi::Number>().Int32Value();
    const float *a = floats(info, 1);
    const float *b = floats(info, 2);
    float *out = floats(info, 3);
    int64_t n = count(info, 4);
    int mode = info[5].As<Napi::Number>().Int32Value();
    int64_t sa = mode == 1 ? 0 : 1, sb = mode == 2 ? 0 : 1;
    switch (op) {
      case 0:
#pragma omp parallel for simd schedule(static)
        for (int64_t i = 0; i < n; i++) out[i] = a[i * sa] + b[i * sb];
        break;
      case 1:
#pragma omp parallel for simd schedule(static)
        for (int64_t i = 0; i < n; i++) out[i] = a[i * sa] - b[i * sb];
        break;
      case 2:
#pragma omp parallel for simd schedule(static)
        for (int64_t i = 0; i < n; i++) out[i] = a[i * sa] * b[i * sb];
        break;
      case 3:
#pragma omp parallel for simd schedule(static)
        for (int64_t i = 0; i < n; i++) out[i] = a[i * sa] / b[i * sb];
        break;
      default:
        throw std::invalid_argument("binary: unknown op");
    }
  });
}

// unary(op, x, out, n, alpha): op 0 step (tfjs: 1 where x > 0, alpha elsewhere, NaN stays),
// 1 sqrt, 2 square
Napi::Value Unary(const Napi::CallbackInfo &info) {
  return guarded(info, [&] {
    int op = info[0].As<Napi::Number>().Int32Value();
    const float *x = floats(info, 1);
    float *out = floats(info, 2);
    int64_t n = count(info, 3);
    float alpha = info[4].As<Napi::Number>().FloatValue();
    switch (op) {
      case 0:
#pragma omp parallel for simd schedule(static)
        for (int64_t i = 0; i < n; i++) out[i] = std::isnan(x[i]) ? x[i] : (x[i] > 0.f ? 1.f : alpha);
        break;
      case 1:
#pragma omp parallel for simd schedule(static)
        for (int64_t i = 0; i < n; i++) out[i] = std::sqrt(x[i]);
        break;
      case 2:
#pragma omp parallel for simd schedule(static)
        for (int64_t i = 0; i < n; i++) out[i] = x[i] * x[i];
        break;
      default:
        throw std::invalid_argument("unary: unknown op");
    }
  });
}

// relu(x, out, n)
Napi::Value Relu(const Napi::CallbackInfo &info) {
  return guarded(info, [&] {
    const float *x = floats(info, 0);
    float *out = floats(info, 1);
    int64_t n = count(info, 2);
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) out[i] = x[i] > 0.f ? x[i] : (std::isnan(x[i]) ? x[i] : 0.f);
  });
}

// reluGradMul(dy, y, out, n): out = dy * step(y), tfjs's step: 1 where y > 0, NaN where y is NaN
Napi::Value ReluGradMul(const Napi::CallbackInfo &info) {
  return guarded(info, [&] {
    const float *dy = floats(info, 0);
    const float *y = floats(info, 1);
    float *out = floats(info, 2);
    int64_t n = count(info, 3);
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) out[i] = y[i] > 0.f ? dy[i] : (std::isnan(y[i]) ? y[i] : 0.f * dy[i]);
  });
}

// sumChannels(x, out, rows, channels): out[c] = sum over rows of x[row, c]
Napi::Value SumChannels(const Napi::CallbackInfo &info) {
  return guarded(info, [&] {
    const float *x = floats(info, 0);
    float *out = floats(info, 1);
    int64_t rows = count(info, 2), channels = count(info, 3);
    int threads = omp_get_max_threads();
    std::vector<double> partial(static_cast<size_t>(threads) * channels, 0.0);
#pragma omp parallel num_threads(threads)
    {
      double *mine = partial.data() + static_cast<size_t>(omp_get_thread_num()) * channels;
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; r++) {
        const float *row = x + r * channels;
        for (int64_t c = 0; c < channels; c++) mine[c] += row[c];
      }
    }
    for (int64_t c = 0; c < channels; c++) {
      double total = 0;
      for (int t = 0; t < threads; t++) total += partial[static_cast<size_t>(t) * channels + c];
      out[c] = static_cast<float>(total);
    }
  });
}

// adamUpdate(weights, m, v, grad, weightsOut, mOut, vOut, n, lrT, beta1, beta2, epsilon): one pass
// of TensorFlow 1.x's Adam (src/train/adam.ts): m' = b1 m + (1-b1) g, v' = b2 v + (1-b2) g²,
// w' = w - lrT m' / (sqrt(v') + epsilon), lrT carrying the bias corrections.
Napi::Value AdamUpdate(const Napi::CallbackInfo &info) {
  return guarded(info, [&] {
    const float *w = floats(info, 0);
    const float *m = floats(info, 1);
    const float *v = floats(info, 2);
    const float *g = floats(info, 3);
    float *wOut = floats(info, 4);
    float *mOut = floats(info, 5);
    float *vOut = floats(info, 6);
    int64_t n = count(info, 7);
    float lrT = info[8].As<Napi::Number>().FloatValue();
    float beta1 = info[9].As<Napi::Number>().FloatValue();
    float beta2 = info[10].As<Napi::Number>().FloatValue();
    float epsilon = info[11].As<Napi::Number>().FloatValue();
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) {
      float mi = beta1 * m[i] + (1.f - beta1) * g[i];
      float vi = beta2 * v[i] + (1.f - beta2) * (g[i] * g[i]);
      mOut[i] = mi;
      vOut[i] = vi;
      wOut[i] = w[i] - (mi * lrT) / (std::sqrt(vi) + epsilon);
    }
  });
}

}  // namespace hpcdl
