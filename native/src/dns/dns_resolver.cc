// See dns_resolver.h.
#include "dns_resolver.h"

#include <errno.h>

#include <string>
#include <vector>

#include "errno_error.h"
#include "ipc_callback.h"
#include "ipc_env.h"
#include "module.h"

namespace tlspool::dns {

namespace {

// An answer hands at most this many records to JavaScript (a TLSA set is a
// handful); the rest are left out and `truncated` says so. Each record is
// bounded by DNS itself (65535 bytes of RDATA, 64 KiB per message).
constexpr int kMaxRecords = 64;
// Longer names are not DNS names (RFC 1035: 255 octets on the wire).
constexpr size_t kMaxName = 253;

void Init(Napi::Env env, Napi::Object exports) { DnsResolver::Define(env, exports); }
tlspool::RegisterModule reg(Init);

std::vector<std::string> Strings(Napi::Object opts, const char* key) {
  std::vector<std::string> out;
  Napi::Value v = opts.Get(key);
  if (!v.IsArray()) return out;
  auto a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value item = a.Get(i);
    if (item.IsString()) out.push_back(item.As<Napi::String>().Utf8Value());
  }
  return out;
}

}  // namespace

void DnsResolver::Define(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "DnsResolver",
                                    {InstanceMethod<&DnsResolver::Resolve>("resolve"),
                                     InstanceMethod<&DnsResolver::Cancel>("cancel"),
                                     InstanceMethod<&DnsResolver::Close>("close")});
  exports.Set("DnsResolver", ctor);
  exports.Set("unboundVersion", Napi::String::New(env, ub_version()));
}

DnsResolver::DnsResolver(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DnsResolver>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject() || !info[1].IsFunction()) {
    ThrowType(env, "new DnsResolver(options, onAnswer): options must be an object and onAnswer a function");
    return;
  }
  ctx_ = ub_ctx_create();
  if (ctx_ == nullptr) {
    ThrowErrno(env, ENOMEM, "ub_ctx_create", "", "libunbound could not make a resolver context");
    return;
  }
  if (!Configure(env, info[0].As<Napi::Object>())) return;  // the destructor deletes ctx_
  on_answer_ = Napi::Persistent(info[1].As<Napi::Function>());
  async_ = std::make_unique<Napi::AsyncContext>(env, "tlspool.DnsResolver");
}

bool DnsResolver::Configure(Napi::Env env, Napi::Object opts) {
  auto failed = [&](int rc, const std::string& what) {
    if (rc == 0) return false;
    ThrowErrno(env, EINVAL, "libunbound", "", what + ": " + ub_strerror(rc));
    return true;
  };
  // Threads, never fork(): a forked copy of Node is no place for a resolver.
  if (failed(ub_ctx_async(ctx_, 1), "ub_ctx_async")) return false;
  Napi::Value options = opts.Get("options");
  if (options.IsArray()) {
    auto a = options.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value pair = a.Get(i);
      if (!pair.IsArray() || pair.As<Napi::Array>().Length() != 2) continue;
      std::string name = pair.As<Napi::Array>().Get(0u).ToString().Utf8Value();
      std::string value = pair.As<Napi::Array>().Get(1u).ToString().Utf8Value();
      if (failed(ub_ctx_set_option(ctx_, name.c_str(), value.c_str()), "option " + name + " " + value)) return false;
    }
  }
  for (const auto& file : Strings(opts, "trustAnchorFiles")) {
    if (failed(ub_ctx_add_ta_file(ctx_, file.c_str()), "trust anchor file " + file)) return false;
  }
  std::vector<std::string> forwarders = Strings(opts, "forwarders");
  for (const auto& addr : forwarders) {
    if (failed(ub_ctx_set_fwd(ctx_, addr.c_str()), "forwarder " + addr)) return false;
  }
  Napi::Value resolv = opts.Get("resolvConf");
  if (forwarders.empty() && resolv.IsString()) {
    std::string file = resolv.As<Napi::String>().Utf8Value();
    if (failed(ub_ctx_resolvconf(ctx_, file.c_str()), "resolver configuration " + file)) return false;
  }
  Napi::Value stubs = opts.Get("stubs");
  if (stubs.IsArray()) {
    auto a = stubs.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      if (!a.Get(i).IsObject()) continue;
      Napi::Object stub = a.Get(i).As<Napi::Object>();
      std::string zone = stub.Get("zone").ToString().Utf8Value();
      for (const auto& addr : Strings(stub, "addrs")) {
        if (failed(ub_ctx_set_stub(ctx_, zone.c_str(), addr.c_str(), 0), "stub " + zone + " " + addr)) return false;
      }
      // A zone configured here is resolved, even one under a name unbound
      // answers itself by default (test., invalid., home.arpa., ...).
      std::string local = zone + " transparent";
      if (failed(ub_ctx_set_option(ctx_, "local-zone:", local.c_str()), "local-zone " + local)) return false;
    }
  }
  return true;
}

DnsResolver::~DnsResolver() { Shutdown(); }

