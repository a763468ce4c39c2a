#include "tls_credentials.h"

#include <errno.h>
#include <gnutls/pkcs11.h>
#include <gnutls/x509.h>
#include <strings.h>

#include <chrono>
#include <cstring>
#include <set>

#include "tls_session.h"

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

bool IsPkcs11Url(const std::string& url) { return strncasecmp(url.c_str(), "pkcs11:", 7) == 0; }

// Why the last PIN request on this thread failed (JavaScript's errno and
// words), for the failure of the key import that asked it.
struct PinFailure {
  bool set = false;
  bool gone = false;
  int errnum = 0;
  std::string message;
};
thread_local PinFailure t_pinFailure;

void SetPinFailure(bool gone, int errnum, const std::string& message) {
  t_pinFailure.set = true;
  t_pinFailure.gone = gone;
  t_pinFailure.errnum = errnum;
  t_pinFailure.message = message;
}

constexpr size_t kMaxPin = 256;

// One key import at a time per token (by the URI's token= label, or one
// gate for URIs that name none): a second key on a token waits for the
// first one's login instead of logging in with the same PIN beside it, so
// a wrong PIN costs the token one try, not one per key.
std::mutex g_gateMu;
std::condition_variable g_gateCv;
std::set<std::string> g_gateBusy;

std::string TokenGateName(const std::string& uri) {
  std::string body = uri.substr(7);
  size_t q = body.find('?');
  if (q != std::string::npos) body.resize(q);
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t end = body.find(';', pos);
    if (end == std::string::npos) end = body.size();
    std::string part = body.substr(pos, end - pos);
    if (part.compare(0, 6, "token=") == 0) return part.substr(6);
    pos = end + 1;
  }
  return std::string();
}

// Holds a token's gate; Enter() waits (abortably) until it is free.
class TokenGate {
 public:
  explicit TokenGate(std::string name) : name_(std::move(name)) {}
  ~TokenGate() {
    if (!held_) return;
    std::lock_guard<std::mutex> lk(g_gateMu);
    g_gateBusy.erase(name_);
    g_gateCv.notify_all();
  }
  bool Enter() {
    std::unique_lock<std::mutex> lk(g_gateMu);
    while (g_gateBusy.count(name_) != 0) {
      if (CurrentSessionAborted()) return false;
      g_gateCv.wait_for(lk, std::chrono::milliseconds(100));
    }
    g_gateBusy.insert(name_);
    held_ = true;
    return true;
  }

 private:
  std::string name_;
  bool held_ = false;
};

}  // namespace

