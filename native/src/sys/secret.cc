#include "secret.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "errno_error.h"
#include "module.h"

namespace tlspool {

SecretBytes::SecretBytes(size_t capacity) {
  long page = sysconf(_SC_PAGESIZE);
  size_t p = page > 0 ? static_cast<size_t>(page) : 4096;
  size_t len = ((capacity + p - 1) / p) * p;
  if (len == 0) len = p;
  void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return;
  madvise(m, len, MADV_DONTDUMP);
  locked_ = mlock(m, len) == 0;  // best effort: RLIMIT_MEMLOCK may forbid it
  data_ = static_cast<unsigned char*>(m);
  mapped_ = len;
  capacity_ = capacity;
}

SecretBytes::~SecretBytes() {
  if (data_ == nullptr) return;
  explicit_bzero(data_, mapped_);
  if (locked_) munlock(data_, mapped_);
  munmap(data_, mapped_);
}

bool SecretBytes::set(const unsigned char* src, size_t n) {
  if (data_ == nullptr || n > capacity_) return false;
  memcpy(data_, src, n);
  size_ = n;
  return true;
}

int MakeProcessUndumpable() {
  return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 ? 0 : errno;
}

namespace {

// secureProcess(): prctl(PR_SET_DUMPABLE, 0) for the daemon.
Napi::Value SecureProcess(const Napi::CallbackInfo& info) {
  int e = MakeProcessUndumpable();
  if (e != 0) {
    ThrowErrno(info.Env(), e, "prctl", "PR_SET_DUMPABLE, 0");
  }
  return info.Env().Undefined();
}

void InitSecret(Napi::Env env, Napi::Object exports) {
  exports.Set("secureProcess", Napi::Function::New(env, SecureProcess, "secureProcess"));
}

RegisterModule reg(InitSecret);

}  // namespace
}  // namespace tlspool
