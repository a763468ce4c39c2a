// Certificate inspection and chain verification, synchronous on the
// JavaScript thread (pure computation on data in memory). Whether a result
// is acceptable is for TypeScript to decide.
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <cmath>
#include <string>
#include <vector>

#include "tls_common.h"
#include "tls_trust.h"
#include "tls_x509.h"

namespace tlspool {
namespace tls {

namespace {

struct CrtList {
  std::vector<gnutls_x509_crt_t> crts;
  ~CrtList() {
    for (auto c : crts) gnutls_x509_crt_deinit(c);
  }
};

std::string Hex(const unsigned char* p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; i++) {
    out.push_back(digits[p[i] >> 4]);
    out.push_back(digits[p[i] & 15]);
  }
  return out;
}

// Imports one DER certificate; throws on failure.
bool ImportDer(Napi::Env env, Napi::Value v, gnutls_x509_crt_t* out) {
  if (!v.IsBuffer()) {
    ThrowTypeError(env, "a certificate must be a Buffer holding DER");
    return false;
  }
  Napi::Buffer<unsigned char> b = v.As<Napi::Buffer<unsigned char>>();
  gnutls_datum_t d = {b.Data(), static_cast<unsigned>(b.Length())};
  int ret = gnutls_x509_crt_init(out);
  if (ret < 0) {
    ThrowError(env, ENOMEM, GnutlsMessage("cannot create a certificate", ret), ret);
    return false;
  }
  ret = gnutls_x509_crt_import(*out, &d, GNUTLS_X509_FMT_DER);
  if (ret < 0) {
    gnutls_x509_crt_deinit(*out);
    *out = nullptr;
    ThrowError(env, EINVAL, GnutlsMessage("cannot parse the certificate", ret), ret);
    return false;
  }
  return true;
}

const struct {
  unsigned bit;
  const char* name;
} kStatusNames[] = {
    {GNUTLS_CERT_REVOKED, "REVOKED"},
    {GNUTLS_CERT_SIGNER_NOT_FOUND, "SIGNER_NOT_FOUND"},
    {GNUTLS_CERT_SIGNER_NOT_CA, "SIGNER_NOT_CA"},
    {GNUTLS_CERT_INSECURE_ALGORITHM, "INSECURE_ALGORITHM"},
    {GNUTLS_CERT_NOT_ACTIVATED, "NOT_ACTIVATED"},
    {GNUTLS_CERT_EXPIRED, "EXPIRED"},
    {GNUTLS_CERT_SIGNATURE_FAILURE, "SIGNATURE_FAILURE"},
    {GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED, "REVOCATION_DATA_SUPERSEDED"},
    {GNUTLS_CERT_UNEXPECTED_OWNER, "UNEXPECTED_OWNER"},
    {GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE, "REVOCATION_DATA_ISSUED_IN_FUTURE"},
    {GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE, "SIGNER_CONSTRAINTS_FAILURE"},
    {GNUTLS_CERT_MISMATCH, "MISMATCH"},
    {GNUTLS_CERT_PURPOSE_MISMATCH, "PURPOSE_MISMATCH"},
    {GNUTLS_CERT_MISSING_OCSP_STATUS, "MISSING_OCSP_STATUS"},
    {GNUTLS_CERT_INVALID_OCSP_STATUS, "INVALID_OCSP_STATUS"},
    {GNUTLS_CERT_UNKNOWN_CRIT_EXTENSIONS, "UNKNOWN_CRIT_EXTENSIONS"},
};

// Adds EXPIRED / NOT_ACTIVATED for one certificate at time `at`.
unsigned TimeStatus(gnutls_x509_crt_t crt, time_t at) {
  unsigned st = 0;
  time_t nb = gnutls_x509_crt_get_activation_time(crt);
  time_t na = gnutls_x509_crt_get_expiration_time(crt);
  if (nb != static_cast<time_t>(-1) && at < nb) st |= GNUTLS_CERT_NOT_ACTIVATED | GNUTLS_CERT_INVALID;
  if (na != static_cast<time_t>(-1) && at > na) st |= GNUTLS_CERT_EXPIRED | GNUTLS_CERT_INVALID;
  return st;
}

// tlsVerifyChain(chainDer: Buffer[], opts) -> { ok, status: string[], message }
// opts.trust (a TlsTrustStore) is reused as is; otherwise a trust list is
// built from opts.anchorsPem / useSystemTrust / crlsPem for this call.
// { ok, status: names of the GnuTLS status bits (or `only`), message }.
Napi::Object VerifyResult(Napi::Env env, unsigned status, const char* only, const std::string& message) {
  Napi::Array names = Napi::Array::New(env);
  uint32_t n = 0;
  if (only != nullptr) names.Set(n++, Napi::String::New(env, only));
  for (const auto& s : kStatusNames) {
    if (status & s.bit) names.Set(n++, Napi::String::New(env, s.name));
  }
  if (status != 0 && n == 0) names.Set(n++, Napi::String::New(env, "INVALID"));
  Napi::Object result = Napi::Object::New(env);
  result.Set("ok", Napi::Boolean::New(env, status == 0 && only == nullptr));
  result.Set("status", names);
  result.Set("message", Napi::String::New(env, message));
  return result;
}

// The key purpose the leaf must allow, as verification data; false (with
// a pending TypeError) for a purpose that is none of server, client, any.
bool PurposeData(Napi::Env env, const std::string& purpose, std::vector<gnutls_typed_vdata_st>* vdata) {
  if (purpose == "server" || purpose == "client") {
    const char* oid = purpose == "server" ? GNUTLS_KP_TLS_WWW_SERVER : GNUTLS_KP_TLS_WWW_CLIENT;
    vdata->push_back({GNUTLS_DT_KEY_PURPOSE_OID, reinterpret_cast<unsigned char*>(const_cast<char*>(oid)), 0});
    return true;
  }
  if (purpose.empty() || purpose == "any") return true;
  ThrowTypeError(env, "option 'purpose' must be 'server', 'client' or 'any'");
  return false;
}

Napi::Value VerifyChain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsObject()) {
    ThrowTypeError(env, "tlsVerifyChain(chainDer, options)");
    return env.Undefined();
  }
  Napi::Array chain = info[0].As<Napi::Array>();
  Napi::Object opts = info[1].As<Napi::Object>();

