// errno → name, text and JavaScript error. glibc ≥ 2.32 knows every name
// (strerrorname_np); elsewhere a table of the errors the addon can meet stands in.
#include "errno_error.h"

#include <errno.h>
#include <string.h>

namespace tlspool {

namespace {

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
#define TLSPOOL_HAVE_STRERRORNAME_NP 1
#endif

#ifndef TLSPOOL_HAVE_STRERRORNAME_NP
const char* NameFromTable(int err) {
  switch (err) {
#define E(name) \
  case name:    \
    return #name;
    E(EPERM) E(ENOENT) E(EINTR) E(EIO) E(EBADF) E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT) E(EBUSY) E(EEXIST)
    E(ENOTDIR) E(EISDIR) E(EINVAL) E(ENFILE) E(EMFILE) E(ENOSPC) E(EPIPE) E(ENAMETOOLONG) E(ENOSYS) E(ELOOP)
    E(ENOTSOCK) E(EDESTADDRREQ) E(EMSGSIZE) E(EPROTOTYPE) E(ENOPROTOOPT) E(EPROTONOSUPPORT) E(EOPNOTSUPP)
    E(EAFNOSUPPORT) E(EADDRINUSE) E(EADDRNOTAVAIL) E(ENETDOWN) E(ENETUNREACH) E(ECONNABORTED) E(ECONNRESET)
    E(ENOBUFS) E(EISCONN) E(ENOTCONN) E(ETOOMANYREFS) E(ETIMEDOUT) E(ECONNREFUSED) E(EHOSTUNREACH)
    E(EALREADY) E(EINPROGRESS) E(EROFS)
#undef E
    default:
      return nullptr;
  }
}

// strerror_r comes in two shapes (GNU returns a pointer, XSI an int); these
// overloads pick whichever the C library declared.
const char* TextFrom(int /*xsi_result*/, const char* buf) { return buf; }
const char* TextFrom(const char* gnu_result, const char* /*buf*/) { return gnu_result; }
#endif

}  // namespace

std::string ErrnoName(int err) {
#ifdef TLSPOOL_HAVE_STRERRORNAME_NP
  const char* name = strerrorname_np(err);
#else
  const char* name = NameFromTable(err);
#endif
  return name != nullptr ? name : "E" + std::to_string(err);
}

std::string ErrnoText(int err) {
#ifdef TLSPOOL_HAVE_STRERRORNAME_NP
  // Not localised and thread-safe, unlike strerror().
  const char* text = strerrordesc_np(err);
  if (text != nullptr) return text;
  return "Unknown error " + std::to_string(err);
#else
  char buf[256] = "";
  return TextFrom(strerror_r(err, buf, sizeof buf), buf);
#endif
}

Napi::Error ErrnoError(Napi::Env env, int err, const std::string& message) {
  const std::string name = ErrnoName(err);
  napi_value text = nullptr, error = nullptr, code = nullptr, number = nullptr;
  if (napi_create_string_utf8(env, message.data(), message.size(), &text) != napi_ok ||
      napi_create_error(env, nullptr, text, &error) != napi_ok ||
      napi_create_string_utf8(env, name.data(), name.size(), &code) != napi_ok ||
      napi_create_int32(env, err, &number) != napi_ok || napi_set_named_property(env, error, "code", code) != napi_ok ||
      napi_set_named_property(env, error, "errno", number) != napi_ok) {
    return Napi::Error();
  }
  return Napi::Error(env, error);
}

Napi::Error SyscallError(Napi::Env env, int err, const char* syscall, const std::string& detail,
                         const std::string& text) {
  std::string message = syscall;
  if (!detail.empty()) message += "(" + detail + ")";
  message += ": " + (text.empty() ? ErrnoText(err) : text);
  Napi::Error error = ErrnoError(env, err, message);
  napi_value call = nullptr;
  if (error.IsEmpty() || napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &call) != napi_ok ||
      napi_set_named_property(env, error.Value(), "syscall", call) != napi_ok) {
    return Napi::Error();
  }
  return error;
}

void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& detail, const std::string& text) {
  Napi::Error error = SyscallError(env, err, syscall, detail, text);
  if (!error.IsEmpty()) napi_throw(env, error.Value());
}

void ThrowType(Napi::Env env, const char* message) { Napi::TypeError::New(env, message).ThrowAsJavaScriptException(); }

}  // namespace tlspool
