// UnixListener: a listening UNIX stream socket that accepts from the event
// loop and hands each connection to JavaScript as a UnixConnection.
#pragma once
#include <napi.h>

#include <memory>
#include <string>

#include "ipc_watch.h"

namespace tlspool::ipc {

class UnixListener : public Napi::ObjectWrap<UnixListener>, private WatchOwner {
 public:
  static void Define(Napi::Env env);

  // Wraps a bound, listening, non-blocking socket and starts accepting.
  // Takes ownership of `fd` on every path (closed on failure, with an
  // exception pending and an empty object returned).
  // `on_error` (may be empty) is called with the errno error each time
  // accepting fails for want of resources, before the pause.
  static Napi::Object New(Napi::Env env, int fd, const std::string& path, Napi::Function on_connection,
                          Napi::Function on_error);

  explicit UnixListener(const Napi::CallbackInfo& info);
  ~UnixListener() override;

 private:
  Napi::Value Close(const Napi::CallbackInfo& info);

  void OnPoll(int status, int events) override;
  void OnTimer() override;
  // Accepting failed for want of resources (EMFILE, ...): stop watching the
  // socket for a moment instead of spinning on its readiness, and tell
  // on_error_ (which may close us).
  void Backoff(int err, const char* syscall);
  void Shutdown();

  int fd_ = -1;
  Watch* watch_ = nullptr;
  bool closed_ = false;
  bool held_ = false;
  int calling_ = 0;
  Napi::FunctionReference on_connection_;
  Napi::FunctionReference on_error_;
  std::unique_ptr<Napi::AsyncContext> async_;
};

}  // namespace tlspool::ipc
