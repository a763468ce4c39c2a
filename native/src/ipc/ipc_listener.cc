// See ipc_listener.h; also listenUnix().
#include "ipc_listener.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include <climits>
#include <cstddef>

#include "ipc_callback.h"
#include "ipc_connection.h"
#include "ipc_env.h"
#include "errno_error.h"
#include "ipc_unix_addr.h"
#include "module.h"

namespace tlspool::ipc {

namespace {

// How long accepting pauses when the process or system is out of
// descriptors or memory. Long enough not to burn CPU, short enough that
// waiting clients barely notice once something has been freed.
constexpr uint64_t kBackoffMs = 100;

struct PendingListener {
  int fd;
  const std::string* path;
  Napi::Function on_connection;
  Napi::Function on_error;  // empty: accept failures are not reported
};
thread_local PendingListener* t_pending = nullptr;

Napi::Value ListenUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) {
    ThrowType(env, "listenUnix(path, backlog, onConnection): path must be a string");
    return Napi::Value();
  }
  if (!info[1].IsNumber()) {
    ThrowType(env, "listenUnix(path, backlog, onConnection): backlog must be a number");
    return Napi::Value();
  }
  double backlog = info[1].As<Napi::Number>().DoubleValue();
  if (!(backlog >= 0 && backlog <= INT_MAX) || backlog != static_cast<double>(static_cast<int>(backlog))) {
    ThrowType(env, "listenUnix(path, backlog, onConnection): backlog must be a non-negative integer");
    return Napi::Value();
  }
  if (!info[2].IsFunction()) {
    ThrowType(env, "listenUnix(path, backlog, onConnection): onConnection must be a function");
    return Napi::Value();
  }
  Napi::Function on_error;
  if (info.Length() > 3 && !info[3].IsUndefined()) {
    if (!info[3].IsFunction()) {
      ThrowType(env, "listenUnix(path, backlog, onConnection, onAcceptError?): onAcceptError must be a function");
      return Napi::Value();
    }
    on_error = info[3].As<Napi::Function>();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  sockaddr_un addr;
  socklen_t addr_len;
  if (!MakeUnixAddress(env, path, "bind", &addr, &addr_len)) return Napi::Value();

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno(env, errno, "socket");
    return Napi::Value();
  }
  // EADDRINUSE goes to the caller as is: whether an existing socket file is
  // stale is for the TypeScript side to find out.
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "bind", path);
    return Napi::Value();
  }
  if (listen(fd, static_cast<int>(backlog)) != 0) {
    int err = errno;
    close(fd);
    // bind() just created this file and nobody can be using it: remove it.
    unlink(path.c_str());
    ThrowErrno(env, err, "listen", path);
    return Napi::Value();
  }
  return UnixListener::New(env, fd, path, info[2].As<Napi::Function>(), on_error);
}

