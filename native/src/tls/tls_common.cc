#include "tls_common.h"

#include "errno_error.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

namespace tlspool {
namespace tls {

Napi::Error MakeError(Napi::Env env, int err, const std::string& message, int gnutlsCode) {
  Napi::Error error = ErrnoError(env, err, message);
  if (!error.IsEmpty() && gnutlsCode != 0) error.Set("gnutls", Napi::String::New(env, GnutlsErrorName(gnutlsCode)));
  return error;
}

void ThrowError(Napi::Env env, int err, const std::string& message, int gnutlsCode) {
  Napi::Error error = MakeError(env, err, message, gnutlsCode);
  if (!error.IsEmpty()) error.ThrowAsJavaScriptException();
}

void ThrowTypeError(Napi::Env env, const std::string& message) {
  Napi::TypeError err = Napi::TypeError::New(env, message);
  err.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  err.ThrowAsJavaScriptException();
}

std::string GnutlsErrorName(int code) {
  const char* name = gnutls_strerror_name(code);
  if (name != nullptr) return name;
  return "GNUTLS_E_" + std::to_string(code);
}

std::string GnutlsMessage(const std::string& what, int code) {
  const char* text = gnutls_strerror(code);
  return what + ": " + (text ? text : GnutlsErrorName(code));
}

int DupCloexec(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 0); }

void CloseFd(int& fd) {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

bool GetOptionalString(Napi::Object obj, const char* key, std::string* out) {
  Napi::Value v = obj.Get(key);
  if (v.IsUndefined() || v.IsNull()) return false;
  if (!v.IsString()) {
    ThrowTypeError(obj.Env(), std::string("option '") + key + "' must be a string");
    return false;
  }
  *out = v.As<Napi::String>().Utf8Value();
  return true;
}

Napi::Array DerChainToJs(Napi::Env env, const DerChain& chain) {
  Napi::Array arr = Napi::Array::New(env, chain.size());
  for (size_t i = 0; i < chain.size(); i++) {
    arr.Set(static_cast<uint32_t>(i), Napi::Buffer<char>::Copy(env, chain[i].data(), chain[i].size()));
  }
  return arr;
}

}  // namespace tls
}  // namespace tlspool
