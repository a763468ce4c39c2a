// Bytes that must not outlive their use: a PIN on its way from JavaScript to
// GnuTLS. Kept in pages of their own that are locked in memory (never
// swapped, where RLIMIT_MEMLOCK allows) and left out of core dumps
// (MADV_DONTDUMP), and wiped with explicit_bzero before they are freed.
#pragma once
#include <cstddef>

namespace tlspool {

class SecretBytes {
 public:
  // Room for `capacity` bytes; size() is 0 until set().
  explicit SecretBytes(size_t capacity);
  ~SecretBytes();
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  // False if the allocation failed.
  bool ok() const { return data_ != nullptr; }
  // Copies `n` bytes in (false if they do not fit).
  bool set(const unsigned char* src, size_t n);
  const unsigned char* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }

 private:
  unsigned char* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
  size_t mapped_ = 0;
  bool locked_ = false;
};

// Keep this process out of core dumps and from ptrace by others of its uid
// (prctl PR_SET_DUMPABLE 0). Returns 0 or an errno.
int MakeProcessUndumpable();

}  // namespace tlspool
