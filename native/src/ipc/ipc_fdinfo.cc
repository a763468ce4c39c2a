// fdInfo(): what kind of descriptor a number is, without changing it; enough
// for the STARTTLS code to check an fd an application handed over.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <climits>

#include "errno_error.h"
#include "module.h"

namespace tlspool::ipc {

namespace {

const char* TypeName(int type) {
  switch (type) {
    case SOCK_STREAM:
      return "stream";
    case SOCK_DGRAM:
      return "dgram";
    case SOCK_SEQPACKET:
      return "seqpacket";
    case SOCK_RAW:
      return "raw";
    default:
      return "other";
  }
}

// getsockopt(SOL_SOCKET, `option`) as an int; 0 or an errno value.
int IntOption(int fd, int option, int* value) {
  socklen_t len = sizeof *value;
  if (getsockopt(fd, SOL_SOCKET, option, value, &len) != 0) return errno;
  return 0;
}

Napi::Value FdInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) {
    ThrowType(env, "fdInfo(fd): fd must be a number");
    return Napi::Value();
  }
  double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= INT_MIN && n <= INT_MAX) || n != static_cast<double>(static_cast<int>(n))) {
    ThrowType(env, "fdInfo(fd): fd must be an integer");
    return Napi::Value();
  }
  int fd = static_cast<int>(n);  // a negative one fails below with EBADF
  std::string detail = std::to_string(fd);

  struct stat st;
  if (fstat(fd, &st) != 0) {
    ThrowErrno(env, errno, "fstat", detail);
    return Napi::Value();
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("isSocket", Napi::Boolean::New(env, S_ISSOCK(st.st_mode)));
  if (!S_ISSOCK(st.st_mode)) return result;

  int type = 0, domain = 0, protocol = 0, err = 0;
  if ((err = IntOption(fd, SO_TYPE, &type)) != 0 || (err = IntOption(fd, SO_DOMAIN, &domain)) != 0 ||
      (err = IntOption(fd, SO_PROTOCOL, &protocol)) != 0) {
    ThrowErrno(env, err, "getsockopt", detail);
    return Napi::Value();
  }
  sockaddr_storage peer;
  socklen_t peer_len = sizeof peer;
  bool connected = true;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) {
    if (errno != ENOTCONN) {
      ThrowErrno(env, errno, "getpeername", detail);
      return Napi::Value();
    }
    connected = false;
  }
  result.Set("type", Napi::String::New(env, TypeName(type)));
  result.Set("family", Napi::Number::New(env, domain));
  result.Set("protocol", Napi::Number::New(env, protocol));
  result.Set("connected", Napi::Boolean::New(env, connected));
  // The peer as "address:port" ([v6]:port), for messages a person reads.
  char host[INET6_ADDRSTRLEN] = "";
  if (connected && peer.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&peer);
    if (inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host)) != nullptr) {
      result.Set("peerAddress", Napi::String::New(env, std::string(host) + ":" + std::to_string(ntohs(a->sin_port))));
    }
  } else if (connected && peer.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&peer);
    if (inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host)) != nullptr) {
      result.Set("peerAddress", Napi::String::New(env, "[" + std::string(host) + "]:" + std::to_string(ntohs(a->sin6_port))));
    }
  }
  return result;
}

// peerHungUp(fd): whether the other end of a stream socket has hung up (shut
// down its sending side, closed, or the socket failed): a poll() that does
// not wait, and reads nothing of what is queued.
Napi::Value PeerHungUp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) {
    ThrowType(env, "peerHungUp(fd): fd must be a number");
    return Napi::Value();
  }
  double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 0 && n <= INT_MAX) || n != static_cast<double>(static_cast<int>(n))) {
    ThrowType(env, "peerHungUp(fd): fd must be a non-negative integer");
    return Napi::Value();
  }
  pollfd p = {static_cast<int>(n), POLLRDHUP, 0};
  int r = poll(&p, 1, 0);
  if (r < 0) {
    ThrowErrno(env, errno, "poll", std::to_string(p.fd));
    return Napi::Value();
  }
  if (r == 1 && (p.revents & POLLNVAL)) {
    ThrowErrno(env, EBADF, "poll", std::to_string(p.fd));
    return Napi::Value();
  }
  return Napi::Boolean::New(env, r == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0);
}

void Init(Napi::Env env, Napi::Object exports) {
  exports.Set("fdInfo", Napi::Function::New(env, FdInfo, "fdInfo"));
  exports.Set("peerHungUp", Napi::Function::New(env, PeerHungUp, "peerHungUp"));
}

tlspool::RegisterModule reg(Init);

}  // namespace

}  // namespace tlspool::ipc
