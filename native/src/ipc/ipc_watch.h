// The libuv side of one socket: a poll handle for readiness and a timer for
// "later, from the loop". The handles' memory must outlive uv_close(), so it
// belongs to this object, which frees itself from the close callbacks; the
// JavaScript-facing owner may be gone by then.
#pragma once
#include <napi.h>
#include <uv.h>

#include <cstdint>

namespace tlspool::ipc {

// What a Watch reports to. Both calls come from the loop, on the main thread,
// outside any JavaScript frame.
class WatchOwner {
 public:
  // `status` is 0 or a negative libuv error; `events` is UV_READABLE/UV_WRITABLE.
  // On an error (libuv's UV_EBADF for POLLERR) polling has stopped.
  virtual void OnPoll(int status, int events) = 0;
  virtual void OnTimer() = 0;

 protected:
  ~WatchOwner() = default;
};

class Watch {
 public:
  // Returns nullptr with *error set (a negative libuv code) on failure.
  static Watch* Open(uv_loop_t* loop, int fd, WatchOwner* owner, int* error);

  // Poll for exactly `events` (0 stops polling). Returns 0 or a libuv error.
  int SetEvents(int events);
  int events() const { return events_; }

  // One-shot timer; starting it again replaces the previous timeout.
  void StartTimer(uint64_t timeout_ms);
  void StopTimer();
  bool TimerActive() const;

  // Stops both handles at once (so the fd may be closed right after this
  // returns) and closes them; the owner is never called again and `this`
  // is freed once libuv is done with the handles.
  void Close();

 private:
  Watch() = default;
  ~Watch() = default;
  static void PollCb(uv_poll_t* handle, int status, int events);
  static void TimerCb(uv_timer_t* handle);
  static void ClosedCb(uv_handle_t* handle);

  uv_poll_t poll_;
  uv_timer_t timer_;
  WatchOwner* owner_ = nullptr;
  int events_ = 0;
  int open_handles_ = 0;  // handles initialised and not yet closed by libuv
};

}  // namespace tlspool::ipc