// GnuTLS's PIN callback (gnutls_pin_callback_t), on the thread that opens
// or uses a token key: ask JavaScript (the PIN broker) and wait. `attempt`
// counts from 0; GNUTLS_PIN_WRONG says the previous PIN was refused.
// The PIN travels in a SecretBytes and is wiped as soon as it is copied
// into GnuTLS's buffer.
int PinCallback(void* userdata, int attempt, const char* tokenUrl, const char* tokenLabel, unsigned flags, char* pin,
                size_t pinMax) {
  Credentials* c = static_cast<Credentials*>(userdata);
  std::string keyUri = c != nullptr ? c->keyUri() : std::string();
  std::string url = tokenUrl != nullptr ? tokenUrl : "";
  std::string label = tokenLabel != nullptr ? tokenLabel : "";
  Reply r = AskJavaScript(
      "pin",
      [=](Napi::Env env, Napi::Object ev) {
        ev.Set("tokenUrl", Napi::String::New(env, url));
        ev.Set("tokenLabel", Napi::String::New(env, label));
        ev.Set("keyUri", Napi::String::New(env, keyUri));
        ev.Set("attempt", Napi::Number::New(env, attempt));
        ev.Set("wrong", Napi::Boolean::New(env, (flags & GNUTLS_PIN_WRONG) != 0));
        ev.Set("finalTry", Napi::Boolean::New(env, (flags & GNUTLS_PIN_FINAL_TRY) != 0));
        ev.Set("countLow", Napi::Boolean::New(env, (flags & GNUTLS_PIN_COUNT_LOW) != 0));
        ev.Set("contextSpecific", Napi::Boolean::New(env, (flags & GNUTLS_PIN_CONTEXT_SPECIFIC) != 0));
        ev.Set("so", Napi::Boolean::New(env, (flags & GNUTLS_PIN_SO) != 0));
      },
      [](Napi::Value v, Reply* r) {
        r->ok = false;
        r->errnum = ENOKEY;
        r->message = "the PIN callback gave no PIN";
        if (!v.IsObject()) return;
        Napi::Object o = v.As<Napi::Object>();
        Napi::Value p = o.Get("pin");
        if (p.IsTypedArray() && p.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array) {
          Napi::Uint8Array bytes = p.As<Napi::Uint8Array>();
          auto secret = std::make_shared<SecretBytes>(kMaxPin);
          if (bytes.ByteLength() == 0) {
            r->errnum = ECANCELED;
            r->message = "PIN entry was cancelled";
          } else if (!secret->ok() || !secret->set(bytes.Data(), bytes.ByteLength())) {
            r->errnum = EINVAL;
            r->message = "the PIN is too long";
          } else {
            r->ok = true;
            r->secret = std::move(secret);
            r->message.clear();
          }
          return;
        }
        Napi::Value e = o.Get("errno");
        Napi::Value m = o.Get("message");
        if (e.IsNumber()) r->errnum = e.As<Napi::Number>().Int32Value();
        if (m.IsString()) r->message = m.As<Napi::String>().Utf8Value();
      });
  if (!r.ok || !r.secret) {
    SetPinFailure(r.gone, r.errnum != 0 ? r.errnum : ENOKEY, r.message);
    return -1;
  }
  if (r.secret->size() + 1 > pinMax) {
    SetPinFailure(false, EINVAL, "the PIN is longer than the token accepts");
    return -1;
  }
  memcpy(pin, r.secret->data(), r.secret->size());
  pin[r.secret->size()] = '\0';
  return 0;
}

