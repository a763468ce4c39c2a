// notifySocket: one datagram to a UNIX datagram socket, as sd_notify(3) sends
// its state lines to $NOTIFY_SOCKET. Node has no UNIX datagram sockets, so
// this is the one sendto() the daemon needs. A path starting with '@' names
// a socket in the abstract namespace (the '@' stands for the leading NUL).
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <string>

#include "module.h"

namespace tlspool {
namespace {

void ThrowSys(Napi::Env env, int e, const std::string& what) {
  const char* code = strerrorname_np(e);
  Napi::Error err = Napi::Error::New(env, what + ": " + strerror(e));
  err.Set("code", Napi::String::New(env, code ? code : "E" + std::to_string(e)));
  err.Set("errno", Napi::Number::New(env, e));
  err.ThrowAsJavaScriptException();
}

// notifySocket(path: string, message: string | Uint8Array) -> undefined.
// Throws (with .code, the errno name) when the datagram cannot be sent.
Napi::Value NotifySocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !(info[1].IsString() || info[1].IsTypedArray())) {
    Napi::TypeError::New(env, "notifySocket(path: string, message: string | Uint8Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string message;
  if (info[1].IsString()) {
    message = info[1].As<Napi::String>().Utf8Value();
  } else {
    Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
    message.assign(reinterpret_cast<const char*>(bytes.Data()), bytes.ByteLength());
  }
  sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  bool abstract = !path.empty() && path[0] == '@';
  if (path.empty() || (!abstract && path[0] != '/') || path.size() > sizeof addr.sun_path ||
      (!abstract && path.size() == sizeof addr.sun_path) || path.find('\0') != std::string::npos) {
    ThrowSys(env, EINVAL, "notifySocket(\"" + path + "\"): not an absolute path or an @abstract name that fits sun_path");
    return env.Undefined();
  }
  memcpy(addr.sun_path, path.data(), path.size());
  if (abstract) addr.sun_path[0] = '\0';
  // An abstract name is exactly as long as the address says, no terminator.
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1));
  // Non-blocking: a receiver that stops reading costs a lost status line (EAGAIN), never a stalled daemon.
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    ThrowSys(env, errno, "socket");
    return env.Undefined();
  }
  ssize_t sent;
  do {
    sent = sendto(fd, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), len);
  } while (sent < 0 && errno == EINTR);
  int e = errno;
  close(fd);
  if (sent < 0) {
    ThrowSys(env, e, "sendto(\"" + path + "\")");
    return env.Undefined();
  }
  return env.Undefined();
}

void InitNotify(Napi::Env env, Napi::Object exports) {
  exports.Set("notifySocket", Napi::Function::New(env, NotifySocket, "notifySocket"));
}

RegisterModule reg(InitNotify);

}  // namespace
}  // namespace tlspool
