// See ipc_callback.h.
#include "ipc_callback.h"

namespace tlspool::ipc {

void CallFromLoop(Napi::Env env, const Napi::FunctionReference& fn, napi_value recv,
                  std::initializer_list<napi_value> args, const Napi::AsyncContext& context) {
  if (fn.IsEmpty()) return;
  fn.MakeCallback(recv, args, context);
  if (env.IsExceptionPending()) {
    Napi::Error error = env.GetAndClearPendingException();
    napi_fatal_exception(env, error.Value());
  }
}

}  // namespace tlspool::ipc
