// Small helpers shared by the TLS engine's files (tls_*.cc): error objects,
// descriptor utilities and GnuTLS datum handling. Mechanism only.
#pragma once
#include <napi.h>
#include <gnutls/gnutls.h>

#include <string>
#include <vector>

namespace tlspool {
namespace tls {

// ErrnoError (errno_error.h) with .gnutls too when a GnuTLS code is known.
Napi::Error MakeError(Napi::Env env, int err, const std::string& message, int gnutlsCode = 0);
// Throws (sets the pending exception); callers return right after.
void ThrowError(Napi::Env env, int err, const std::string& message, int gnutlsCode = 0);
void ThrowTypeError(Napi::Env env, const std::string& message);

// "GNUTLS_E_AGAIN" for a GnuTLS error code, "GNUTLS_E_<n>" for unknown ones.
std::string GnutlsErrorName(int code);
// "<what>: <GnuTLS's sentence>".
std::string GnutlsMessage(const std::string& what, int code);

// dup(fd) with FD_CLOEXEC; -1 and errno on failure.
int DupCloexec(int fd);
// close() that retries nothing (Linux closes even on EINTR) and sets fd = -1.
void CloseFd(int& fd);

// Reads a string property; false if absent/undefined. Throws (and returns
// false with a pending exception) if present but not a string.
bool GetOptionalString(Napi::Object obj, const char* key, std::string* out);

// The DER of a certificate chain, copied out of GnuTLS datums.
using DerChain = std::vector<std::string>;
Napi::Array DerChainToJs(Napi::Env env, const DerChain& chain);

// Owns a datum allocated by GnuTLS (gnutls_free on destruction).
struct GnutlsDatum {
  gnutls_datum_t d{nullptr, 0};
  GnutlsDatum() = default;
  GnutlsDatum(const GnutlsDatum&) = delete;
  GnutlsDatum& operator=(const GnutlsDatum&) = delete;
  ~GnutlsDatum() { if (d.data) gnutls_free(d.data); }
  std::string str() const { return d.data ? std::string(reinterpret_cast<const char*>(d.data), d.size) : std::string(); }
};

inline gnutls_datum_t DatumOf(const std::string& s) {
  gnutls_datum_t d;
  d.data = reinterpret_cast<unsigned char*>(const_cast<char*>(s.data()));
  d.size = static_cast<unsigned>(s.size());
  return d;
}

}  // namespace tls
}  // namespace tlspool
