// Keying material exporters (RFC 5705, RFC 8446 7.5) and channel bindings
// (RFC 5929 tls-unique / tls-server-end-point, RFC 9266 tls-exporter) of an
// established session, and its own certificate, asked from JavaScript while
// the relay may be stepping the same session on its thread: both hold the
// session's gsMu_.
#include <gnutls/gnutls.h>

#include <string>

#include "tls_session_impl.h"

namespace tlspool {
namespace tls {

bool Session::ExportKeyingMaterial(const std::string& label, const std::string* context, size_t len, std::string* out,
                                   std::string* err) {
  std::lock_guard<std::mutex> gl(gsMu_);
  if (gs_ == nullptr || !relaying_) {
    *err = "the TLS session has ended";
    return false;
  }
  if (const char* refusal = ExporterRefusal()) {
    *err = refusal;
    return false;
  }
  out->assign(len, '\0');
  int rc = gnutls_prf_rfc5705(gs_, label.size(), label.data(), context ? context->size() : 0, context ? context->data() : nullptr,
                              len, &(*out)[0]);
  if (rc < 0) {
    *err = gnutls_strerror(rc);
    out->clear();
    return false;
  }
  return true;
}

bool Session::SessionDatum(const std::string& kind, std::string* out, std::string* err) {
  std::lock_guard<std::mutex> gl(gsMu_);
  if (gs_ == nullptr || !relaying_) {
    *err = "the TLS session has ended";
    return false;
  }
  if (renegActive_) {
    *err = ExporterRefusal();  // nothing of the session is settled while it renegotiates
    return false;
  }
  if (kind == "own-certificate") {
    const gnutls_datum_t* d = gnutls_certificate_get_ours(gs_);
    if (d == nullptr) {
      *err = "this side showed no certificate";
      return false;
    }
    out->assign(reinterpret_cast<const char*>(d->data), d->size);
    return true;
  }
  gnutls_channel_binding_t cb;
  if (kind == "tls-unique") {
    cb = GNUTLS_CB_TLS_UNIQUE;
  } else if (kind == "tls-server-end-point") {
    cb = GNUTLS_CB_TLS_SERVER_END_POINT;
  } else if (kind == "tls-exporter") {
    if (const char* refusal = ExporterRefusal()) {
      *err = refusal;
      return false;
    }
    cb = GNUTLS_CB_TLS_EXPORTER;
  } else {
    *err = "unknown channel binding " + kind;
    return false;
  }
  if (cb == GNUTLS_CB_TLS_UNIQUE && gnutls_protocol_get_version(gs_) == GNUTLS_TLS1_3) {
    *err = "tls-unique does not exist in TLS 1.3";
    return false;
  }
  gnutls_datum_t d{nullptr, 0};
  int rc = gnutls_session_channel_binding(gs_, cb, &d);
  if (rc < 0) {
    *err = gnutls_strerror(rc);
    return false;
  }
  out->assign(reinterpret_cast<const char*>(d.data), d.size);
  gnutls_free(d.data);
  return true;
}

namespace {

Napi::Value Answer(Napi::Env env, bool ok, const std::string& out, const std::string& err) {
  Napi::Object o = Napi::Object::New(env);
  if (ok) {
    o.Set("value", Napi::Buffer<char>::Copy(env, out.data(), out.size()));
  } else {
    o.Set("error", Napi::String::New(env, err));
  }
  return o;
}

// tlsSessionExport(handle, label: Buffer, context: Buffer | null, length) -> { value } | { error }
Napi::Value SessionExport(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Session> s = SessionOfHandle(info);
  if (!s) return env.Undefined();
  if (info.Length() < 4 || !info[1].IsBuffer() || !info[3].IsNumber() || !(info[2].IsBuffer() || info[2].IsNull())) {
    Napi::TypeError::New(env, "tlsSessionExport(handle, label, context | null, length)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Buffer<char> lb = info[1].As<Napi::Buffer<char>>();
  std::string label(lb.Data(), lb.Length());
  std::string context;
  bool hasContext = info[2].IsBuffer();
  if (hasContext) {
    Napi::Buffer<char> cb = info[2].As<Napi::Buffer<char>>();
    context.assign(cb.Data(), cb.Length());
  }
  double len = info[3].As<Napi::Number>().DoubleValue();
  if (len < 0 || len > 65535) {
    Napi::RangeError::New(env, "length must be 0..65535").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string out, err;
  bool ok = s->ExportKeyingMaterial(label, hasContext ? &context : nullptr, static_cast<size_t>(len), &out, &err);
  return Answer(env, ok, out, err);
}

// tlsSessionDatum(handle, kind) -> { value } | { error }
Napi::Value SessionDatumJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Session> s = SessionOfHandle(info);
  if (!s) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsString()) {
    Napi::TypeError::New(env, "tlsSessionDatum(handle, kind)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string out, err;
  bool ok = s->SessionDatum(info[1].As<Napi::String>().Utf8Value(), &out, &err);
  return Answer(env, ok, out, err);
}

}  // namespace

void InitSessionExports(Napi::Env env, Napi::Object exports) {
  exports.Set("tlsSessionExport", Napi::Function::New(env, SessionExport, "tlsSessionExport"));
  exports.Set("tlsSessionDatum", Napi::Function::New(env, SessionDatumJs, "tlsSessionDatum"));
}

}  // namespace tls
}  // namespace tlspool
