// The output queue of one connection: bytes accepted by send() and not yet
// written, each entry optionally carrying a descriptor that must travel as
// SCM_RIGHTS with the entry's first byte.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>

namespace tlspool::ipc {

class OutQueue {
 public:
  OutQueue() = default;
  OutQueue(const OutQueue&) = delete;
  OutQueue& operator=(const OutQueue&) = delete;
  ~OutQueue() { Clear(); }

  // Copies `len` (> 0) bytes, and wipes the copy once it is written or
  // dropped. `fd` is -1 or a descriptor the queue now owns and closes once
  // it has been sent or the queue is dropped.
  void Push(const uint8_t* data, size_t len, int fd);

  // Writes as much as the socket takes without blocking. Returns 0 when the
  // queue is empty or the socket is full (poll for writable), else the errno
  // of the failed sendmsg (EPIPE, ECONNRESET, ...).
  int Flush(int sock);

  // Drops everything, closing the descriptors not yet sent.
  void Clear();

  size_t bytes() const { return bytes_; }
  bool empty() const { return entries_.empty(); }

 private:
  struct Entry {
    std::unique_ptr<uint8_t[]> data;
    size_t len = 0;
    size_t sent = 0;  // bytes of this entry already written
    int fd = -1;      // closed (and set to -1) once the first byte is out
  };
  // Takes `n` written bytes off the front.
  void Consume(size_t n);

  std::deque<Entry> entries_;
  size_t bytes_ = 0;
};

}  // namespace tlspool::ipc