void DnsResolver::Shutdown() {
  if (watch_ != nullptr) {
    watch_->Close();  // stops polling before ub_ctx_delete closes the fd
    watch_ = nullptr;
  }
  if (ctx_ != nullptr) {
    // Stops unbound's worker thread; callbacks of pending queries never run.
    ub_ctx_delete(ctx_);
    ctx_ = nullptr;
  }
  for (auto& [id, q] : queries_) delete q;
  queries_.clear();
  // Cancelled queries whose answer never came are freed with the context's
  // own records of them; ours cannot be reached any more, and are small.
  late_answers_ = 0;
  on_answer_.Reset();
  async_.reset();
}

Napi::Value DnsResolver::Resolve(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsNumber()) {
    ThrowType(env, "resolve(name, rrtype): name must be a string and rrtype a number");
    return Napi::Value();
  }
  if (ctx_ == nullptr || close_requested_) {
    ThrowErrno(env, EBADF, "resolve", "", "the resolver is closed");
    return Napi::Value();
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  int rrtype = info[1].As<Napi::Number>().Int32Value();
  if (name.empty() || name.size() > kMaxName + 1 || name.find('\0') != std::string::npos || rrtype < 1 || rrtype > 65535) {
    ThrowErrno(env, EINVAL, "resolve", name, "not a DNS name and record type");
    return Napi::Value();
  }
  auto* q = new Query{this, next_id_++};
  int rc = ub_resolve_async(ctx_, name.c_str(), rrtype, 1 /* IN */, q, Answered, &q->async_id);
  if (rc != 0) {
    delete q;
    ThrowErrno(env, rc == UB_NOMEM ? ENOMEM : EIO, "ub_resolve_async", name, ub_strerror(rc));
    return Napi::Value();
  }
  queries_[q->id] = q;
  UpdatePolling();
  return Napi::Number::New(env, q->id);
}

Napi::Value DnsResolver::Cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || ctx_ == nullptr) return env.Undefined();
  auto it = queries_.find(info[0].As<Napi::Number>().Uint32Value());
  if (it == queries_.end()) return env.Undefined();
  Query* q = it->second;
  queries_.erase(it);
  // Cancelled in time: no callback will come. Otherwise its answer is on the
  // way through the pipe, and Answered() frees it without telling anyone.
  if (ub_cancel(ctx_, q->async_id) == 0) delete q;
  else q->cancelled = true, late_answers_++;
  UpdatePolling();
  return env.Undefined();
}

Napi::Value DnsResolver::Close(const Napi::CallbackInfo& info) {
  if (processing_) close_requested_ = true;  // after ub_process() returns
  else Shutdown();
  return info.Env().Undefined();
}

// Poll the pipe only while an answer may come: an idle resolver holds no
// active handle, so it never keeps a process alive.
void DnsResolver::UpdatePolling() {
  if (ctx_ == nullptr) return;
  if (watch_ == nullptr) {
    int rc = 0;
    watch_ = ipc::Watch::Open(ipc::EnvState(Env()).loop, ub_fd(ctx_), this, &rc);
    if (watch_ == nullptr) return;  // answers then never come; the caller's timeout ends each query
  }
  watch_->SetEvents(!queries_.empty() || late_answers_ > 0 ? UV_READABLE : 0);
}

void DnsResolver::OnPoll(int status, int /*events*/) {
  if (ctx_ == nullptr) return;
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Napi::Object pinned = Value();  // keeps `this` alive if a callback drops the last reference
  (void)pinned;
  processing_ = true;
  ub_process(ctx_);
  processing_ = false;
  if (close_requested_) Shutdown();
  else UpdatePolling();
}

void DnsResolver::Answered(void* data, int err, ub_result* result) {
  auto* q = static_cast<Query*>(data);
  if (q->cancelled) {
    q->owner->late_answers_--;
    delete q;
    if (result != nullptr) ub_resolve_free(result);
    return;
  }
  DnsResolver* self = q->owner;
  self->queries_.erase(q->id);
  self->Deliver(q, err, result);
  delete q;
  if (result != nullptr) ub_resolve_free(result);
}

void DnsResolver::Deliver(Query* q, int err, ub_result* result) {
  Napi::Env env = Env();
  if (close_requested_ || on_answer_.IsEmpty() || !ipc::CanRunJs(env)) return;
  Napi::HandleScope scope(env);
  Napi::Value error = env.Null();
  Napi::Object answer = Napi::Object::New(env);
  if (err != 0 || result == nullptr) {
    error = ErrnoError(env, EIO, std::string("libunbound: ") + ub_strerror(err)).Value();
  } else {
    answer.Set("rcode", result->rcode);
    answer.Set("haveData", result->havedata != 0);
    answer.Set("nxdomain", result->nxdomain != 0);
    answer.Set("secure", result->secure != 0);
    answer.Set("bogus", result->bogus != 0);
    answer.Set("ttl", result->ttl);
    if (result->why_bogus != nullptr) answer.Set("whyBogus", std::string(result->why_bogus).substr(0, 400));
    Napi::Array records = Napi::Array::New(env);
    int n = 0;
    for (; result->data != nullptr && result->data[n] != nullptr && n < kMaxRecords; n++) {
      records.Set(n, Napi::Buffer<char>::Copy(env, result->data[n], static_cast<size_t>(result->len[n])));
    }
    answer.Set("records", records);
    answer.Set("truncated", result->data != nullptr && result->data[n] != nullptr);
  }
  ipc::CallFromLoop(env, on_answer_, Value(), {Napi::Number::New(env, q->id), error, answer}, *async_);
}

}  // namespace tlspool::dns
