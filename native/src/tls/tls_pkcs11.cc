// PKCS #11 in the TLS engine: which modules GnuTLS loads, and logging a
// token out. Keys are opened through Credentials (tls_credentials.cc), PINs
// asked through the PIN callback there.
#include <gnutls/pkcs11.h>
#include <p11-kit/pkcs11.h>

#include <string>
#include <vector>

#include "module.h"
#include "tls_common.h"
#include "tls_credentials.h"

namespace tlspool {
namespace tls {
namespace {

bool g_configured = false;

// pkcs11Configure(modules: string[]): before any other PKCS #11 use, once.
// An empty list means p11-kit's configuration (its registered modules);
// otherwise exactly the given module files.
Napi::Value Configure(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    ThrowTypeError(env, "pkcs11Configure(modules: string[])");
    return env.Undefined();
  }
  Napi::Array arr = info[0].As<Napi::Array>();
  std::vector<std::string> modules;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsString()) {
      ThrowTypeError(env, "pkcs11Configure: every module must be a path");
      return env.Undefined();
    }
    modules.push_back(v.As<Napi::String>().Utf8Value());
  }
  if (g_configured) {
    ThrowError(env, EALREADY, "the PKCS #11 modules are chosen once per process");
    return env.Undefined();
  }
  int ret = gnutls_pkcs11_init(modules.empty() ? GNUTLS_PKCS11_FLAG_AUTO : GNUTLS_PKCS11_FLAG_MANUAL, nullptr);
  if (ret < 0) {
    ThrowError(env, EIO, GnutlsMessage("cannot initialise PKCS #11", ret), ret);
    return env.Undefined();
  }
  g_configured = true;
  for (const auto& m : modules) {
    ret = gnutls_pkcs11_add_provider(m.c_str(), nullptr);
    if (ret < 0) {
      ThrowError(env, ENOENT, GnutlsMessage("cannot load the PKCS #11 module " + m, ret), ret);
      return env.Undefined();
    }
  }
  return env.Undefined();
}

// pkcs11Logout(tokenUrl): C_Logout on the token the URL names, which ends
// the login of every session this process has with it. Returns false when
// no token matches.
Napi::Value Logout(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    ThrowTypeError(env, "pkcs11Logout(tokenUrl: string)");
    return env.Undefined();
  }
  std::string url = info[0].As<Napi::String>().Utf8Value();
  void* ptr = nullptr;
  unsigned long slot = 0;
  if (gnutls_pkcs11_token_get_ptr(url.c_str(), &ptr, &slot, 0) < 0 || ptr == nullptr) {
    return Napi::Boolean::New(env, false);
  }
  auto* fl = static_cast<CK_FUNCTION_LIST*>(ptr);
  CK_SESSION_HANDLE session = 0;
  if (fl->C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &session) != CKR_OK) {
    return Napi::Boolean::New(env, false);
  }
  fl->C_Logout(session);  // CKR_USER_NOT_LOGGED_IN is as good
  fl->C_CloseSession(session);
  return Napi::Boolean::New(env, true);
}

void InitPkcs11(Napi::Env env, Napi::Object exports) {
  // Any PIN GnuTLS wants outside a key we open ourselves goes the same way.
  gnutls_pkcs11_set_pin_function(PinCallback, nullptr);
  exports.Set("pkcs11Configure", Napi::Function::New(env, Configure, "pkcs11Configure"));
  exports.Set("pkcs11Logout", Napi::Function::New(env, Logout, "pkcs11Logout"));
}

RegisterModule reg(InitPkcs11);

}  // namespace
}  // namespace tls
}  // namespace tlspool
