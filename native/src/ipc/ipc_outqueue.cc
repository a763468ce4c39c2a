// See ipc_outqueue.h.
#include "ipc_outqueue.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace tlspool::ipc {

namespace {
// Entries gathered into one sendmsg; enough to batch many small replies.
constexpr size_t kMaxIov = 64;
}  // namespace

void OutQueue::Push(const uint8_t* data, size_t len, int fd) {
  Entry e;
  e.data.reset(new uint8_t[len]);
  memcpy(e.data.get(), data, len);
  e.len = len;
  e.fd = fd;
  entries_.push_back(std::move(e));
  bytes_ += len;
}

int OutQueue::Flush(int sock) {
  while (!entries_.empty()) {
    iovec iov[kMaxIov];
    size_t count = 0;
    for (auto it = entries_.begin(); it != entries_.end() && count < kMaxIov; ++it) {
      // A descriptor attaches to the first byte of the sendmsg that carries
      // it, so an entry with one must start a sendmsg of its own.
      if (it != entries_.begin() && it->fd >= 0) break;
      iov[count].iov_base = it->data.get() + it->sent;
      iov[count].iov_len = it->len - it->sent;
      ++count;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    // Only the front entry can carry a descriptor here (see above).
    const int pass_fd = entries_.front().fd;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    if (pass_fd >= 0) {
      memset(control, 0, sizeof control);
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
      cmsg->cmsg_level = SOL_SOCKET;
      cmsg->cmsg_type = SCM_RIGHTS;
      cmsg->cmsg_len = CMSG_LEN(sizeof(int));
      memcpy(CMSG_DATA(cmsg), &pass_fd, sizeof(int));
    }
    // MSG_NOSIGNAL: a vanished peer is an EPIPE to report, not a SIGPIPE.
    ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return errno;
    }
    // A stream socket that takes nothing without EAGAIN is full all the same.
    if (n == 0) return 0;
    Consume(static_cast<size_t>(n));
  }
  return 0;
}

void OutQueue::Consume(size_t n) {
  bytes_ -= n;
  while (n > 0) {
    Entry& front = entries_.front();
    // Any progress on an entry means its first byte, and so its fd, went out;
    // the peer holds its own reference to the file now.
    if (front.fd >= 0) {
      close(front.fd);
      front.fd = -1;
    }
    size_t take = front.len - front.sent;
    if (take > n) take = n;
    front.sent += take;
    n -= take;
    if (front.sent == front.len) {
      // A reply may carry a PIN (a PIN entry program's answer): no copy of
      // it stays behind in freed memory.
      explicit_bzero(front.data.get(), front.len);
      entries_.pop_front();
    }
  }
}

void OutQueue::Clear() {
  for (Entry& e : entries_) {
    if (e.fd >= 0) close(e.fd);
    explicit_bzero(e.data.get(), e.len);
  }
  entries_.clear();
  bytes_ = 0;
}

}  // namespace tlspool::ipc
