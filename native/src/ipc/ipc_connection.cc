// See ipc_connection.h.
#include "ipc_connection.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "ipc_callback.h"
#include "ipc_env.h"
#include "errno_error.h"
#include "ipc_fd.h"
#include "ipc_recv.h"
#include "ipc_unix_addr.h"
#include "module.h"

namespace tlspool::ipc {

namespace {

// Backpressure on accepted connections: a client that sends requests but
// does not read the answers must not make us queue without bound, so above
// this much queued output we stop reading its requests ... (The kernel holds
// another ~200 KiB in the socket; what handlers already running answer after
// the pause comes on top: for the pool at most MAX_OUTSTANDING answers.)
constexpr size_t kPauseAbove = 64 * 1024;
// ... and start again once the queue has drained below this.
constexpr size_t kResumeBelow = 16 * 1024;
// Reads per readiness event before giving other handles a turn; the poll is
// level-triggered, so whatever is left is reported again on the next turn.
constexpr int kReadsPerEvent = 8;

// The socket handed from New() to the constructor (see OwnedFd::New).
struct PendingConnection {
  int fd;
  struct ucred peer;
  UnixConnection::Side side;
};
thread_local PendingConnection* t_pending = nullptr;

void Init(Napi::Env env, Napi::Object /*exports*/) { UnixConnection::Define(env); }

tlspool::RegisterModule reg(Init);

}  // namespace

void UnixConnection::Define(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "UnixConnection",
                                    {
                                        InstanceAccessor<&UnixConnection::GetQueuedBytes>("queuedBytes"),
                                        InstanceAccessor<&UnixConnection::GetInputBytes>("inputBytes"),
                                        InstanceMethod<&UnixConnection::Start>("start"),
                                        InstanceMethod<&UnixConnection::Send>("send"),
                                        InstanceMethod<&UnixConnection::Close>("close"),
                                        InstanceMethod<&UnixConnection::PauseReading>("pauseReading"),
                                        InstanceMethod<&UnixConnection::ResumeReading>("resumeReading"),
                                        InstanceMethod<&UnixConnection::WhenDrained>("whenDrained"),
                                    });
  EnvState(env).connection = Napi::Persistent(ctor);
}

Napi::Object UnixConnection::New(Napi::Env env, int fd, const struct ucred& peer, Side side) {
  PendingConnection pending{fd, peer, side};
  t_pending = &pending;
  Napi::Object obj = NewInstance(env, EnvState(env).connection);
  if (t_pending != nullptr) {
    // The constructor never ran, so nothing took the socket.
    t_pending = nullptr;
    close(fd);
    return Napi::Object();
  }
  return obj;
}

UnixConnection::UnixConnection(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UnixConnection>(info) {
  Napi::Env env = info.Env();
  if (t_pending == nullptr) {
    ThrowType(env, "UnixConnection cannot be constructed from JavaScript; use connectUnix() or listenUnix()");
    return;
  }
  PendingConnection pending = *t_pending;
  t_pending = nullptr;
  fd_ = pending.fd;  // ours from here on; the destructor closes it if we fail below
  pauses_ = pending.side == Side::kAccepted;
  int rc = 0;
  watch_ = Watch::Open(EnvState(env).loop, fd_, this, &rc);
  if (watch_ == nullptr) {
    ThrowErrno(env, -rc, "uv_poll_init");
    return;
  }
  info.This().As<Napi::Object>().DefineProperty(
      Napi::PropertyDescriptor::Value("peer", PeerCredObject(env, pending.peer), napi_enumerable));
}

UnixConnection::~UnixConnection() {
  // The finalizer's safety net. While the socket is being watched we hold a
  // strong reference, so this only runs for an idle connection JavaScript
  // dropped (or at environment teardown): close without calling anyone.
  closed_ = true;
  if (watch_ != nullptr) watch_->Close();
  if (fd_ >= 0) close(fd_);
}

Napi::Value UnixConnection::GetQueuedBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(out_.bytes()));
}

