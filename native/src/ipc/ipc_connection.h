// UnixConnection: one connected UNIX stream socket, read and written from the
// event loop, with descriptor passing both ways and an output queue.
#pragma once
#include <napi.h>
#include <sys/socket.h>

#include <memory>

#include "ipc_outqueue.h"
#include "ipc_watch.h"

namespace tlspool::ipc {

class UnixConnection : public Napi::ObjectWrap<UnixConnection>, private WatchOwner {
 public:
  // Which end we are. An accepted (server) connection stops reading while
  // too much output for its peer is queued; a connecting (client) one always
  // reads: if both ends paused, a client that pipelines requests and a
  // server whose answers queue up would each wait for the other forever.
  enum class Side { kAccepted, kConnected };

  static void Define(Napi::Env env);

  // Wraps a connected, non-blocking, close-on-exec stream socket whose peer
  // credentials are `peer`. Takes ownership of `fd` on every path: on failure
  // it is closed and an empty object returned with an exception pending.
  static Napi::Object New(Napi::Env env, int fd, const struct ucred& peer, Side side);

  explicit UnixConnection(const Napi::CallbackInfo& info);
  ~UnixConnection() override;

 private:
  Napi::Value GetQueuedBytes(const Napi::CallbackInfo& info);
  Napi::Value GetInputBytes(const Napi::CallbackInfo& info);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Send(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value PauseReading(const Napi::CallbackInfo& info);
  Napi::Value ResumeReading(const Napi::CallbackInfo& info);
  Napi::Value WhenDrained(const Napi::CallbackInfo& info);

  void OnPoll(int status, int events) override;
  void OnTimer() override;
  void OnPollError(int status);

  // Reads until the socket is drained (returns true: EAGAIN, end, or not
  // reading at all) or kReadsPerEvent reads are done (returns false).
  bool ReadSome();
  // `from_js`: called inside a JavaScript call (send()), where calling back
  // into JavaScript would be re-entrant; failures are then reported later.
  void WriteSome(bool from_js);
  // The socket failed: drop the output and end with `err`.
  void Broken(int err, const char* syscall, bool from_js);
  void DeliverEnd();
  // whenDrained()'s callback, if one waits and the output queue is empty.
  void DeliverDrain();
  void CallJs(const Napi::FunctionReference& fn, std::initializer_list<napi_value> args);
  // Brings the poll events and the strong reference in line with the state.
  void Update();
  // JavaScript can no longer run (the environment is stopping): stop
  // watching; the finalizer closes the rest.
  void Quiesce();
  void Shutdown();

  int fd_ = -1;
  Watch* watch_ = nullptr;
  OutQueue out_;
  bool started_ = false;
  bool ended_ = false;           // no more reading; onEnd delivered or due
  bool end_delivered_ = false;   // onEnd has been called
  int end_error_ = 0;            // 0 for a clean end of stream
  const char* end_syscall_ = "";
  bool broken_ = false;          // the socket failed; output is dropped
  bool paused_ = false;          // reading stopped: too much output queued
  bool held_reading_ = false;    // reading stopped by pauseReading()
  bool pauses_ = false;          // Side::kAccepted: pauses as above
  bool closed_ = false;
  bool held_ = false;            // the strong reference that keeps us alive
  int calling_ = 0;              // depth of calls into JavaScript
  // start()'s recordSize: no read crosses a multiple of it in the stream, so
  // a read holds the first byte of at most one record (0: reads of any size).
  size_t record_size_ = 0;
  size_t record_filled_ = 0;     // bytes of the current record read so far
  Napi::FunctionReference on_data_;
  Napi::FunctionReference on_end_;
  Napi::FunctionReference on_drain_;  // whenDrained(): called once, then reset
  std::unique_ptr<Napi::AsyncContext> async_;
};

}  // namespace tlspool::ipc
