// OCSP responses and fetched CRLs, judged against one certificate and its
// issuer (tls_revocation.h). Synchronous, on the JavaScript thread: each call
// parses a few kilobytes already in memory (a CRL is size-limited by the
// caller) and checks one signature.
#include "tls_revocation.h"

#include <gnutls/ocsp.h>
#include <gnutls/x509.h>
#include <gnutls/x509-ext.h>

#include <string.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "tls_common.h"
#include "tls_credentials.h"
#include "tls_session_impl.h"
#include "tls_trust.h"

namespace tlspool {
namespace tls {

std::string StapledOcsp(gnutls_session_t gs) {
  gnutls_datum_t resp = {nullptr, 0};
  // The datum belongs to the session: copy it out.
  if (gnutls_ocsp_status_request_get2(gs, 0, &resp) < 0 || resp.data == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(resp.data), resp.size);
}

void Credentials::SetOcsp(std::shared_ptr<const std::string> der) {
  std::lock_guard<std::mutex> lk(ocspMu_);
  ocsp_ = std::move(der);
}

std::shared_ptr<const std::string> Credentials::ocsp() {
  std::lock_guard<std::mutex> lk(ocspMu_);
  return ocsp_;
}

// credentials.setOcsp(der: Buffer | null): what sessions presenting these
// credentials staple from now on.
Napi::Value CredentialsWrap::SetOcspJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !(info[0].IsBuffer() || info[0].IsNull())) {
    ThrowTypeError(env, "setOcsp(der: Buffer | null)");
    return env.Undefined();
  }
  if (!creds_) return env.Undefined();
  if (info[0].IsNull()) {
    creds_->SetOcsp(nullptr);
  } else {
    auto b = info[0].As<Napi::Buffer<char>>();
    creds_->SetOcsp(std::make_shared<const std::string>(b.Data(), b.Length()));
  }
  return env.Undefined();
}

// GnuTLS asks when a client wants the status of our certificate; the answer
// must be allocated with gnutls_malloc (GnuTLS frees it).
int Session::OcspStapleCb(gnutls_session_t gs, void* /*ptr*/, gnutls_datum_t* resp) {
  Session* s = static_cast<Session*>(gnutls_session_get_ptr(gs));
  std::shared_ptr<const std::string> der = s && s->localCreds_ ? s->localCreds_->ocsp() : nullptr;
  if (!der || der->empty()) return GNUTLS_E_NO_CERTIFICATE_STATUS;
  resp->data = static_cast<unsigned char*>(gnutls_malloc(der->size()));
  if (resp->data == nullptr) return GNUTLS_E_MEMORY_ERROR;
  memcpy(resp->data, der->data(), der->size());
  resp->size = static_cast<unsigned>(der->size());
  return 0;
}