// listenFd(fd, onConnection, onAcceptError?): accept on a listening socket
// this process was given (systemd's socket activation passes them from fd 3
// on). It must be a UNIX stream socket that listens and is bound to a
// filesystem path; the listener's `path` is that path. The descriptor is
// made non-blocking and close-on-exec, so a child never inherits it. Takes
// ownership once the checks pass (closed if wrapping it then fails); a
// descriptor that is refused stays the caller's.
Napi::Value ListenFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) {
    ThrowType(env, "listenFd(fd, onConnection): fd must be a number");
    return Napi::Value();
  }
  double number = info[0].As<Napi::Number>().DoubleValue();
  if (!(number >= 0 && number <= INT_MAX) || number != static_cast<double>(static_cast<int>(number))) {
    ThrowType(env, "listenFd(fd, onConnection): fd must be a non-negative integer");
    return Napi::Value();
  }
  int fd = static_cast<int>(number);
  if (!info[1].IsFunction()) {
    ThrowType(env, "listenFd(fd, onConnection): onConnection must be a function");
    return Napi::Value();
  }
  Napi::Function on_error;
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    if (!info[2].IsFunction()) {
      ThrowType(env, "listenFd(fd, onConnection, onAcceptError?): onAcceptError must be a function");
      return Napi::Value();
    }
    on_error = info[2].As<Napi::Function>();
  }
  const std::string detail = "fd " + std::to_string(fd);
  int value = 0;
  socklen_t len = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &value, &len) != 0) {
    int err = errno;
    ThrowErrno(env, err, "getsockopt", detail, err == ENOTSOCK ? "not a socket" : std::string());
    return Napi::Value();
  }
  if (value != AF_UNIX) {
    ThrowErrno(env, EAFNOSUPPORT, "listenFd", detail, "not a UNIX socket");
    return Napi::Value();
  }
  len = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &len) != 0 || value != SOCK_STREAM) {
    ThrowErrno(env, EPROTOTYPE, "listenFd", detail, "not a stream socket");
    return Napi::Value();
  }
  len = sizeof value;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) != 0 || value == 0) {
    ThrowErrno(env, EINVAL, "listenFd", detail, "the socket does not listen");
    return Napi::Value();
  }
  sockaddr_un addr;
  std::memset(&addr, 0, sizeof addr);
  socklen_t addr_len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0) {
    ThrowErrno(env, errno, "getsockname", detail);
    return Napi::Value();
  }
  size_t path_len = addr_len > offsetof(sockaddr_un, sun_path) ? addr_len - offsetof(sockaddr_un, sun_path) : 0;
  if (path_len == 0 || addr.sun_path[0] == '\0') {
    ThrowErrno(env, EINVAL, "listenFd", detail, "the socket is not bound to a path (unnamed or abstract)");
    return Napi::Value();
  }
  std::string path(addr.sun_path, strnlen(addr.sun_path, path_len));
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    ThrowErrno(env, errno, "fcntl", detail);
    return Napi::Value();
  }
  int fdflags = fcntl(fd, F_GETFD);
  if (fdflags < 0 || fcntl(fd, F_SETFD, fdflags | FD_CLOEXEC) != 0) {
    ThrowErrno(env, errno, "fcntl", detail);
    return Napi::Value();
  }
  return UnixListener::New(env, fd, path, info[1].As<Napi::Function>(), on_error);
}

void Init(Napi::Env env, Napi::Object exports) {
  UnixListener::Define(env);
  exports.Set("listenUnix", Napi::Function::New(env, ListenUnix, "listenUnix"));
  exports.Set("listenFd", Napi::Function::New(env, ListenFd, "listenFd"));
}

tlspool::RegisterModule reg(Init);

}  // namespace

void UnixListener::Define(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "UnixListener", {InstanceMethod<&UnixListener::Close>("close")});
  EnvState(env).listener = Napi::Persistent(ctor);
}

Napi::Object UnixListener::New(Napi::Env env, int fd, const std::string& path, Napi::Function on_connection,
                               Napi::Function on_error) {
  PendingListener pending{fd, &path, on_connection, on_error};
  t_pending = &pending;
  Napi::Object obj = NewInstance(env, EnvState(env).listener);
  if (t_pending != nullptr) {
    t_pending = nullptr;
    close(fd);
    return Napi::Object();
  }
  return obj;
}