// Bytes received by the kernel and not yet read (FIONREAD), without waiting:
// what a sender wrote together with the bytes just read. 0 once closed.
Napi::Value UnixConnection::GetInputBytes(const Napi::CallbackInfo& info) {
  int n = 0;
  if (closed_ || fd_ < 0 || ioctl(fd_, FIONREAD, &n) != 0 || n < 0) n = 0;
  return Napi::Number::New(info.Env(), n);
}

Napi::Value UnixConnection::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction() || !info[1].IsFunction()) {
    ThrowType(env, "start(onData, onEnd, recordSize?): onData and onEnd must be functions");
    return Napi::Value();
  }
  size_t record_size = 0;
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    double v = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : -1;
    if (!(v >= 1 && v <= static_cast<double>(kReadChunk)) || v != static_cast<double>(static_cast<size_t>(v))) {
      ThrowType(env, "start(onData, onEnd, recordSize?): recordSize must be a whole number from 1 to 65536");
      return Napi::Value();
    }
    record_size = static_cast<size_t>(v);
  }
  // After close() nothing may be called back, so there is nothing to start.
  if (closed_) return env.Undefined();
  if (started_) {
    Napi::Error::New(env, "start(): the connection is already started").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  started_ = true;
  record_size_ = record_size;
  on_data_ = Napi::Persistent(info[0].As<Napi::Function>());
  on_end_ = Napi::Persistent(info[1].As<Napi::Function>());
  async_ = std::make_unique<Napi::AsyncContext>(env, "tlspool.UnixConnection");
  // A send() may have found the socket broken before we were started; that
  // end is reported from the loop, not from inside this call.
  if (ended_ && !end_delivered_) watch_->StartTimer(0);
  Update();
  return env.Undefined();
}

Napi::Value UnixConnection::Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowType(env, "send(data, fd?): data must be a Uint8Array or Buffer");
    return Napi::Value();
  }
  Napi::Uint8Array data = info[0].As<Napi::Uint8Array>();
  OwnedFd* pass = nullptr;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    pass = OwnedFd::From(env, info[1]);
    if (pass == nullptr) {
      ThrowType(env, "send(data, fd?): fd must be an OwnedFd");
      return Napi::Value();
    }
    if (data.ByteLength() == 0) {
      // SCM_RIGHTS on a stream socket needs at least one byte to ride on.
      ThrowType(env, "send(data, fd): a descriptor needs at least one byte of data to travel with");
      return Napi::Value();
    }
  }
  if (closed_ || broken_) return Napi::Boolean::New(env, false);
  if (data.ByteLength() == 0) return Napi::Boolean::New(env, true);
  int copy = -1;
  if (pass != nullptr) {
    // Our own duplicate: the caller keeps and closes theirs whenever it likes.
    copy = fcntl(pass->fd(), F_DUPFD_CLOEXEC, 0);
    if (copy < 0) {
      ThrowErrno(env, errno, "fcntl", "F_DUPFD_CLOEXEC");
      return Napi::Value();
    }
  }
  out_.Push(data.Data(), data.ByteLength(), copy);
  WriteSome(true);
  return Napi::Boolean::New(env, !broken_);
}

Napi::Value UnixConnection::Close(const Napi::CallbackInfo& info) {
  Shutdown();
  return info.Env().Undefined();
}

Napi::Value UnixConnection::PauseReading(const Napi::CallbackInfo& info) {
  // Inside onData this also ends the current run of reads: ReadSome checks
  // the flag before each one.
  held_reading_ = true;
  Update();
  return info.Env().Undefined();
}

Napi::Value UnixConnection::ResumeReading(const Napi::CallbackInfo& info) {
  // The poll is level-triggered: bytes that waited are reported on the next turn.
  held_reading_ = false;
  Update();
  return info.Env().Undefined();
}

Napi::Value UnixConnection::WhenDrained(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction()) {
    ThrowType(env, "whenDrained(f): f must be a function");
    return Napi::Value();
  }
  if (closed_ || ended_) return env.Undefined();  // nothing is called after the end
  if (!started_) {
    Napi::Error::New(env, "whenDrained(): start() the connection first").ThrowAsJavaScriptException();
    return Napi::Value();
  }
  on_drain_ = Napi::Persistent(info[0].As<Napi::Function>());
  // Already empty: called from the loop all the same, never from inside this call.
  if (out_.empty()) watch_->StartTimer(0);
  Update();
  return env.Undefined();
}