namespace {

// The TLS feature (RFC 7633) that makes a certificate "must staple".
constexpr unsigned kStatusRequestFeature = 5;

struct Crt {
  gnutls_x509_crt_t c = nullptr;
  Crt() = default;
  Crt(const Crt&) = delete;
  Crt& operator=(const Crt&) = delete;
  ~Crt() {
    if (c) gnutls_x509_crt_deinit(c);
  }
};

// Imports a DER certificate from a Buffer; throws (TypeError / EINVAL).
bool ImportCrt(Napi::Env env, Napi::Value v, Crt* out) {
  if (!v.IsBuffer()) {
    ThrowTypeError(env, "a certificate must be a Buffer holding DER");
    return false;
  }
  auto b = v.As<Napi::Buffer<unsigned char>>();
  gnutls_datum_t d = {b.Data(), static_cast<unsigned>(b.Length())};
  int ret = gnutls_x509_crt_init(&out->c);
  if (ret >= 0) ret = gnutls_x509_crt_import(out->c, &d, GNUTLS_X509_FMT_DER);
  if (ret < 0) {
    ThrowError(env, EINVAL, GnutlsMessage("cannot parse the certificate", ret), ret);
    return false;
  }
  return true;
}

bool BufferArg(Napi::Env env, Napi::Value v, const char* what, gnutls_datum_t* d) {
  if (!v.IsBuffer()) {
    ThrowTypeError(env, std::string(what) + " must be a Buffer");
    return false;
  }
  auto b = v.As<Napi::Buffer<unsigned char>>();
  *d = {b.Data(), static_cast<unsigned>(b.Length())};
  return true;
}

Napi::Value DateOrNull(Napi::Env env, time_t t) {
  if (t == static_cast<time_t>(-1)) return env.Null();
  return Napi::Date::New(env, static_cast<double>(t) * 1000.0);
}

Napi::Value CrtToBuffer(Napi::Env env, gnutls_x509_crt_t c) {
  GnutlsDatum der;
  if (gnutls_x509_crt_export2(c, GNUTLS_X509_FMT_DER, &der.d) < 0) return env.Null();
  return Napi::Buffer<unsigned char>::Copy(env, der.d.data, der.d.size);
}

// tlsRevocationInfo(der) -> { crlDistributionPoints: string[] (URIs), mustStaple }
Napi::Value RevocationInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Crt crt;
  if (!ImportCrt(env, info.Length() > 0 ? info[0] : env.Undefined(), &crt)) return env.Undefined();
  Napi::Array uris = Napi::Array::New(env);
  uint32_t n = 0;
  for (unsigned seq = 0; seq < 64; seq++) {
    char buf[2048];
    size_t size = sizeof(buf);
    unsigned reasons = 0, critical = 0;
    int ret = gnutls_x509_crt_get_crl_dist_points(crt.c, seq, buf, &size, &reasons, &critical);
    if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) break;
    if (ret == GNUTLS_SAN_URI) uris.Set(n++, Napi::String::New(env, std::string(buf, size)));
  }
  bool mustStaple = false;
  gnutls_x509_tlsfeatures_t feats = nullptr;
  if (gnutls_x509_tlsfeatures_init(&feats) >= 0) {
    unsigned critical = 0;
    if (gnutls_x509_crt_get_tlsfeatures(crt.c, feats, 0, &critical) >= 0) {
      unsigned feature = 0;
      for (unsigned i = 0; gnutls_x509_tlsfeatures_get(feats, i, &feature) >= 0 && i < 64; i++) {
        if (feature == kStatusRequestFeature) mustStaple = true;
      }
    }
    gnutls_x509_tlsfeatures_deinit(feats);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("crlDistributionPoints", uris);
  o.Set("mustStaple", Napi::Boolean::New(env, mustStaple));
  return o;
}

// tlsIssuerOf(chainDer, trust) -> the DER of the leaf's issuer: the first
// certificate of the chain that issued it, else a trust anchor that did;
// null when neither.
Napi::Value IssuerOf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || info[0].As<Napi::Array>().Length() == 0) {
    ThrowTypeError(env, "tlsIssuerOf(chainDer, trust)");
    return env.Undefined();
  }
  gnutls_x509_trust_list_t tl = TrustStore::ListOf(env, info[1]);
  if (!tl) {
    ThrowTypeError(env, "tlsIssuerOf: 'trust' must be an open TlsTrustStore");
    return env.Undefined();
  }
  Napi::Array chain = info[0].As<Napi::Array>();
  Crt leaf;
  if (!ImportCrt(env, chain.Get(0u), &leaf)) return env.Undefined();
  for (uint32_t i = 1; i < chain.Length(); i++) {
    Crt c;
    if (!ImportCrt(env, chain.Get(i), &c)) return env.Undefined();
    if (gnutls_x509_crt_check_issuer(leaf.c, c.c) == 1) return chain.Get(i);
  }
  gnutls_x509_crt_t issuer = nullptr;
  if (gnutls_x509_trust_list_get_issuer(tl, leaf.c, &issuer, GNUTLS_TL_GET_COPY) < 0 || issuer == nullptr) {
    return env.Null();
  }
  Napi::Value out = CrtToBuffer(env, issuer);
  gnutls_x509_crt_deinit(issuer);
  return out;
}

