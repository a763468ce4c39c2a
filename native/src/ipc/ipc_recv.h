// One recvmsg on a stream socket, with the descriptors that came along.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tlspool::ipc {

// Most bytes one read delivers; also the size of the shared read buffer.
constexpr size_t kReadChunk = 64 * 1024;

struct Received {
  // > 0: bytes in `data`; 0: end of stream; < 0: failed with `error`
  // (EAGAIN/EWOULDBLOCK: nothing to read now).
  ssize_t n = 0;
  int error = 0;
  const uint8_t* data = nullptr;
  // Descriptors received (close-on-exec); the caller owns them. When the
  // kernel truncated the control data (MSG_CTRUNC) the ones that did not fit
  // are already gone and these are the ones that arrived.
  std::vector<int> fds;
  // MSG_CTRUNC: descriptors came with these bytes and some were lost, most
  // likely because this process has no free descriptor (EMFILE) for them;
  // the kernel closed them and the sender is not told.
  bool fds_lost = false;
};

// Reads once (retrying EINTR), at most `max` (<= kReadChunk) bytes. `data`
// points into a per-thread buffer that the next call overwrites.
Received RecvOnce(int sock, size_t max = kReadChunk);

}  // namespace tlspool::ipc
