{
  "targets": [
    {
      "target_name": "hpcdl_onednn",
      "sources": ["src/addon.cc", "src/conv.cc", "src/matmul.cc", "src/pool.cc", "src/eltwise.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=x86-64-v2", "-fopenmp"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-ldnnl"]
    }
  ]
}
