{
  "targets": [
    {
      "target_name": "tlspool_native",
      "sources": ["<!@(ls -1 src/*.cc src/*/*.cc)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "src", "src/common", "src/ipc", "src/tls", "src/sys", "src/dns"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "_GNU_SOURCE"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "libraries": ["<!@(pkg-config --libs gnutls)", "-lunbound", "-lpthread"],
      "cflags": ["<!@(pkg-config --cflags gnutls p11-kit-1)"]
    }
  ]
}
