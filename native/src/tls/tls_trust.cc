#include "tls_trust.h"

#include "tls_common.h"

namespace tlspool {
namespace tls {

namespace {

// Marks TlsTrustStore instances so ListOf() never unwraps a foreign object.
const napi_type_tag kTrustStoreTag = {0x7c1b9a4e2f3d4c11ULL, 0x9e8d7c6b5a493827ULL};

bool ReadStrings(Napi::Env env, Napi::Object opts, const char* key, std::vector<std::string>* out) {
  Napi::Value v = opts.Get(key);
  if (v.IsUndefined() || v.IsNull()) return true;
  if (!v.IsArray()) {
    ThrowTypeError(env, std::string("option '") + key + "' must be an array of strings");
    return false;
  }
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsString()) {
      ThrowTypeError(env, std::string("option '") + key + "' must be an array of strings");
      return false;
    }
    out->push_back(e.As<Napi::String>().Utf8Value());
  }
  return true;
}

}  // namespace

bool ReadTrustSources(Napi::Env env, Napi::Object opts, TrustSources* out) {
  if (!ReadStrings(env, opts, "anchorsPem", &out->anchorsPem) || !ReadStrings(env, opts, "crlsPem", &out->crlsPem)) {
    return false;
  }
  Napi::Value sys = opts.Get("useSystemTrust");
  out->useSystemTrust = sys.IsBoolean() && sys.As<Napi::Boolean>().Value();
  return true;
}

gnutls_x509_trust_list_t BuildTrustList(Napi::Env env, const TrustSources& sources) {
  gnutls_x509_trust_list_t tl = nullptr;
  int ret = gnutls_x509_trust_list_init(&tl, 0);
  if (ret < 0) {
    ThrowError(env, ENOMEM, GnutlsMessage("cannot create a trust list", ret), ret);
    return nullptr;
  }
  auto fail = [&](int code, const char* what) {
    gnutls_x509_trust_list_deinit(tl, 1);
    ThrowError(env, code, GnutlsMessage(what, ret), ret);
    return nullptr;
  };
  for (const auto& pem : sources.anchorsPem) {
    gnutls_datum_t d = DatumOf(pem);
    ret = gnutls_x509_trust_list_add_trust_mem(tl, &d, nullptr, GNUTLS_X509_FMT_PEM, 0, 0);
    if (ret < 0) return fail(EINVAL, "cannot load a trust anchor");
  }
  if (sources.useSystemTrust) {
    ret = gnutls_x509_trust_list_add_system_trust(tl, 0, 0);
    if (ret < 0) return fail(ENOENT, "cannot load the system's trust anchors");
  }
  for (const auto& pem : sources.crlsPem) {
    gnutls_datum_t d = DatumOf(pem);
    ret = gnutls_x509_trust_list_add_trust_mem(tl, nullptr, &d, GNUTLS_X509_FMT_PEM, GNUTLS_TL_VERIFY_CRL, 0);
    if (ret < 0) return fail(EINVAL, "cannot load a CRL");
  }
  return tl;
}

void TrustStore::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "TlsTrustStore",
                                    {InstanceMethod<&TrustStore::Close>("close"),
                                     InstanceAccessor<&TrustStore::Closed>("closed")});
  exports.Set("TlsTrustStore", ctor);
}

TrustStore::TrustStore(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrustStore>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    ThrowTypeError(env, "new TlsTrustStore({ anchorsPem, useSystemTrust, crlsPem })");
    return;
  }
  TrustSources sources;
  if (!ReadTrustSources(env, info[0].As<Napi::Object>(), &sources)) return;
  list_ = BuildTrustList(env, sources);
  if (list_) napi_type_tag_object(env, info.This(), &kTrustStoreTag);
}

TrustStore::~TrustStore() { Free(); }

void TrustStore::Free() {
  if (list_) gnutls_x509_trust_list_deinit(list_, 1);
  list_ = nullptr;
}

Napi::Value TrustStore::Close(const Napi::CallbackInfo& info) {
  Free();
  return info.Env().Undefined();
}

Napi::Value TrustStore::Closed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), list_ == nullptr);
}

gnutls_x509_trust_list_t TrustStore::ListOf(Napi::Env env, Napi::Value v) {
  if (!v.IsObject()) return nullptr;
  bool tagged = false;
  if (napi_check_object_type_tag(env, v, &kTrustStoreTag, &tagged) != napi_ok || !tagged) return nullptr;
  return Unwrap(v.As<Napi::Object>())->list_;
}

}  // namespace tls
}  // namespace tlspool
