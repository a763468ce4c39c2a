// connectUnix(): the client side of a UNIX stream socket.
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc_connection.h"
#include "errno_error.h"
#include "ipc_unix_addr.h"
#include "module.h"

namespace tlspool::ipc {

namespace {

Napi::Value ConnectUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) {
    ThrowType(env, "connectUnix(path): path must be a string");
    return Napi::Value();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  sockaddr_un addr;
  socklen_t addr_len;
  if (!MakeUnixAddress(env, path, "connect", &addr, &addr_len)) return Napi::Value();

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno(env, errno, "socket");
    return Napi::Value();
  }
  // On AF_UNIX a connect completes or fails at once, even non-blocking; the
  // one would-block case is EAGAIN for a full backlog, which the caller hears
  // about like any other failure.
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), addr_len) != 0) {
    int err = errno;
    close(fd);
    ThrowErrno(env, err, "connect", path);
    return Napi::Value();
  }
  struct ucred peer;
  int err = ReadPeerCred(fd, &peer);
  if (err != 0) {
    close(fd);
    ThrowErrno(env, err, "getsockopt", "SO_PEERCRED");
    return Napi::Value();
  }
  return UnixConnection::New(env, fd, peer, UnixConnection::Side::kConnected);  // owns fd now, whatever happens
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("connectUnix", Napi::Function::New(env, ConnectUnix, "connectUnix"));
}

tlspool::RegisterModule reg(Init);

}  // namespace

}  // namespace tlspool::ipc
