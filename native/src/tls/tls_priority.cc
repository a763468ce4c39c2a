// tlsCheckPriority: does GnuTLS accept a priority string? Parsed the way a
// session's is (tls_shared.cc: gnutls_priority_init2, no flags) and thrown
// away, so a configuration can be checked before any session needs it.
#include <string>

#include "module.h"
#include "tls_common.h"

namespace tlspool {
namespace tls {
namespace {

// tlsCheckPriority(priority: string) -> null when GnuTLS accepts it, else
// { gnutls: 'GNUTLS_E_...', message: GnuTLS's sentence, offset?: byte
// offset into the string where GnuTLS stopped }.
Napi::Value CheckPriority(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowTypeError(env, "tlsCheckPriority(priority: string)");
    return env.Undefined();
  }
  std::string prio = info[0].As<Napi::String>().Utf8Value();
  gnutls_priority_t parsed = nullptr;
  const char* err = nullptr;
  int ret = gnutls_priority_init2(&parsed, prio.c_str(), &err, 0);
  if (ret >= 0) {
    gnutls_priority_deinit(parsed);
    return env.Null();
  }
  Napi::Object problem = Napi::Object::New(env);
  problem.Set("gnutls", Napi::String::New(env, GnutlsErrorName(ret)));
  const char* text = gnutls_strerror(ret);
  problem.Set("message", Napi::String::New(env, text ? text : GnutlsErrorName(ret)));
  // GnuTLS points into the string it was given; anything else is no position.
  if (err != nullptr && err >= prio.c_str() && err <= prio.c_str() + prio.size()) {
    problem.Set("offset", Napi::Number::New(env, static_cast<double>(err - prio.c_str())));
  }
  return problem;
}

void InitPriority(Napi::Env env, Napi::Object exports) {
  exports.Set("tlsCheckPriority", Napi::Function::New(env, CheckPriority, "tlsCheckPriority"));
}

RegisterModule reg(InitPriority);

}  // namespace
}  // namespace tls
}  // namespace tlspool
