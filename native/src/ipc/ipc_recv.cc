// See ipc_recv.h.
#include "ipc_recv.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <memory>

namespace tlspool::ipc {

namespace {

// Room for several descriptors per read: a peer normally sends one at a time.
constexpr size_t kMaxFdsPerRead = 8;

// One buffer per thread, not per connection: data is copied out before any
// JavaScript runs, so idle connections cost no 64 KiB each.
uint8_t* ReadBuffer() {
  thread_local std::unique_ptr<uint8_t[]> buffer(new uint8_t[kReadChunk]);
  return buffer.get();
}

}  // namespace

Received RecvOnce(int sock, size_t max) {
  Received r;
  uint8_t* buf = ReadBuffer();
  iovec iov{buf, max < kReadChunk ? max : kReadChunk};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerRead)];
  msghdr msg{};
  ssize_t n;
  do {
    msg = msghdr{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    // MSG_CMSG_CLOEXEC: received descriptors must not leak into children
    // spawned before the caller gets to them.
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    r.n = -1;
    r.error = errno;
    return r;
  }
  r.n = n;
  r.data = buf;
  r.fds_lost = (msg.msg_flags & MSG_CTRUNC) != 0;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const unsigned char* p = CMSG_DATA(cmsg);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      memcpy(&fd, p + i * sizeof(int), sizeof(int));  // CMSG_DATA may be unaligned for int
      r.fds.push_back(fd);
    }
  }
  return r;
}

}  // namespace tlspool::ipc