void UnixConnection::OnPoll(int status, int events) {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  // Pins the JavaScript object, and so `this`, even if a callback below
  // closes us and drops the strong reference.
  [[maybe_unused]] Napi::Object self = Value();
  if (!CanRunJs(env)) {
    Quiesce();
    return;
  }
  if (status < 0) {
    OnPollError(status);
    return;
  }
  if (events & UV_READABLE) ReadSome();
  if (closed_) return;
  if (events & UV_WRITABLE) WriteSome(false);
}

void UnixConnection::OnPollError(int status) {
  // libuv turns POLLERR into UV_EBADF without saying more. The socket's own
  // error (ECONNRESET, ...) comes out of recvmsg after any data still
  // buffered, or out of sendmsg, so carry on as if both were ready.
  const bool drained = ReadSome();
  if (closed_) return;
  if (!out_.empty()) WriteSome(false);
  if (closed_) return;
  if (drained && !ended_ && !broken_) {
    // Neither call met the error: take it from SO_ERROR rather than be told
    // of it again and again.
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err == 0) err = -status;
    Broken(err, "poll", false);
    return;
  }
  // The error is still queued behind data: read on at the next event.
  Update();
}

void UnixConnection::OnTimer() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  [[maybe_unused]] Napi::Object self = Value();
  if (!CanRunJs(env)) {
    Quiesce();
    return;
  }
  if (ended_ && !end_delivered_ && started_ && !closed_) DeliverEnd();
  else DeliverDrain();
  Update();
}

bool UnixConnection::ReadSome() {
  Napi::Env env = Env();
  for (int i = 0; i < kReadsPerEvent; ++i) {
    if (closed_ || !started_ || ended_ || paused_ || held_reading_) return true;
    // With a record size, read no further than the end of the current record.
    // The kernel hands a descriptor out with the read that holds the first
    // byte of its sendmsg, glued to any plain bytes queued before it (unix(7));
    // only a read that starts at most one record lets the receiver tell which
    // record the descriptor came with.
    Received r = RecvOnce(fd_, record_size_ > 0 ? record_size_ - record_filled_ : kReadChunk);
    if (r.n < 0) {
      if (r.error == EAGAIN || r.error == EWOULDBLOCK) return true;
      Broken(r.error, "recvmsg", false);
      return true;
    }
    if (r.n == 0) {
      // A stream socket delivers descriptors with data only; never leak one.
      for (int fd : r.fds) close(fd);
      ended_ = true;
      end_error_ = 0;
      DeliverEnd();
      return true;
    }
    if (record_size_ > 0) record_filled_ = (record_filled_ + static_cast<size_t>(r.n)) % record_size_;
    Napi::HandleScope scope(env);
    napi_value chunk = nullptr;
    napi_value fds = nullptr;
    void* copy = nullptr;
    bool made = napi_create_buffer_copy(env, static_cast<size_t>(r.n), r.data, &copy, &chunk) == napi_ok &&
                napi_create_array_with_length(env, r.fds.size(), &fds) == napi_ok;
    for (size_t k = 0; k < r.fds.size(); ++k) {
      Napi::Object owned = made ? OwnedFd::New(env, r.fds[k]) : Napi::Object();
      if (owned.IsEmpty()) {
        if (made) ++k;  // OwnedFd::New closed that one
        for (; k < r.fds.size(); ++k) close(r.fds[k]);  // nobody owns these
        made = false;
        break;
      }
      made = napi_set_element(env, fds, static_cast<uint32_t>(k), owned) == napi_ok;
    }
    if (!made) {
      // Out of memory, or the environment is stopping. Bytes are lost, so the
      // stream cannot go on.
      RaisePending(env);
      Broken(ENOMEM, "recvmsg", false);
      return true;
    }
    CallJs(on_data_, {chunk, fds, Napi::Boolean::New(env, r.fds_lost)});
  }
  return false;
}