  Napi::Value trustArg = opts.Get("trust");
  gnutls_x509_trust_list_t shared = TrustStore::ListOf(env, trustArg);
  if (!trustArg.IsUndefined() && !shared) {
    ThrowTypeError(env, "option 'trust' must be an open TlsTrustStore");
    return env.Undefined();
  }
  TrustSources sources;
  if (!shared && !ReadTrustSources(env, opts, &sources)) return env.Undefined();
  std::string purpose, hostname, email;
  GetOptionalString(opts, "purpose", &purpose);
  bool hasHost = GetOptionalString(opts, "hostname", &hostname);
  bool hasEmail = GetOptionalString(opts, "email", &email);
  if (env.IsExceptionPending()) return env.Undefined();
  Napi::Value atv = opts.Get("atTime");
  bool hasAt = atv.IsNumber();
  time_t at = hasAt ? static_cast<time_t>(std::floor(atv.As<Napi::Number>().DoubleValue() / 1000.0)) : 0;

  if (chain.Length() == 0) return VerifyResult(env, 0, "NO_CERTIFICATE", "The peer presented no certificate.");

  CrtList list;
  for (uint32_t i = 0; i < chain.Length(); i++) {
    gnutls_x509_crt_t c = nullptr;
    if (!ImportDer(env, chain.Get(i), &c)) return env.Undefined();
    list.crts.push_back(c);
  }

  gnutls_x509_trust_list_t tl = shared ? shared : BuildTrustList(env, sources);
  if (!tl) return env.Undefined();
  struct TlGuard {
    gnutls_x509_trust_list_t tl;
    ~TlGuard() {
      if (tl) gnutls_x509_trust_list_deinit(tl, 1);
    }
  } guard{shared ? nullptr : tl};

  std::vector<gnutls_typed_vdata_st> vdata;
  if (!PurposeData(env, purpose, &vdata)) return env.Undefined();
  if (hasHost) {
    vdata.push_back({GNUTLS_DT_DNS_HOSTNAME, reinterpret_cast<unsigned char*>(const_cast<char*>(hostname.c_str())), 0});
  }
  if (hasEmail) {
    vdata.push_back({GNUTLS_DT_RFC822NAME, reinterpret_cast<unsigned char*>(const_cast<char*>(email.c_str())), 0});
  }

  // The MEDIUM profile (112-bit security) refuses RSA and DSA keys under
  // 2048 bits and weak signature hashes anywhere in the chain: without a
  // profile GnuTLS accepts an RSA-1024 key.
  unsigned flags = GNUTLS_PROFILE_TO_VFLAGS(GNUTLS_PROFILE_MEDIUM);
  if (hasAt) flags |= GNUTLS_VERIFY_DISABLE_TIME_CHECKS | GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS;
  unsigned status = 0;
  int ret = gnutls_x509_trust_list_verify_crt2(tl, list.crts.data(), static_cast<unsigned>(list.crts.size()),
                                           vdata.empty() ? nullptr : vdata.data(),
                                           static_cast<unsigned>(vdata.size()), flags, &status, nullptr);
  if (ret < 0) {
    ThrowError(env, EINVAL, GnutlsMessage("cannot verify the chain", ret), ret);
    return env.Undefined();
  }
  if (hasAt) {
    // GnuTLS checks only against the clock; check validity at `at` ourselves:
    // every certificate of the chain, and the anchor that issued the last.
    for (auto c : list.crts) status |= TimeStatus(c, at);
    gnutls_x509_crt_t issuer = nullptr;
    if (gnutls_x509_trust_list_get_issuer(tl, list.crts.back(), &issuer, GNUTLS_TL_GET_COPY) >= 0 && issuer) {
      status |= TimeStatus(issuer, at);
      gnutls_x509_crt_deinit(issuer);
    }
  }

  std::string message = "The certificate is trusted.";
  GnutlsDatum out;
  if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out.d, 0) >= 0) message = out.str();
  return VerifyResult(env, status, nullptr, message);
}

