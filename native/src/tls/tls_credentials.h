// Local credentials (a certificate chain and its private key), loaded once
// and shared by every session that presents them. JavaScript holds them as
// a TlsCredentials object; a session keeps its own reference for as long as
// GnuTLS may use them, so closing the JavaScript object mid-handshake is safe.
//
// A key on a PKCS #11 token may need the token's PIN to be opened, and the
// PIN is asked of JavaScript from a session thread (AskJavaScript), never on
// the JavaScript thread. So a pkcs11: key is opened lazily, by the first
// session that presents it (EnsureKey, on its session thread); sessions that
// need it meanwhile wait for that one import instead of starting their own,
// so one locked token means one PIN request per identity; and keys of one
// token (by the URI's token= label) are opened one at a time, so a second
// key finds the token logged in instead of trying the same PIN beside it.
#pragma once
#include <napi.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "tls_common.h"

namespace tlspool {
namespace tls {

class Credentials {
 public:
  // Loads a PEM chain (leaf first) with either a PEM private key or a key URL
  // (e.g. a PKCS #11 URI). A pkcs11: URL is only checked here (a matching
  // token must be present) and opened later by EnsureKey. On failure returns
  // null with *code (an errno) / *message set.
  static std::shared_ptr<Credentials> Load(const std::string& chainPem, const std::string* keyPem,
                                           const std::string* keyUri, int* code, std::string* message);
  ~Credentials();
  Credentials(const Credentials&) = delete;
  Credentials& operator=(const Credentials&) = delete;

  // Session thread: open the key if it is not open yet (asking for a PIN
  // through AskJavaScript when the token wants one). False with *errnum
  // (ENOKEY unless JavaScript chose another, e.g. ECANCELED), *message, and
  // *aborted when the session was aborted meanwhile.
  bool EnsureKey(int* errnum, std::string* message, bool* aborted);

  // For gnutls_certificate_retrieve_function2: valid while this object lives.
  gnutls_pcert_st* pcerts() { return pcerts_; }
  unsigned count() const { return count_; }
  // Null until the key is open.
  gnutls_privkey_t key();
  const DerChain& chainDer() const { return der_; }
  const std::string& keyUri() const { return keyUri_; }
  // The OCSP response (DER) to staple for the leaf, set from JavaScript and
  // read by sessions (tls_revocation.cc); null when there is none.
  void SetOcsp(std::shared_ptr<const std::string> der);
  std::shared_ptr<const std::string> ocsp();

 private:
  Credentials() = default;
  bool CheckKeyMatchesLeaf(gnutls_privkey_t key, bool strict, std::string* message);

  gnutls_pcert_st* pcerts_ = nullptr;
  unsigned count_ = 0;
  DerChain der_;
  std::string keyUri_;

  std::mutex ocspMu_;
  std::shared_ptr<const std::string> ocsp_;  // guarded by ocspMu_

  std::mutex keyMu_;
  std::condition_variable keyCv_;
  gnutls_privkey_t key_ = nullptr;  // guarded by keyMu_; set once
  bool importing_ = false;          // guarded by keyMu_
};

// GnuTLS's PIN callback: asks JavaScript ("pin" request) from the session
// thread. `userdata` is the Credentials whose key is opened, or null.
int PinCallback(void* userdata, int attempt, const char* tokenUrl, const char* tokenLabel, unsigned flags, char* pin,
                size_t pinMax);

// The JavaScript face: `new TlsCredentials(chainPem, keyPem | null, keyUri | null)`.
class CredentialsWrap : public Napi::ObjectWrap<CredentialsWrap> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  explicit CredentialsWrap(const Napi::CallbackInfo& info);
  // The loaded credentials behind a JavaScript value, or null if the value is
  // not a TlsCredentials or was closed.
  static std::shared_ptr<Credentials> From(Napi::Value value);

 private:
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  Napi::Value GetChainDer(const Napi::CallbackInfo& info);
  Napi::Value GetKeyOpen(const Napi::CallbackInfo& info);
  Napi::Value SetOcspJs(const Napi::CallbackInfo& info);
  std::shared_ptr<Credentials> creds_;
};

}  // namespace tls
}  // namespace tlspool
