#include "tls_credentials.h"

#include <gnutls/x509.h>

#include <cstring>

namespace tlspool {
namespace tls {

namespace {

// Marks JavaScript objects that really are TlsCredentials (Node-API 8).
const napi_type_tag kCredentialsTag = {0x746c73706f6f6c31ULL, 0x6372656473000001ULL};

constexpr unsigned kMaxChain = 16;

// The SubjectPublicKeyInfo DER of a public key, or "" if it cannot be had.
std::string SpkiOf(gnutls_pubkey_t pub) {
  GnutlsDatum out;
  if (gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &out.d) < 0) return std::string();
  return out.str();
}

}  // namespace

std::shared_ptr<Credentials> Credentials::Load(const std::string& chainPem, const std::string* keyPem,
                                               const std::string* keyUri, std::string* code,
                                               std::string* message) {
  std::shared_ptr<Credentials> c(new Credentials());
  *code = "EINVAL";

  // The chain: leaf first, each certificate issued by the next.
  c->pcerts_ = static_cast<gnutls_pcert_st*>(gnutls_calloc(kMaxChain, sizeof(gnutls_pcert_st)));
  if (c->pcerts_ == nullptr) {
    *code = "ENOMEM";
    *message = "out of memory";
    return nullptr;
  }
  unsigned n = kMaxChain;
  gnutls_datum_t pem = DatumOf(chainPem);
  int ret = gnutls_pcert_list_import_x509_raw(
      c->pcerts_, &n, &pem, GNUTLS_X509_FMT_PEM,
      GNUTLS_X509_CRT_LIST_IMPORT_FAIL_IF_EXCEED | GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
  if (ret < 0) {
    *message = GnutlsMessage("cannot load the certificate chain", ret);
    return nullptr;
  }
  c->count_ = n;
  if (n == 0) {
    *message = "the certificate chain holds no certificate";
    return nullptr;
  }
  for (unsigned i = 0; i < n; i++) {
    c->der_.emplace_back(reinterpret_cast<const char*>(c->pcerts_[i].cert.data), c->pcerts_[i].cert.size);
  }

  // The private key.
  ret = gnutls_privkey_init(&c->key_);
  if (ret < 0) {
    c->key_ = nullptr;
    *message = GnutlsMessage("cannot create a private key", ret);
    return nullptr;
  }
  if (keyPem != nullptr) {
    gnutls_datum_t kd = DatumOf(*keyPem);
    ret = gnutls_privkey_import_x509_raw(c->key_, &kd, GNUTLS_X509_FMT_PEM, nullptr, 0);
    if (ret < 0) {
      *message = GnutlsMessage("cannot load the private key", ret);
      return nullptr;
    }
  } else if (keyUri != nullptr) {
    ret = gnutls_privkey_import_url(c->key_, keyUri->c_str(), 0);
    if (ret < 0) {
      *code = "ENOKEY";
      *message = GnutlsMessage("cannot load the private key from " + *keyUri, ret);
      return nullptr;
    }
  } else {
    *message = "no private key given";
    return nullptr;
  }

  // The key must belong to the leaf certificate. (A token may not let us read
  // the public half of its key; then the handshake is the test.)
  gnutls_pubkey_t pub = nullptr;
  if (gnutls_pubkey_init(&pub) >= 0) {
    if (gnutls_pubkey_import_privkey(pub, c->key_, 0, 0) >= 0) {
      std::string fromKey = SpkiOf(pub);
      std::string fromCert = SpkiOf(c->pcerts_[0].pubkey);
      if (!fromKey.empty() && !fromCert.empty() && fromKey != fromCert) {
        gnutls_pubkey_deinit(pub);
        *message = "the private key does not belong to the first certificate of the chain";
        return nullptr;
      }
    } else if (keyPem != nullptr) {
      gnutls_pubkey_deinit(pub);
      *message = "cannot derive the public key from the private key";
      return nullptr;
    }
    gnutls_pubkey_deinit(pub);
  }
  code->clear();
  return c;
}

Credentials::~Credentials() {
  if (pcerts_ != nullptr) {
    for (unsigned i = 0; i < count_; i++) gnutls_pcert_deinit(&pcerts_[i]);
    gnutls_free(pcerts_);
  }
  if (key_ != nullptr) gnutls_privkey_deinit(key_);
}

void CredentialsWrap::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "TlsCredentials",
                                    {
                                        InstanceMethod<&CredentialsWrap::Close>("close"),
                                        InstanceAccessor<&CredentialsWrap::GetClosed>("closed"),
                                        InstanceAccessor<&CredentialsWrap::GetChainDer>("chainDer"),
                                    });
  exports.Set("TlsCredentials", ctor);
}

CredentialsWrap::CredentialsWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CredentialsWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !(info[1].IsString() || info[1].IsNull()) ||
      !(info[2].IsString() || info[2].IsNull()) || (info[1].IsNull() == info[2].IsNull())) {
    ThrowTypeError(env, "TlsCredentials(chainPem, keyPem | null, keyUri | null): give exactly one of keyPem, keyUri");
    return;
  }
  std::string chain = info[0].As<Napi::String>().Utf8Value();
  std::string keyPem, keyUri;
  if (info[1].IsString()) keyPem = info[1].As<Napi::String>().Utf8Value();
  if (info[2].IsString()) keyUri = info[2].As<Napi::String>().Utf8Value();
  std::string code, message;
  creds_ = Credentials::Load(chain, info[1].IsString() ? &keyPem : nullptr, info[2].IsString() ? &keyUri : nullptr,
                             &code, &message);
  // Wipe our copy of the key text.
  if (!keyPem.empty()) {
    volatile char* p = &keyPem[0];
    for (size_t i = 0; i < keyPem.size(); i++) p[i] = 0;
  }
  if (!creds_) {
    ThrowError(env, code, message);
    return;
  }
  info.This().As<Napi::Object>().TypeTag(&kCredentialsTag);
}

std::shared_ptr<Credentials> CredentialsWrap::From(Napi::Value value) {
  if (!value.IsObject()) return nullptr;
  Napi::Object obj = value.As<Napi::Object>();
  if (!obj.CheckTypeTag(&kCredentialsTag)) return nullptr;
  CredentialsWrap* w = Napi::ObjectWrap<CredentialsWrap>::Unwrap(obj);
  return w ? w->creds_ : nullptr;
}

Napi::Value CredentialsWrap::Close(const Napi::CallbackInfo& info) {
  creds_.reset();
  return info.Env().Undefined();
}

Napi::Value CredentialsWrap::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !creds_);
}

Napi::Value CredentialsWrap::GetChainDer(const Napi::CallbackInfo& info) {
  if (!creds_) return Napi::Array::New(info.Env(), 0);
  return DerChainToJs(info.Env(), creds_->chainDer());
}

}  // namespace tls
}  // namespace tlspool