std::shared_ptr<Credentials> Credentials::Load(const std::string& chainPem, const std::string* keyPem,
                                               const std::string* keyUri, int* code,
                                               std::string* message) {
  std::shared_ptr<Credentials> c(new Credentials());
  *code = EINVAL;

  // The chain: leaf first, each certificate issued by the next.
  c->pcerts_ = static_cast<gnutls_pcert_st*>(gnutls_calloc(kMaxChain, sizeof(gnutls_pcert_st)));
  if (c->pcerts_ == nullptr) {
    *code = ENOMEM;
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
  if (keyUri != nullptr && IsPkcs11Url(*keyUri)) {
    // Opened later, on a session thread, where a PIN can be asked for. Here
    // only: is there a token that the URI names?
    unsigned flags = 0;
    ret = gnutls_pkcs11_token_get_flags(keyUri->c_str(), &flags);
    if (ret < 0) {
      *code = ENOKEY;
      *message = GnutlsMessage("no PKCS #11 token matches " + *keyUri, ret);
      return nullptr;
    }
    c->keyUri_ = *keyUri;
    *code = 0;
    return c;
  }
  gnutls_privkey_t key = nullptr;
  ret = gnutls_privkey_init(&key);
  if (ret < 0) {
    *message = GnutlsMessage("cannot create a private key", ret);
    return nullptr;
  }
  c->key_ = key;
  if (keyPem != nullptr) {
    gnutls_datum_t kd = DatumOf(*keyPem);
    ret = gnutls_privkey_import_x509_raw(key, &kd, GNUTLS_X509_FMT_PEM, nullptr, 0);
    if (ret < 0) {
      *message = GnutlsMessage("cannot load the private key", ret);
      return nullptr;
    }
  } else if (keyUri != nullptr) {
    c->keyUri_ = *keyUri;
    ret = gnutls_privkey_import_url(key, keyUri->c_str(), 0);
    if (ret < 0) {
      *code = ENOKEY;
      *message = GnutlsMessage("cannot load the private key from " + *keyUri, ret);
      return nullptr;
    }
  } else {
    *message = "no private key given";
    return nullptr;
  }
  if (!c->CheckKeyMatchesLeaf(key, keyPem != nullptr, message)) return nullptr;
  *code = 0;
  return c;
}

// The key must belong to the leaf certificate. (A token may not let us read
// the public half of its key; then the handshake is the test, unless
// `strict`.)
bool Credentials::CheckKeyMatchesLeaf(gnutls_privkey_t key, bool strict, std::string* message) {
  gnutls_pubkey_t pub = nullptr;
  if (gnutls_pubkey_init(&pub) < 0) return true;
  bool ok = true;
  if (gnutls_pubkey_import_privkey(pub, key, 0, 0) >= 0) {
    std::string fromKey = SpkiOf(pub);
    std::string fromCert = SpkiOf(pcerts_[0].pubkey);
    if (!fromKey.empty() && !fromCert.empty() && fromKey != fromCert) {
      *message = "the private key does not belong to the first certificate of the chain";
      ok = false;
    }
  } else if (strict) {
    *message = "cannot derive the public key from the private key";
    ok = false;
  }
  gnutls_pubkey_deinit(pub);
  return ok;
}

gnutls_privkey_t Credentials::key() {
  std::lock_guard<std::mutex> lk(keyMu_);
  return key_;
}

bool Credentials::EnsureKey(int* errnum, std::string* message, bool* aborted) {
  *aborted = false;
  std::unique_lock<std::mutex> lk(keyMu_);
  // Another session is opening this key (perhaps waiting for a person to
  // type the PIN): wait for its result rather than ask a second time.
  while (key_ == nullptr && importing_) {
    if (CurrentSessionAborted()) {
      *aborted = true;
      *message = "the session was aborted";
      return false;
    }
    keyCv_.wait_for(lk, std::chrono::milliseconds(100));
  }
  if (key_ != nullptr) return true;
  if (keyUri_.empty()) {
    *errnum = ENOKEY;
    *message = "these credentials have no private key";
    return false;
  }
  importing_ = true;
  lk.unlock();

  gnutls_privkey_t k = nullptr;
  bool ok = false;
  t_pinFailure = PinFailure();
  TokenGate gate(TokenGateName(keyUri_));
  int ret = 0;
  if (!gate.Enter()) {
    *aborted = true;
    *message = "the session was aborted";
  } else if ((ret = gnutls_privkey_init(&k)) < 0) {
    k = nullptr;
    *errnum = ENOMEM;
    *message = GnutlsMessage("cannot create a private key", ret);
  } else {
    gnutls_privkey_set_pin_function(k, PinCallback, this);
    ret = gnutls_privkey_import_url(k, keyUri_.c_str(), 0);
    if (ret < 0) {
      if (t_pinFailure.set) {
        *errnum = t_pinFailure.errnum;
        *aborted = t_pinFailure.gone;
        *message = t_pinFailure.message;
      } else {
        *errnum = ENOKEY;
        *message = GnutlsMessage("cannot open the private key " + keyUri_, ret);
      }
    } else if (!CheckKeyMatchesLeaf(k, false, message)) {
      *errnum = ENOKEY;
    } else {
      ok = true;
    }
  }
  t_pinFailure = PinFailure();
  if (!ok && k != nullptr) gnutls_privkey_deinit(k);

  lk.lock();
  importing_ = false;
  if (ok) key_ = k;
  keyCv_.notify_all();
  return ok;
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
                                        InstanceAccessor<&CredentialsWrap::GetKeyOpen>("keyOpen"),
                                        InstanceMethod<&CredentialsWrap::SetOcspJs>("setOcsp"),
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
  int code = EINVAL;
  std::string message;
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

Napi::Value CredentialsWrap::GetKeyOpen(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), creds_ && creds_->key() != nullptr);
}

Napi::Value CredentialsWrap::GetChainDer(const Napi::CallbackInfo& info) {
  if (!creds_) return Napi::Array::New(info.Env(), 0);
  return DerChainToJs(info.Env(), creds_->chainDer());
}

}  // namespace tls
}  // namespace tlspool
