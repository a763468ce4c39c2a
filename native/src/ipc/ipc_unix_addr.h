// UNIX socket addresses and peer credentials.
#pragma once
#include <napi.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <string>

namespace tlspool::ipc {

// Fills `addr` for the filesystem path `path`. Throws (and returns false)
// when the path is empty, holds a NUL byte, or does not fit in sun_path
// (ENAMETOOLONG, naming the limit). `syscall` names the call in the error.
bool MakeUnixAddress(Napi::Env env, const std::string& path, const char* syscall, sockaddr_un* addr,
                     socklen_t* len);

// SO_PEERCRED of a connected UNIX socket: 0, or an errno value.
int ReadPeerCred(int fd, struct ucred* cred);

// A frozen { pid, uid, gid } object.
Napi::Object PeerCredObject(Napi::Env env, const struct ucred& cred);

}  // namespace tlspool::ipc
