// Calling JavaScript from a libuv callback, the way Node's own handles do.
#pragma once
#include <napi.h>

#include <initializer_list>

namespace tlspool::ipc {

// Calls `fn` through napi_make_callback in `context`, so async hooks see the
// right resource and nextTick/promise jobs run once it returns. If `fn`
// throws, the exception goes to process 'uncaughtException' (there is no
// JavaScript caller to hand it to). Needs an open HandleScope.
void CallFromLoop(Napi::Env env, const Napi::FunctionReference& fn, napi_value recv,
                  std::initializer_list<napi_value> args, const Napi::AsyncContext& context);

}  // namespace tlspool::ipc
