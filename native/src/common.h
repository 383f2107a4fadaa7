// Shared state of the hpcdl oneDNN addon: one CPU engine and stream, argument helpers.
#pragma once
#include <napi.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace hpcdl {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

dnnl::engine &cpuEngine();
dnnl::stream &cpuStream();

/** float data of a Float32Array argument (no copy) */
float *floats(const Napi::CallbackInfo &info, size_t index);
/** a JS array of integers */
std::vector<int64_t> ints(const Napi::CallbackInfo &info, size_t index);
/** whether the argument is null/undefined */
bool absent(const Napi::CallbackInfo &info, size_t index);

/** Runs `body`, turning a dnnl::error or std::exception into a JS exception. */
template <typename F>
Napi::Value guarded(const Napi::CallbackInfo &info, F body) {
  try {
    body();
  } catch (const dnnl::error &e) {
    Napi::Error::New(info.Env(), std::string("oneDNN: ") + e.what()).ThrowAsJavaScriptException();
  } catch (const std::exception &e) {
    Napi::Error::New(info.Env(), std::string("hpcdl native: ") + e.what()).ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

/** `user` memory as the primitive wants it: the same memory, or a reorder into `scratch`. */
memory asDesc(memory &user, const memory::desc &wanted, memory &scratch);

Napi::Value Conv2dForward(const Napi::CallbackInfo &info);
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo &info);
Napi::Value Conv2dBackwardWeights(const Napi::CallbackInfo &info);
Napi::Value MatMul(const Napi::CallbackInfo &info);
Napi::Value MaxPool(const Napi::CallbackInfo &info);
Napi::Value MaxPoolGrad(const Napi::CallbackInfo &info);
Napi::Value ReluGradMul(const Napi::CallbackInfo &info);
Napi::Value Relu(const Napi::CallbackInfo &info);
Napi::Value Binary(const Napi::CallbackInfo &info);
Napi::Value Unary(const Napi::CallbackInfo &info);
Napi::Value SumChannels(const Napi::CallbackInfo &info);
Napi::Value AdamUpdate(const Napi::CallbackInfo &info);

}  // namespace hpcdl
