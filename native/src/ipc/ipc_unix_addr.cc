// See ipc_unix_addr.h.
#include "ipc_unix_addr.h"

#include <errno.h>
#include <string.h>

#include <cstddef>

#include "errno_error.h"

namespace tlspool::ipc {

bool MakeUnixAddress(Napi::Env env, const std::string& path, const char* syscall, sockaddr_un* addr,
                     socklen_t* len) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (path.empty()) {
    // An empty address would autobind (listen) or fail oddly (connect).
    ThrowErrno(env, EINVAL, syscall, path, "the socket path is empty");
    return false;
  }
  if (path.find('\0') != std::string::npos) {
    // Abstract-namespace names are not used here; a NUL is a caller's bug.
    ThrowErrno(env, EINVAL, syscall, path, "the socket path contains a NUL byte");
    return false;
  }
  // Keep room for the terminating NUL so the address is an ordinary C string.
  if (path.size() >= sizeof addr->sun_path) {
    ThrowErrno(env, ENAMETOOLONG, syscall, path,
               "the socket path is " + std::to_string(path.size()) + " bytes; a UNIX socket path holds at most " +
                   std::to_string(sizeof addr->sun_path - 1));
    return false;
  }
  memcpy(addr->sun_path, path.data(), path.size());
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return true;
}

int ReadPeerCred(int fd, struct ucred* cred) {
  socklen_t len = sizeof *cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) != 0) return errno;
  return 0;
}

Napi::Object PeerCredObject(Napi::Env env, const struct ucred& cred) {
  Napi::Object obj = Napi::Object::New(env);
  obj.Set("pid", Napi::Number::New(env, cred.pid));
  obj.Set("uid", Napi::Number::New(env, cred.uid));
  obj.Set("gid", Napi::Number::New(env, cred.gid));
  obj.Freeze();
  return obj;
}

}  // namespace tlspool::ipc
