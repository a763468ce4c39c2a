// See ipc_watch.h.
#include "ipc_watch.h"

namespace tlspool::ipc {

Watch* Watch::Open(uv_loop_t* loop, int fd, WatchOwner* owner, int* error) {
  auto* w = new Watch();
  uv_timer_init(loop, &w->timer_);  // cannot fail
  w->timer_.data = w;
  w->open_handles_ = 1;
  int rc = uv_poll_init(loop, &w->poll_, fd);
  if (rc != 0) {
    *error = rc;
    w->owner_ = nullptr;
    // The timer is initialised and must go through uv_close() too.
    uv_close(reinterpret_cast<uv_handle_t*>(&w->timer_), ClosedCb);
    return nullptr;
  }
  w->poll_.data = w;
  w->open_handles_ = 2;
  w->owner_ = owner;
  return w;
}

int Watch::SetEvents(int events) {
  if (events == events_) return 0;
  int rc = events == 0 ? uv_poll_stop(&poll_) : uv_poll_start(&poll_, events, PollCb);
  if (rc == 0) events_ = events;
  return rc;
}

void Watch::StartTimer(uint64_t timeout_ms) { uv_timer_start(&timer_, TimerCb, timeout_ms, 0); }

void Watch::StopTimer() { uv_timer_stop(&timer_); }

bool Watch::TimerActive() const { return uv_is_active(reinterpret_cast<const uv_handle_t*>(&timer_)) != 0; }

void Watch::Close() {
  owner_ = nullptr;
  // Stop explicitly: libuv stops a poll handle inside uv_close() as well, but
  // the caller closes the fd right after this and must be able to rely on it.
  uv_poll_stop(&poll_);
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), ClosedCb);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), ClosedCb);
}

void Watch::PollCb(uv_poll_t* handle, int status, int events) {
  auto* w = static_cast<Watch*>(handle->data);
  // libuv reports POLLERR as UV_EBADF and has stopped the handle by then.
  if (status < 0) w->events_ = 0;
  if (w->owner_ != nullptr) w->owner_->OnPoll(status, events);
}

void Watch::TimerCb(uv_timer_t* handle) {
  auto* w = static_cast<Watch*>(handle->data);
  if (w->owner_ != nullptr) w->owner_->OnTimer();
}

void Watch::ClosedCb(uv_handle_t* handle) {
  auto* w = static_cast<Watch*>(handle->data);
  if (--w->open_handles_ == 0) delete w;
}

}  // namespace tlspool::ipc