void UnixConnection::WriteSome(bool from_js) {
  if (closed_ || broken_) return;
  int err = out_.Flush(fd_);
  if (err != 0) {
    Broken(err, "sendmsg", from_js);
    return;
  }
  if (out_.empty() && !on_drain_.IsEmpty()) {
    // Inside send() calling back would be re-entrant: the loop does it.
    if (from_js) {
      watch_->StartTimer(0);
    } else {
      DeliverDrain();
      if (closed_ || broken_) return;
    }
  }
  if (pauses_ && out_.bytes() > kPauseAbove) {
    paused_ = true;
  } else if (out_.bytes() < kResumeBelow) {
    paused_ = false;
  }
  Update();
}

void UnixConnection::DeliverDrain() {
  if (closed_ || ended_ || !started_ || on_drain_.IsEmpty() || !out_.empty()) return;
  Napi::HandleScope scope(Env());
  // One call per whenDrained(); the callback may ask again.
  Napi::FunctionReference on_drain = std::move(on_drain_);
  CallJs(on_drain, {});
}

void UnixConnection::Broken(int err, const char* syscall, bool from_js) {
  broken_ = true;
  out_.Clear();
  paused_ = false;
  if (!ended_) {
    ended_ = true;
    end_error_ = err;
    end_syscall_ = syscall;
    if (started_) {
      if (from_js) {
        watch_->StartTimer(0);
      } else {
        DeliverEnd();
        return;
      }
    }
  }
  Update();
}

void UnixConnection::DeliverEnd() {
  Napi::Env env = Env();
  end_delivered_ = true;
  watch_->StopTimer();
  Update();  // stop reading before anyone hears of the end
  Napi::HandleScope scope(env);
  napi_value arg = env.Undefined();
  if (end_error_ != 0) {
    Napi::Error error = SyscallError(env, end_error_, end_syscall_);
    if (!error.IsEmpty()) arg = error.Value();
  }
  // Nothing is called after the end: take both callbacks out first.
  Napi::FunctionReference on_end = std::move(on_end_);
  on_data_.Reset();
  on_drain_.Reset();
  CallJs(on_end, {arg});
  Update();
}

void UnixConnection::CallJs(const Napi::FunctionReference& fn, std::initializer_list<napi_value> args) {
  if (closed_ || !async_) return;
  ++calling_;
  CallFromLoop(Env(), fn, Value(), args, *async_);
  --calling_;
  // The async resource ends with the last possible callback; not while one
  // is still running (close() from inside onData, say).
  if (calling_ == 0 && (closed_ || end_delivered_)) async_.reset();
}

void UnixConnection::Update() {
  if (closed_) return;
  int want = 0;
  if (started_ && !ended_ && !paused_ && !held_reading_) want |= UV_READABLE;
  if (!out_.empty() && !broken_) want |= UV_WRITABLE;
  int rc = watch_->SetEvents(want);
  if (rc != 0) {
    // Cannot watch the socket: treat it as failed, reported from the loop.
    broken_ = true;
    out_.Clear();
    watch_->SetEvents(0);
    want = 0;
    if (!ended_) {
      ended_ = true;
      end_error_ = -rc;
      end_syscall_ = "uv_poll_start";
      if (started_) watch_->StartTimer(0);
    }
  }
  // Keep the JavaScript object (and so this) alive while the loop may call
  // us; let the garbage collector have it otherwise.
  bool hold = want != 0 || watch_->TimerActive();
  if (hold && !held_) {
    Ref();
    held_ = true;
  } else if (!hold && held_) {
    Unref();
    held_ = false;
  }
}

void UnixConnection::Quiesce() {
  watch_->SetEvents(0);
  watch_->StopTimer();
}

void UnixConnection::Shutdown() {
  if (closed_) return;
  closed_ = true;
  out_.Clear();
  on_data_.Reset();
  on_end_.Reset();
  on_drain_.Reset();
  watch_->Close();  // stops polling first, so closing the fd next is safe
  watch_ = nullptr;
  close(fd_);
  fd_ = -1;
  if (held_) {
    Unref();
    held_ = false;
  }
  if (calling_ == 0) async_.reset();
}

}  // namespace tlspool::ipc
