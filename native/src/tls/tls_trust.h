// Trust anchors and CRLs, loaded once into a GnuTLS trust list and reused by
// every verification: loading the system store costs tens of milliseconds.
#pragma once
#include <gnutls/x509.h>
#include <napi.h>

#include <string>
#include <vector>

namespace tlspool {
namespace tls {

struct TrustSources {
  std::vector<std::string> anchorsPem;
  std::vector<std::string> crlsPem;
  bool useSystemTrust = false;
};

// Reads anchorsPem / crlsPem / useSystemTrust from `opts`; throws on bad types.
bool ReadTrustSources(Napi::Env env, Napi::Object opts, TrustSources* out);

// Builds a trust list; throws (EINVAL, ENOENT, ENOMEM) and returns nullptr on failure.
gnutls_x509_trust_list_t BuildTrustList(Napi::Env env, const TrustSources& sources);

// `new TlsTrustStore({ anchorsPem, useSystemTrust, crlsPem })`; close() frees it.
class TrustStore : public Napi::ObjectWrap<TrustStore> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  // The trust list of a TlsTrustStore object, or nullptr if `v` is not one (or is closed).
  static gnutls_x509_trust_list_t ListOf(Napi::Env env, Napi::Value v);

  explicit TrustStore(const Napi::CallbackInfo& info);
  ~TrustStore() override;

 private:
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Closed(const Napi::CallbackInfo& info);
  void Free();

  gnutls_x509_trust_list_t list_ = nullptr;
};

}  // namespace tls
}  // namespace tlspool
