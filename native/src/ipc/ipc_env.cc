// See ipc_env.h.
#include "ipc_env.h"

#include <mutex>
#include <unordered_map>

namespace tlspool::ipc {

namespace {

// Several environments (threads) may look up their entry at once.
std::mutex g_mutex;
std::unordered_map<napi_env, IpcEnv*>& Table() {
  static std::unordered_map<napi_env, IpcEnv*> table;
  return table;
}

void Forget(napi_env env) {
  IpcEnv* state = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = Table().find(env);
    if (it == Table().end()) return;
    state = it->second;
    Table().erase(it);
  }
  // The environment is going away and deletes its references itself; do not
  // touch them from here.
  state->owned_fd.SuppressDestruct();
  state->connection.SuppressDestruct();
  state->listener.SuppressDestruct();
  delete state;
}

}  // namespace

IpcEnv& EnvState(Napi::Env env) {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = Table().find(env);
    if (it != Table().end()) return *it->second;
  }
  auto* state = new IpcEnv();
  napi_get_uv_event_loop(env, &state->loop);
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    Table()[env] = state;
  }
  napi_env raw = env;
  env.AddCleanupHook([raw]() { Forget(raw); });
  return *state;
}

Napi::Object NewInstance(Napi::Env env, const Napi::FunctionReference& ctor) {
  napi_value fn = nullptr;
  napi_value obj = nullptr;
  if (napi_get_reference_value(env, ctor, &fn) != napi_ok || fn == nullptr) return Napi::Object();
  if (napi_new_instance(env, fn, 0, nullptr, &obj) != napi_ok) return Napi::Object();
  return Napi::Object(env, obj);
}

}  // namespace tlspool::ipc
