// See ipc_callback.h.
#include "ipc_callback.h"

#include <vector>

namespace tlspool::ipc {

bool CanRunJs(napi_env env) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) != napi_ok || pending) return false;
  // Node-API has no direct query, but every call that may run JavaScript (a
  // property store may hit a setter) refuses up front when it may not, so one
  // such store on a fresh object answers the question.
  napi_value probe = nullptr;
  napi_value value = nullptr;
  if (napi_create_object(env, &probe) != napi_ok || napi_get_boolean(env, true, &value) != napi_ok) return false;
  return napi_set_named_property(env, probe, "probe", value) == napi_ok;
}

void CallFromLoop(napi_env env, const Napi::FunctionReference& fn, napi_value recv,
                  std::initializer_list<napi_value> args, const Napi::AsyncContext& context) {
  if (fn.IsEmpty()) return;
  napi_value func = nullptr;
  if (napi_get_reference_value(env, fn, &func) != napi_ok || func == nullptr) return;
  std::vector<napi_value> argv(args);
  napi_value result = nullptr;
  napi_status status = napi_make_callback(env, context, recv, func, argv.size(), argv.data(), &result);
  if (status != napi_ok) RaisePending(env);
}

void RaisePending(napi_env env) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) != napi_ok || !pending) return;
  napi_value error = nullptr;
  if (napi_get_and_clear_last_exception(env, &error) != napi_ok) return;
  // If JavaScript can no longer run (a worker being terminated, where the
  // "exception" is the termination itself) this refuses, which is right.
  napi_fatal_exception(env, error);
}

}  // namespace tlspool::ipc
