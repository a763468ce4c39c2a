// Local credentials (a certificate chain and its private key), loaded once
// and shared by every session that presents them. JavaScript holds them as
// a TlsCredentials object; a session keeps its own reference for as long as
// GnuTLS may use them, so closing the JavaScript object mid-handshake is safe.
#pragma once
#include <napi.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include <memory>
#include <string>

#include "tls_common.h"

namespace tlspool {
namespace tls {

class Credentials {
 public:
  // Loads a PEM chain (leaf first) with either a PEM private key or a key URL
  // (e.g. a PKCS #11 URI). On failure returns null with *code / *message set.
  static std::shared_ptr<Credentials> Load(const std::string& chainPem, const std::string* keyPem,
                                           const std::string* keyUri, std::string* code, std::string* message);
  ~Credentials();
  Credentials(const Credentials&) = delete;
  Credentials& operator=(const Credentials&) = delete;

  // For gnutls_certificate_retrieve_function2: valid while this object lives.
  gnutls_pcert_st* pcerts() { return pcerts_; }
  unsigned count() const { return count_; }
  gnutls_privkey_t key() { return key_; }
  const DerChain& chainDer() const { return der_; }

 private:
  Credentials() = default;
  gnutls_pcert_st* pcerts_ = nullptr;
  unsigned count_ = 0;
  gnutls_privkey_t key_ = nullptr;
  DerChain der_;
};

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
  std::shared_ptr<Credentials> creds_;
};

}  // namespace tls
}  // namespace tlspool
