// socketpair(): a connected pair of AF_UNIX sockets as two OwnedFds.
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "errno_error.h"
#include "ipc_fd.h"
#include "module.h"

namespace tlspool::ipc {

namespace {

Napi::Value SocketPair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : std::string();
  int type;
  if (name == "stream") {
    type = SOCK_STREAM;
  } else if (name == "dgram") {
    type = SOCK_DGRAM;
  } else if (name == "seqpacket") {
    type = SOCK_SEQPACKET;
  } else {
    ThrowType(env, "socketpair(type): type must be 'stream', 'dgram' or 'seqpacket'");
    return Napi::Value();
  }
  // Close-on-exec but left blocking: these ends are made to be handed on
  // (to an application, or to the TLS side), and O_NONBLOCK lives in the
  // shared open file, so it is the user's to set.
  int sv[2];
  if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) != 0) {
    ThrowErrno(env, errno, "socketpair");
    return Napi::Value();
  }
  Napi::Object first = OwnedFd::New(env, sv[0]);
  if (first.IsEmpty()) {
    close(sv[1]);  // New() closed sv[0]
    return Napi::Value();
  }
  Napi::Object second = OwnedFd::New(env, sv[1]);
  if (second.IsEmpty()) return Napi::Value();  // `first` closes sv[0] when collected
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(0u, first);
  pair.Set(1u, second);
  return pair;
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("socketpair", Napi::Function::New(env, SocketPair, "socketpair"));
}

tlspool::RegisterModule reg(Init);

}  // namespace

}  // namespace tlspool::ipc
