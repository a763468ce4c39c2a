// OwnedFd (see ipc_fd.h) and adoptFd().
#include "ipc_fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <climits>

#include "ipc_env.h"
#include "errno_error.h"
#include "module.h"

namespace tlspool::ipc {

namespace {

// The fd handed from New() to the constructor. JavaScript cannot set it, so
// `new (fd.constructor)()` from script fails instead of forging an owner.
thread_local int t_pending_fd = -1;
thread_local bool t_pending = false;

Napi::Value AdoptFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) {
    ThrowType(env, "adoptFd(fd): fd must be a number");
    return Napi::Value();
  }
  double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 0 && n <= INT_MAX) || n != static_cast<double>(static_cast<int>(n))) {
    ThrowType(env, "adoptFd(fd): fd must be a non-negative integer");
    return Napi::Value();
  }
  int fd = static_cast<int>(n);
  // Refuse a number that is not open now rather than own nothing.
  if (fcntl(fd, F_GETFD) < 0) {
    ThrowErrno(env, errno, "fcntl", std::to_string(fd));
    return Napi::Value();
  }
  return OwnedFd::New(env, fd);
}

void Init(Napi::Env env, Napi::Object exports) {
  OwnedFd::Define(env);
  exports.Set("adoptFd", Napi::Function::New(env, AdoptFd, "adoptFd"));
}

tlspool::RegisterModule reg(Init);

}  // namespace

void OwnedFd::Define(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "OwnedFd",
                                    {
                                        InstanceAccessor<&OwnedFd::GetFd>("fd"),
                                        InstanceAccessor<&OwnedFd::GetClosed>("closed"),
                                        InstanceMethod<&OwnedFd::Close>("close"),
                                        InstanceMethod<&OwnedFd::Release>("release"),
                                        InstanceMethod<&OwnedFd::Dup>("dup"),
                                    });
  EnvState(env).owned_fd = Napi::Persistent(ctor);
}

Napi::Object OwnedFd::New(Napi::Env env, int fd) {
  t_pending_fd = fd;
  t_pending = true;
  Napi::Object obj = NewInstance(env, EnvState(env).owned_fd);
  if (t_pending) {
    // The constructor did not run (an exception is pending): nobody owns fd.
    t_pending = false;
    close(fd);
    return Napi::Object();
  }
  return obj;
}

OwnedFd* OwnedFd::From(Napi::Env env, Napi::Value value) {
  if (!value.IsObject()) return nullptr;
  Napi::Object obj = value.As<Napi::Object>();
  bool is_owned_fd = false;
  napi_status status = napi_instanceof(env, obj, EnvState(env).owned_fd.Value(), &is_owned_fd);
  if (status != napi_ok || !is_owned_fd) return nullptr;
  return Unwrap(obj);
}

OwnedFd::OwnedFd(const Napi::CallbackInfo& info) : Napi::ObjectWrap<OwnedFd>(info) {
  if (!t_pending) {
    ThrowType(info.Env(), "OwnedFd cannot be constructed from JavaScript; use adoptFd()");
    return;
  }
  fd_ = t_pending_fd;
  t_pending = false;
}

OwnedFd::~OwnedFd() {
  // The safety net: JavaScript dropped the object without close()/release().
  if (fd_ >= 0) close(fd_);
}

Napi::Value OwnedFd::GetFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), fd_); }

Napi::Value OwnedFd::GetClosed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), fd_ < 0); }

Napi::Value OwnedFd::Close(const Napi::CallbackInfo& info) {
  if (fd_ >= 0) {
    // Linux releases the number even when close() reports EINTR or EIO, so
    // there is nothing to retry and nothing useful to tell the caller.
    close(fd_);
    fd_ = -1;
  }
  return info.Env().Undefined();
}

Napi::Value OwnedFd::Release(const Napi::CallbackInfo& info) {
  if (fd_ < 0) {
    // Returning -1 would let a caller pass it on as if it were a descriptor.
    ThrowErrno(info.Env(), EBADF, "release", std::string(), "the descriptor is already closed or released");
    return Napi::Value();
  }
  int fd = fd_;
  fd_ = -1;
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value OwnedFd::Dup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int copy = fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) {
    ThrowErrno(env, errno, "fcntl", "F_DUPFD_CLOEXEC");
    return Napi::Value();
  }
  return New(env, copy);
}

}  // namespace tlspool::ipc