// Calls a GnuTLS getter that fills a caller buffer, growing it as needed.
template <typename F>
int GetBuffer(F f, std::string* out) {
  size_t size = 256;
  for (int tries = 0; tries < 4; tries++) {
    out->assign(size, '\0');
    size_t got = size;
    int ret = f(&(*out)[0], &got);
    if (ret == GNUTLS_E_SHORT_MEMORY_BUFFER) {
      size = got > size ? got + 1 : size * 4;
      continue;
    }
    if (ret < 0) return ret;
    out->resize(got);
    return ret;
  }
  return GNUTLS_E_SHORT_MEMORY_BUFFER;
}

// tlsCertInfo(der: Buffer) -> {...}
Napi::Value CertInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1) {
    ThrowTypeError(env, "tlsCertInfo(der)");
    return env.Undefined();
  }
  CrtList list;
  gnutls_x509_crt_t crt = nullptr;
  if (!ImportDer(env, info[0], &crt)) return env.Undefined();
  list.crts.push_back(crt);

  Napi::Object o = Napi::Object::New(env);
  GnutlsDatum subject, issuer;
  if (gnutls_x509_crt_get_dn3(crt, &subject.d, 0) >= 0) o.Set("subject", Napi::String::New(env, subject.str()));
  if (gnutls_x509_crt_get_issuer_dn3(crt, &issuer.d, 0) >= 0) o.Set("issuer", Napi::String::New(env, issuer.str()));

  unsigned char serial[64];
  size_t slen = sizeof(serial);
  if (gnutls_x509_crt_get_serial(crt, serial, &slen) >= 0) o.Set("serial", Napi::String::New(env, Hex(serial, slen)));

  time_t nb = gnutls_x509_crt_get_activation_time(crt);
  time_t na = gnutls_x509_crt_get_expiration_time(crt);
  o.Set("notBefore", Napi::Date::New(env, static_cast<double>(nb) * 1000.0));
  o.Set("notAfter", Napi::Date::New(env, static_cast<double>(na) * 1000.0));

  Napi::Array dns = Napi::Array::New(env);
  Napi::Array emails = Napi::Array::New(env);
  uint32_t nd = 0, ne = 0;
  for (unsigned seq = 0;; seq++) {
    std::string name;
    int ret = GetBuffer(
        [&](char* buf, size_t* size) { return gnutls_x509_crt_get_subject_alt_name(crt, seq, buf, size, nullptr); },
        &name);
    if (ret == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) break;
    if (ret < 0) continue;
    if (ret == GNUTLS_SAN_DNSNAME) dns.Set(nd++, Napi::String::New(env, name));
    if (ret == GNUTLS_SAN_RFC822NAME) emails.Set(ne++, Napi::String::New(env, name));
    if (seq > 1000) break;
  }
  o.Set("dnsNames", dns);
  o.Set("rfc822Names", emails);

  std::string cn;
  if (GetBuffer(
          [&](char* buf, size_t* size) {
            return gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, size);
          },
          &cn) >= 0) {
    o.Set("commonName", Napi::String::New(env, cn));
  }

  unsigned char fp[64];
  size_t fplen = sizeof(fp);
  if (gnutls_x509_crt_get_fingerprint(crt, GNUTLS_DIG_SHA256, fp, &fplen) >= 0) {
    o.Set("sha256", Napi::String::New(env, Hex(fp, fplen)));
  }
  // Self-issued: the issuer name (and key identifiers, where present) match
  // the certificate's own.
  o.Set("selfSigned", Napi::Boolean::New(env, gnutls_x509_crt_check_issuer(crt, crt) == 1));
  unsigned ca = 0;
  int bc = gnutls_x509_crt_get_basic_constraints(crt, nullptr, &ca, nullptr);
  o.Set("isCA", Napi::Boolean::New(env, bc >= 0 && ca != 0));

  // Key and signature algorithms, so that a refusal can say which is weak.
  unsigned bits = 0;
  int pk = gnutls_x509_crt_get_pk_algorithm(crt, &bits);
  if (pk >= 0) {
    const char* pkName = gnutls_pk_algorithm_get_name(static_cast<gnutls_pk_algorithm_t>(pk));
    o.Set("keyAlgorithm", Napi::String::New(env, pkName ? pkName : "unknown"));
    o.Set("keyBits", Napi::Number::New(env, bits));
  }
  int sig = gnutls_x509_crt_get_signature_algorithm(crt);
  if (sig >= 0) {
    const char* sigName = gnutls_sign_get_name(static_cast<gnutls_sign_algorithm_t>(sig));
    o.Set("signatureAlgorithm", Napi::String::New(env, sigName ? sigName : "unknown"));
  }
  return o;
}

}  // namespace

void InitX509(Napi::Env env, Napi::Object exports) {
  exports.Set("tlsVerifyChain", Napi::Function::New(env, VerifyChain, "tlsVerifyChain"));
  exports.Set("tlsCertInfo", Napi::Function::New(env, CertInfo, "tlsCertInfo"));
}

}  // namespace tls
}  // namespace tlspool
