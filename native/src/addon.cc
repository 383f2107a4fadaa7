// hpcdl's oneDNN addon: the entry points the TypeScript backend (src/backend/onednn) calls.
// Every function works on Float32Arrays owned by JS (zero-copy) and runs synchronously on
// oneDNN's OpenMP pool, whose size setThreads sets.
#include <malloc.h>
#include <cstdlib>
#include <omp.h>
#include "common.h"

namespace hpcdl {

static bool keptLargeBuffers = false;

dnnl::engine &cpuEngine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream &cpuStream() {
  static dnnl::stream stream(cpuEngine());
  return stream;
}

float *floats(const Napi::CallbackInfo &info, size_t index) {
  auto array = info[index].As<Napi::Float32Array>();
  return array.Data();
}

std::vector<int64_t> ints(const Napi::CallbackInfo &info, size_t index) {
  auto array = info[index].As<Napi::Array>();
  std::vector<int64_t> out(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) out[i] = array.Get(i).As<Napi::Number>().Int64Value();
  return out;
}

bool absent(const Napi::CallbackInfo &info, size_t index) {
  return info.Length() <= index || info[index].IsNull() || info[index].IsUndefined();
}

memory asDesc(memory &user, const memory::desc &wanted, memory &scratch) {
  if (user.get_desc() == wanted) return user;
  if (!scratch || scratch.get_desc() != wanted) scratch = memory(wanted, cpuEngine());
  dnnl::reorder(user, scratch).execute(cpuStream(), user, scratch);
  return scratch;
}

static Napi::Value SetThreads(const Napi::CallbackInfo &info) {
  int threads = info[0].As<Napi::Number>().Int32Value();
  if (threads >= 1) omp_set_num_threads(threads);
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}

static Napi::Value Info(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto out = Napi::Object::New(env);
  const dnnl_version_t *v = dnnl_version();
  out.Set("version", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch));
  auto isa = dnnl::get_effective_cpu_isa();
  const char *isaName = "other";
  switch (isa) {
    case dnnl::cpu_isa::avx512_core_amx: isaName = "avx512_core_amx"; break;
    case dnnl::cpu_isa::avx512_core_bf16: isaName = "avx512_core_bf16"; break;
    case dnnl::cpu_isa::avx512_core_vnni: isaName = "avx512_core_vnni"; break;
    case dnnl::cpu_isa::avx512_core: isaName = "avx512_core"; break;
    case dnnl::cpu_isa::avx2: isaName = "avx2"; break;
    default: break;
  }
  out.Set("isa", isaName);
  out.Set("bf16", isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx);
  out.Set("threads", omp_get_max_threads());
  out.Set("keepsLargeBuffers", keptLargeBuffers);
  return out;
}

// A training step allocates and frees the same large tensors every step. By default glibc
// serves them with mmap and unmaps them on free, so every step page-faults (and zeroes) its
// activations again; keeping them in the heap is what PyTorch needs MALLOC_MMAP_THRESHOLD_ /
// MALLOC_TRIM_THRESHOLD_ for. Measured (HEP-CNN-64, batch 128, 2 threads, loaded machine): the
// Multiply kernels of a step 1,842 -> 590 ms. Same values as the environment variables.
static bool keepLargeBuffers() {
  if (getenv("HPCDL_MALLOC_DEFAULTS")) return false;
  bool mmapSet = mallopt(M_MMAP_THRESHOLD, 1 << 30) == 1;
  bool trimSet = mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
  return mmapSet && trimSet;
}


static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  keptLargeBuffers = keepLargeBuffers();
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("conv2dForward", Napi::Function::New(env, Conv2dForward));
  exports.Set("conv2dBackwardData", Napi::Function::New(env, Conv2dBackwardData));
  exports.Set("conv2dBackwardWeights", Napi::Function::New(env, Conv2dBackwardWeights));
  exports.Set("matMul", Napi::Function::New(env, MatMul));
  exports.Set("maxPool", Napi::Function::New(env, MaxPool));
  exports.Set("maxPoolGrad", Napi::Function::New(env, MaxPoolGrad));
  exports.Set("reluGradMul", Napi::Function::New(env, ReluGradMul));
  exports.Set("relu", Napi::Function::New(env, Relu));
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("unary", Napi::Function::New(env, Unary));
  exports.Set("sumChannels", Napi::Function::New(env, SumChannels));
  exports.Set("adamUpdate", Napi::Function::New(env, AdamUpdate));
  return exports;
}

NODE_API_MODULE(hpcdl_onednn, Init)

}  // namespace hpcdl
