// Per-environment state of the IPC part: the class constructors (native code
// makes OwnedFd, UnixConnection and UnixListener objects itself) and the
// libuv loop. Kept per napi_env because the addon may be loaded in worker
// threads too; napi_set_instance_data is left to addon-wide use.
#pragma once
#include <napi.h>
#include <uv.h>

namespace tlspool::ipc {

struct IpcEnv {
  uv_loop_t* loop = nullptr;
  Napi::FunctionReference owned_fd;
  Napi::FunctionReference connection;
  Napi::FunctionReference listener;
};

// The state for `env`, created on first use and dropped at environment
// cleanup. Only valid on the environment's own thread.
IpcEnv& EnvState(Napi::Env env);

// `new ctor()` through the raw API: empty on failure (an exception pending,
// or the environment stopping) instead of node-addon-api's fatal error.
Napi::Object NewInstance(Napi::Env env, const Napi::FunctionReference& ctor);

}  // namespace tlspool::ipc