UnixListener::UnixListener(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UnixListener>(info) {
  Napi::Env env = info.Env();
  if (t_pending == nullptr) {
    ThrowType(env, "UnixListener cannot be constructed from JavaScript; use listenUnix()");
    return;
  }
  PendingListener pending = *t_pending;
  t_pending = nullptr;
  fd_ = pending.fd;  // ours from here on; the destructor closes it if we fail below
  int rc = 0;
  watch_ = Watch::Open(EnvState(env).loop, fd_, this, &rc);
  if (watch_ == nullptr) {
    ThrowErrno(env, -rc, "uv_poll_init");
    return;
  }
  rc = watch_->SetEvents(UV_READABLE);
  if (rc != 0) {
    ThrowErrno(env, -rc, "uv_poll_start");
    return;
  }
  info.This().As<Napi::Object>().DefineProperty(
      Napi::PropertyDescriptor::Value("path", Napi::String::New(env, *pending.path), napi_enumerable));
  on_connection_ = Napi::Persistent(pending.on_connection);
  if (!pending.on_error.IsEmpty()) on_error_ = Napi::Persistent(pending.on_error);
  async_ = std::make_unique<Napi::AsyncContext>(env, "tlspool.UnixListener");
  // Listening until close(): the loop may call us at any time until then.
  Ref();
  held_ = true;
}

UnixListener::~UnixListener() {
  // Reached without close() only for a listener whose construction failed, or
  // at environment teardown (we hold a strong reference while open).
  closed_ = true;
  if (watch_ != nullptr) watch_->Close();
  if (fd_ >= 0) close(fd_);
}

Napi::Value UnixListener::Close(const Napi::CallbackInfo& info) {
  Shutdown();
  return info.Env().Undefined();
}

void UnixListener::OnPoll(int status, int /*events*/) {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Napi::Object self = Value();  // pins `this` if a callback closes us
  if (status < 0) {
    Backoff(-status, "uv_poll");
    return;
  }
  // Drain the backlog: readiness is reported once per loop turn however many
  // clients are waiting.
  while (!closed_) {
    if (!CanRunJs(env)) {
      // The environment is stopping: leave the clients waiting, stop
      // watching; the finalizer closes the socket.
      watch_->SetEvents(0);
      watch_->StopTimer();
      return;
    }
    int fd = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == EINTR || err == ECONNABORTED) continue;  // that client is gone; others may wait
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      // EMFILE, ENFILE, ENOBUFS, ENOMEM, or something unexpected: the socket
      // stays readable, so retrying now would spin. The client waits in the
      // backlog meanwhile.
      Backoff(err, "accept");
      break;
    }
    struct ucred peer;
    if (ReadPeerCred(fd, &peer) != 0) {
      // Cannot happen on AF_UNIX; a client we cannot identify is not served.
      close(fd);
      continue;
    }
    Napi::HandleScope inner(env);
    Napi::Object conn = UnixConnection::New(env, fd, peer, UnixConnection::Side::kAccepted);  // owns fd now
    if (conn.IsEmpty()) {
      RaisePending(env);
      continue;
    }
    ++calling_;
    CallFromLoop(env, on_connection_, self, {conn}, *async_);
    --calling_;
  }
  if (closed_ && calling_ == 0) async_.reset();  // closed from inside a callback
}

void UnixListener::OnTimer() {
  if (closed_) return;
  // If even this fails, try again after another pause.
  if (watch_->SetEvents(UV_READABLE) != 0) watch_->StartTimer(kBackoffMs);
}

void UnixListener::Backoff(int err, const char* syscall) {
  watch_->SetEvents(0);
  watch_->StartTimer(kBackoffMs);
  // Told after the pause is set up: the callback may close us.
  if (on_error_.IsEmpty() || !CanRunJs(Env())) return;
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Napi::Error error = SyscallError(env, err, syscall);
  if (error.IsEmpty()) return;
  error.Value().Set("retryMs", Napi::Number::New(env, static_cast<double>(kBackoffMs)));
  ++calling_;
  CallFromLoop(env, on_error_, Value(), {error.Value()}, *async_);
  --calling_;
  if (closed_ && calling_ == 0) async_.reset();  // closed from inside onAcceptError
}

void UnixListener::Shutdown() {
  if (closed_) return;
  closed_ = true;
  on_connection_.Reset();
  on_error_.Reset();
  watch_->Close();  // stops polling first, so closing the fd next is safe
  watch_ = nullptr;
  close(fd_);
  fd_ = -1;
  if (held_) {
    Unref();
    held_ = false;
  }
  if (calling_ == 0) async_.reset();
}

}  // namespace tlspool::ipc