const char* OcspVerifyWhy(unsigned v) {
  if (v & GNUTLS_OCSP_VERIFY_SIGNER_NOT_FOUND) return "its signer is neither the issuer nor delegated by it";
  if (v & GNUTLS_OCSP_VERIFY_SIGNER_KEYUSAGE_ERROR) return "its delegated signer lacks the OCSP signing key purpose";
  if (v & GNUTLS_OCSP_VERIFY_UNTRUSTED_SIGNER) return "its signer is not trusted";
  if (v & GNUTLS_OCSP_VERIFY_INSECURE_ALGORITHM) return "it is signed with an insecure algorithm";
  if (v & GNUTLS_OCSP_VERIFY_SIGNATURE_FAILURE) return "its signature does not verify";
  if (v & GNUTLS_OCSP_VERIFY_CERT_NOT_ACTIVATED) return "its signer's certificate is not yet valid";
  if (v & GNUTLS_OCSP_VERIFY_CERT_EXPIRED) return "its signer's certificate has expired";
  return "it does not verify";
}

Napi::Object Invalid(Napi::Env env, const std::string& why) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", Napi::Boolean::New(env, false));
  o.Set("why", Napi::String::New(env, why));
  return o;
}

struct OcspResp {
  gnutls_ocsp_resp_t r = nullptr;
  ~OcspResp() {
    if (r) gnutls_ocsp_resp_deinit(r);
  }
};

// The answer of a verified response about `crt` (its index in the response).
Napi::Object OcspSingle(Napi::Env env, gnutls_ocsp_resp_t r, unsigned idx) {
  unsigned status = 0;
  unsigned reason = 0;
  time_t thisUpdate = -1, nextUpdate = -1, revokedAt = -1;
  int ret = gnutls_ocsp_resp_get_single(r, idx, nullptr, nullptr, nullptr, nullptr, &status, &thisUpdate,
                                        &nextUpdate, &revokedAt, &reason);
  if (ret < 0) return Invalid(env, GnutlsMessage("unreadable answer", ret));
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", Napi::Boolean::New(env, true));
  const char* name = status == GNUTLS_OCSP_CERT_GOOD ? "good" : status == GNUTLS_OCSP_CERT_REVOKED ? "revoked" : "unknown";
  o.Set("status", Napi::String::New(env, name));
  o.Set("thisUpdate", DateOrNull(env, thisUpdate));
  o.Set("nextUpdate", DateOrNull(env, nextUpdate));
  if (status == GNUTLS_OCSP_CERT_REVOKED) o.Set("revocationTime", DateOrNull(env, revokedAt));
  return o;
}

// tlsOcspCheck(respDer, certDer, issuerDer) -> { ok: false, why } when the
// response is not a successful one, names another certificate, or is not
// signed by the issuer (or a responder it delegated); else { ok: true,
// status: 'good' | 'revoked' | 'unknown', thisUpdate, nextUpdate | null,
// revocationTime? }. Whether it is current is for the caller to judge.
Napi::Value OcspCheck(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3) {
    ThrowTypeError(env, "tlsOcspCheck(respDer, certDer, issuerDer)");
    return env.Undefined();
  }
  gnutls_datum_t respDer;
  Crt crt, issuer;
  if (!BufferArg(env, info[0], "the OCSP response", &respDer) || !ImportCrt(env, info[1], &crt) ||
      !ImportCrt(env, info[2], &issuer)) {
    return env.Undefined();
  }
  OcspResp resp;
  int ret = gnutls_ocsp_resp_init(&resp.r);
  if (ret >= 0) ret = gnutls_ocsp_resp_import(resp.r, &respDer);
  if (ret < 0) return Invalid(env, GnutlsMessage("not an OCSP response", ret));
  int status = gnutls_ocsp_resp_get_status(resp.r);
  if (status != GNUTLS_OCSP_RESP_SUCCESSFUL) {
    return Invalid(env, "the responder answered with error status " + std::to_string(status));
  }
  unsigned verify = 0;
  ret = gnutls_ocsp_resp_verify_direct(resp.r, issuer.c, &verify, 0);
  if (ret < 0) return Invalid(env, GnutlsMessage("cannot verify it", ret));
  if (verify != 0) return Invalid(env, OcspVerifyWhy(verify));
  for (unsigned idx = 0; idx < 64; idx++) {
    ret = gnutls_ocsp_resp_check_crt(resp.r, idx, crt.c);
    if (ret == 0) return OcspSingle(env, resp.r, idx);
    if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) break;
  }
  return Invalid(env, "it is about another certificate");
}

