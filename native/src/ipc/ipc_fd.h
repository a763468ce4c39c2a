// OwnedFd: a file descriptor owned by exactly one JavaScript object and
// closed exactly once (close(), release() hands it on, or the finalizer).
#pragma once
#include <napi.h>

namespace tlspool::ipc {

class OwnedFd : public Napi::ObjectWrap<OwnedFd> {
 public:
  // Wraps `fd`, taking ownership on every path: if the object cannot be made
  // (an exception is then pending) the fd has been closed already.
  static Napi::Object New(Napi::Env env, int fd);

  // The OwnedFd inside `value`, or nullptr if it is not one.
  static OwnedFd* From(Napi::Env env, Napi::Value value);

  static void Define(Napi::Env env);

  explicit OwnedFd(const Napi::CallbackInfo& info);
  ~OwnedFd() override;

  // The descriptor, or -1 once closed or released.
  int fd() const { return fd_; }

 private:
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value Dup(const Napi::CallbackInfo& info);

  int fd_ = -1;
};

}  // namespace tlspool::ipc
