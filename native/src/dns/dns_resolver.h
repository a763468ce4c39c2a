// A DNSSEC-validating stub resolver: one libunbound context, asked from the
// JavaScript thread without ever blocking it. Queries go to unbound's own
// worker thread (ub_ctx_async(ctx, 1)); its answers arrive on a pipe
// (ub_fd) that a libuv poll handle watches, and ub_process() runs their
// callbacks on the loop, which hand each answer to JavaScript.
//
//   new DnsResolver({ trustAnchorFiles, forwarders, resolvConf, stubs, options }, onAnswer)
//   resolver.resolve(name, rrtype) -> id      onAnswer(id, error | null, answer)
//   resolver.cancel(id)                       no onAnswer for it afterwards
//   resolver.close()                          pending queries are dropped silently
#pragma once
#include <napi.h>
#include <unbound.h>

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "ipc_watch.h"

namespace tlspool::dns {

class DnsResolver : public Napi::ObjectWrap<DnsResolver>, public ipc::WatchOwner {
 public:
  static void Define(Napi::Env env, Napi::Object exports);
  explicit DnsResolver(const Napi::CallbackInfo& info);
  ~DnsResolver() override;

  void OnPoll(int status, int events) override;
  void OnTimer() override {}

 private:
  struct Query {
    DnsResolver* owner;
    uint32_t id;
    int async_id = 0;
    bool cancelled = false;
  };

  Napi::Value Resolve(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  bool Configure(Napi::Env env, Napi::Object opts);
  static void Answered(void* data, int err, ub_result* result);
  void Deliver(Query* q, int err, ub_result* result);
  void UpdatePolling();
  void Shutdown();

  ub_ctx* ctx_ = nullptr;
  ipc::Watch* watch_ = nullptr;
  Napi::FunctionReference on_answer_;
  std::unique_ptr<Napi::AsyncContext> async_;
  std::unordered_map<uint32_t, Query*> queries_;
  uint32_t next_id_ = 1;
  int late_answers_ = 0;  // cancelled too late: their answer is still to be read and dropped
  bool processing_ = false;  // inside ub_process(): close() waits until it returns
  bool close_requested_ = false;
};

}  // namespace tlspool::dns
