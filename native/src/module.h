// Each part of the addon registers an init function here, so parts live in
// files of their own and addon.cc never needs to know them by name.
#pragma once
#include <napi.h>
#include <vector>

namespace tlspool {

using ModuleInit = void (*)(Napi::Env env, Napi::Object exports);

struct ModuleRegistry {
  static std::vector<ModuleInit>& all() {
    static std::vector<ModuleInit> list;
    return list;
  }
};

struct RegisterModule {
  explicit RegisterModule(ModuleInit init) { ModuleRegistry::all().push_back(init); }
};

}  // namespace tlspool