struct Crl {
  gnutls_x509_crl_t c = nullptr;
  ~Crl() {
    if (c) gnutls_x509_crl_deinit(c);
  }
};

// tlsCrlCheck(crlBytes, certDer, issuerDer) -> { ok: false, why } when the
// CRL (DER or PEM) cannot be read, is by another issuer or its signature
// does not verify; else { ok: true, revoked, thisUpdate, nextUpdate | null }.
Napi::Value CrlCheck(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3) {
    ThrowTypeError(env, "tlsCrlCheck(crl, certDer, issuerDer)");
    return env.Undefined();
  }
  gnutls_datum_t bytes;
  Crt crt, issuer;
  if (!BufferArg(env, info[0], "the CRL", &bytes) || !ImportCrt(env, info[1], &crt) || !ImportCrt(env, info[2], &issuer)) {
    return env.Undefined();
  }
  Crl crl;
  int ret = gnutls_x509_crl_init(&crl.c);
  if (ret >= 0) {
    ret = gnutls_x509_crl_import(crl.c, &bytes, GNUTLS_X509_FMT_DER);
    if (ret < 0) ret = gnutls_x509_crl_import(crl.c, &bytes, GNUTLS_X509_FMT_PEM);
  }
  if (ret < 0) return Invalid(env, GnutlsMessage("not a CRL", ret));
  if (gnutls_x509_crl_check_issuer(crl.c, issuer.c) != 1) return Invalid(env, "it is issued by another CA");
  unsigned verify = 0;
  ret = gnutls_x509_crl_verify(crl.c, &issuer.c, 1, GNUTLS_VERIFY_DISABLE_TIME_CHECKS, &verify);
  if (ret < 0) return Invalid(env, GnutlsMessage("cannot verify it", ret));
  if (verify & (GNUTLS_CERT_SIGNATURE_FAILURE | GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_INVALID)) {
    return Invalid(env, (verify & GNUTLS_CERT_INSECURE_ALGORITHM) ? "it is signed with an insecure algorithm"
                                                                 : "its signature does not verify");
  }
  int revoked = gnutls_x509_crt_check_revocation(crt.c, &crl.c, 1);
  if (revoked < 0) return Invalid(env, GnutlsMessage("cannot read its entries", revoked));
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", Napi::Boolean::New(env, true));
  o.Set("revoked", Napi::Boolean::New(env, revoked == 1));
  o.Set("thisUpdate", DateOrNull(env, gnutls_x509_crl_get_this_update(crl.c)));
  o.Set("nextUpdate", DateOrNull(env, gnutls_x509_crl_get_next_update(crl.c)));
  return o;
}

}  // namespace

void InitRevocation(Napi::Env env, Napi::Object exports) {
  exports.Set("tlsRevocationInfo", Napi::Function::New(env, RevocationInfo, "tlsRevocationInfo"));
  exports.Set("tlsIssuerOf", Napi::Function::New(env, IssuerOf, "tlsIssuerOf"));
  exports.Set("tlsOcspCheck", Napi::Function::New(env, OcspCheck, "tlsOcspCheck"));
  exports.Set("tlsCrlCheck", Napi::Function::New(env, CrlCheck, "tlsCrlCheck"));
}

}  // namespace tls
}  // namespace tlspool
