// Entry point: runs every registered part's init (see module.h).
#include "module.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  for (auto init : tlspool::ModuleRegistry::all()) init(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(tlspool_native, Init)
