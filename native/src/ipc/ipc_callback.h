// Calling JavaScript from a libuv callback, the way Node's own handles do.
//
// Loop callbacks use raw Node-API calls where a failure is possible while the
// environment is shutting down (a worker being terminated): node-addon-api's
// wrappers turn such a failure into a fatal error when C++ exceptions are off.
#pragma once
#include <napi.h>

#include <initializer_list>

namespace tlspool::ipc {

// Whether the environment may still run JavaScript; false once a worker is
// being terminated or the environment is being torn down. Loop callbacks ask
// before they build values for JavaScript or call it.
bool CanRunJs(napi_env env);

// Hands a pending exception, if any, to process 'uncaughtException': from a
// loop callback there is no JavaScript caller to throw it to.
void RaisePending(napi_env env);

// Calls `fn` through napi_make_callback in `context`, so async hooks see the
// right resource and nextTick/promise jobs run once it returns. If `fn`
// throws, the exception goes to process 'uncaughtException' (there is no
// JavaScript caller to hand it to). Needs an open HandleScope.
void CallFromLoop(napi_env env, const Napi::FunctionReference& fn, napi_value recv,
                  std::initializer_list<napi_value> args, const Napi::AsyncContext& context);

}  // namespace tlspool::ipc
