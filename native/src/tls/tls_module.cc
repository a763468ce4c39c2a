// The TLS engine's part of the addon: registers TlsCredentials,
// tlsStartSession, tlsVerifyChain, tlsCertInfo and a few descriptor helpers
// (tlsDupFd, tlsCloseFd, tlsPollFd) used by tests and by callers that hold
// plain descriptor numbers.
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "errno_error.h"
#include "module.h"
#include "tls_common.h"
#include "tls_credentials.h"
#include "tls_revocation.h"
#include "tls_session.h"
#include "tls_trust.h"
#include "tls_x509.h"

namespace tlspool {
namespace tls {
namespace {

bool FdArg(const Napi::CallbackInfo& info, int* fd) {
  if (info.Length() < 1 || !info[0].IsNumber()) {
    ThrowTypeError(info.Env(), "expected a descriptor number");
    return false;
  }
  *fd = info[0].As<Napi::Number>().Int32Value();
  return true;
}

// tlsDupFd(fd) -> a new close-on-exec descriptor the caller owns.
Napi::Value DupFd(const Napi::CallbackInfo& info) {
  int fd;
  if (!FdArg(info, &fd)) return info.Env().Undefined();
  int d = DupCloexec(fd);
  if (d < 0) {
    ThrowErrno(info.Env(), errno, "dup");
    return info.Env().Undefined();
  }
  return Napi::Number::New(info.Env(), d);
}

// tlsCloseFd(fd)
Napi::Value CloseFdJs(const Napi::CallbackInfo& info) {
  int fd;
  if (!FdArg(info, &fd)) return info.Env().Undefined();
  if (close(fd) < 0 && errno != EINTR) ThrowErrno(info.Env(), errno, "close");
  return info.Env().Undefined();
}

// tlsPollFd(fd, 'in' | 'out', timeoutMs) -> true when ready (or hung up),
// false on timeout. Blocks the calling thread for at most timeoutMs.
Napi::Value PollFd(const Napi::CallbackInfo& info) {
  int fd;
  if (!FdArg(info, &fd)) return info.Env().Undefined();
  std::string dir = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "in";
  int timeout = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
  struct pollfd p = {fd, static_cast<short>(dir == "out" ? POLLOUT : POLLIN), 0};
  int r;
  do {
    r = poll(&p, 1, timeout);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    ThrowErrno(info.Env(), errno, "poll");
    return info.Env().Undefined();
  }
  return Napi::Boolean::New(info.Env(), r > 0);
}

void InitTls(Napi::Env env, Napi::Object exports) {
  CredentialsWrap::Init(env, exports);
  InitSessions(env, exports);
  InitX509(env, exports);
  InitRevocation(env, exports);
  TrustStore::Init(env, exports);
  exports.Set("tlsDupFd", Napi::Function::New(env, DupFd, "tlsDupFd"));
  exports.Set("tlsCloseFd", Napi::Function::New(env, CloseFdJs, "tlsCloseFd"));
  exports.Set("tlsPollFd", Napi::Function::New(env, PollFd, "tlsPollFd"));
  exports.Set("tlsGnutlsVersion", Napi::String::New(env, gnutls_check_version(nullptr)));
}

static tlspool::RegisterModule reg(InitTls);

}  // namespace
}  // namespace tls
}  // namespace tlspool
