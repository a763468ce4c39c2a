// The relay: plaintext (the socketpair) <-> TLS records (the peer's socket)
// for every established session, on a few relay threads that each poll
// their sessions' descriptors with epoll.
//
// Why not the session's own thread: an idle connection would keep a thread,
// its stack, an eventfd and two 16 KiB buffers for its whole life (about
// 96 KiB and 3 descriptors per TLS end, measured in bench/README.md). Here
// an idle session holds its GnuTLS state and two descriptors, nothing else.
//
// A session is stepped (RelayStep) when one of its descriptors is ready or
// it was woken (abort); a step moves data until nothing moves, and says what
// it waits for. The rules are those of the former per-thread loop: close_notify
// after the application's EOF, half-close towards the application after the
// peer's, "closed"/"peer-closed" by who went first, DTLS without half-close.
// A TLS 1.2 renegotiation is stepped here too (tls_renegotiate.cc).
#include <errno.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "tls_resumption.h"
#include "tls_session_impl.h"

namespace tlspool {
namespace tls {

namespace {

// Records moved in one step before other sessions get their turn.
constexpr int kStepRounds = 64;
// Relay threads poll many descriptors but need little stack.
constexpr size_t kRelayStack = 256 * 1024;

}  // namespace

class RelayThread {
 public:
  // Starts the thread; false (with errno) if it could not be started.
  bool Start() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ep_ < 0 || wake_ < 0) return false;
    struct epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;  // the wake eventfd
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, wake_, &ev) < 0) return false;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, kRelayStack);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t tid;
    int rc = pthread_create(&tid, &attr, &RelayThread::Main, this);
    pthread_attr_destroy(&attr);
    if (rc != 0) errno = rc;
    return rc == 0;
  }

  // Any thread: take over an established session.
  void Adopt(std::shared_ptr<Session> s) {
    sessions_.fetch_add(1);
    {
      std::lock_guard<std::mutex> lk(mu_);
      adopt_.push_back(std::move(s));
    }
    Signal();
  }

  // Any thread: step this session soon (it was aborted).
  void Wake(std::weak_ptr<Session> s) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      wake_list_.push_back(std::move(s));
    }
    Signal();
  }

  int load() const { return sessions_.load(); }

 private:
  static void* Main(void* arg) {
    static_cast<RelayThread*>(arg)->Loop();
    return nullptr;
  }

  void Signal() {
    uint64_t one = 1;
    ssize_t r = write(wake_, &one, sizeof(one));
    (void)r;
  }

  void Queue(Session* s, std::vector<Session*>* ready) {
    if (s->relayQueued_) return;
    s->relayQueued_ = true;
    ready->push_back(s);
  }

  void TakeMail(std::vector<Session*>* ready) {
    uint64_t n;
    ssize_t r = read(wake_, &n, sizeof(n));
    (void)r;
    std::vector<std::shared_ptr<Session>> adopt;
    std::vector<std::weak_ptr<Session>> wake;
    {
      std::lock_guard<std::mutex> lk(mu_);
      adopt.swap(adopt_);
      wake.swap(wake_list_);
    }
    for (auto& s : adopt) {
      Session* raw = s.get();
      live_.emplace(raw, std::move(s));
      Queue(raw, ready);
    }
    for (auto& w : wake) {
      std::shared_ptr<Session> s = w.lock();
      if (s && live_.count(s.get())) Queue(s.get(), ready);
    }
  }

  void Loop() {
    std::vector<struct epoll_event> events(256);
    std::vector<Session*> ready, batch;
    for (;;) {
      int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), ready.empty() ? -1 : 0);
      if (n < 0 && errno != EINTR) n = 0;  // nothing we can do but go on stepping
      for (int i = 0; i < n; i++) {
        if (events[i].data.ptr == nullptr) {
          TakeMail(&ready);
        } else {
          Queue(static_cast<Session*>(events[i].data.ptr), &ready);
        }
      }
      batch.swap(ready);
      for (Session* s : batch) {
        s->relayQueued_ = false;
        std::unique_lock<std::mutex> gl(s->gsMu_);
        Session::Step st = s->RelayStep();
        if (st == Session::Step::kYield) {
          gl.unlock();
          Queue(s, &ready);
        } else if (st == Session::Step::kWait) {
          gl.unlock();
          s->RelayArm(ep_);
        } else {
          s->relaying_ = false;
          s->RelayEnd(ep_);
          s->Finish();
          gl.unlock();
          live_.erase(s);  // may be the last reference
          sessions_.fetch_sub(1);
        }
      }
      batch.clear();
    }
  }

  int ep_ = -1;
  int wake_ = -1;
  std::mutex mu_;
  std::vector<std::shared_ptr<Session>> adopt_;
  std::vector<std::weak_ptr<Session>> wake_list_;
  std::unordered_map<Session*, std::shared_ptr<Session>> live_;  // relay thread only
  std::atomic<int> sessions_{0};
};

namespace {

// The relay threads, started with the addon (StartRelayThreads) so that
// their descriptors are there from the start, not counted as a session's.
// As many as cores (at most 4): a step is CPU work (encryption), never a wait.
std::vector<RelayThread*>* RelayThreads() {
  static std::vector<RelayThread*>* threads = [] {
    auto* v = new std::vector<RelayThread*>();
    unsigned n = std::min(4u, std::max(1u, std::thread::hardware_concurrency()));
    for (unsigned i = 0; i < n; i++) {
      auto* t = new RelayThread();
      if (t->Start()) v->push_back(t);  // a thread that failed to start stays unused (and leaks: once)
    }
    return v;
  }();
  return threads;
}

}  // namespace

void StartRelayThreads() { RelayThreads(); }

void Session::StartRelay() {
  std::vector<RelayThread*>* threads = RelayThreads();
  if (threads->empty()) {
    end_.reason = "error";
    end_.failure.kind = "local";
    end_.failure.sysErrno = EAGAIN;
    end_.failure.message = "no relay thread could be started";
    std::lock_guard<std::mutex> gl(gsMu_);
    RelayEnd(-1);
    Finish();
    return;
  }
  relaying_ = true;
  // The least loaded thread: the two ends of one connection in this daemon
  // then usually land on different threads (and cores).
  RelayThread* t = *std::min_element(threads->begin(), threads->end(),
                                     [](RelayThread* a, RelayThread* b) { return a->load() < b->load(); });
  {
    // From here on Abort() wakes the relay thread instead of the eventfd.
    std::lock_guard<std::mutex> wk(wakeMu_);
    CloseFd(wakeFd_);
    relay_ = t;
  }
  t->Adopt(shared_from_this());
}

void Session::WakeRelay() {
  // Called by Abort() under wakeMu_.
  if (relay_ != nullptr) relay_->Wake(weak_from_this());
}

// Client: a TLS 1.3 server sends its tickets after the handshake, so they
// arrive here. Kept only for sessions that presented no certificate of
// ours: resuming one that did would present that identity again without
// asking the application (STARTTLS_LOCALID) this time.
void Session::MaybeSaveTicket() {
  if (!(gnutls_session_get_flags(gs_) & GNUTLS_SFLAGS_SESSION_TICKET)) return;
  ticketSaved_ = true;
  if (localCreds_ == nullptr) SaveClientTicket(gs_, resumeKey_);
}

Session::Step Session::RelayStep() {
  const size_t cap = dtls_ ? kDgramBuf : kTlsChunk;
  for (int round = 0; round < kStepRounds; round++) {
    if (aborted_.load()) {
      end_.reason = "aborted";
      return Step::kDone;
    }
    bool progress = false;
    tlsWant_ = plainWant_ = 0;
    // A new handshake starts once nothing of ours is half sent (GnuTLS wants
    // a blocked record_send repeated before anything else).
    if (renegAnswer_ && outLen_ == 0) {
      renegAnswer_ = false;
      BeginRenegotiation(false, false);  // our HelloRequest answered: the handshake proper
    } else if (!renegActive_ && outLen_ == 0 && (renegPeerWanted_ || renegWanted_.load())) {
      bool ours = renegWanted_.exchange(false);
      renegPeerWanted_ = false;
      std::string why;
      int blocker = RenegotiationBlocker(&why);
      if (blocker == 0) {
        // A server asks with a HelloRequest; a client starts with its
        // ClientHello, and so does a server taking the peer's (GnuTLS holds it).
        BeginRenegotiation(!ours, ours && !client_);
      } else if (ours) {
        renegByPeer_ = false;
        RenegotiationDone(blocker, why);
      }
    }
    if (renegActive_) {
      // Meanwhile the peer's earlier data still reaches the application; nothing is read from it.
      if (!PeerToApp(cap, &progress) || !RenegotiationStep(cap, &progress)) return Step::kDone;
      if (progress) continue;
      if (outLen_ == 0) outBuf_.reset();
      return Step::kWait;
    }
    if (!PeerToApp(cap, &progress) || !AppToPeer(cap, &progress) || !CloseNotify(&progress)) return Step::kDone;
    if (appGone_ && byeDone_) {
      end_.reason = "closed";
      return Step::kDone;
    }
    if (appEof_ && byeDone_ && (dtls_ || (peerEof_ && plainShut_))) {
      // DTLS has no half-close to wait for: after our close_notify we are done.
      end_.reason = first_ == kPeer ? "peer-closed" : "closed";
      return Step::kDone;
    }
    if (progress) continue;
    // Never wait on the socket while GnuTLS holds decrypted data we want.
    if (!peerEof_ && inLen_ == 0 && gnutls_record_check_pending(gs_) > 0) continue;
    // Waiting: an empty buffer is given back (idle sessions hold none).
    if (inLen_ == 0) inBuf_.reset();
    if (outLen_ == 0) outBuf_.reset();
    return Step::kWait;
  }
  return Step::kYield;
}

// Peer -> application: one record in, and as much of it out as the
// socketpair takes. False when the session is over (end_ says why).
bool Session::PeerToApp(size_t cap, bool* progress) {
  // Reading whenever our buffer is empty also drains
  // what GnuTLS already holds (gnutls_record_check_pending) before we wait.
  if (!peerEof_ && inLen_ == 0 && !renegActive_) {
    if (!inBuf_) inBuf_.reset(new char[cap]);
    ssize_t r = gnutls_record_recv(gs_, inBuf_.get(), cap);
    if (!ticketSaved_ && !resumeKey_.empty()) MaybeSaveTicket();
    if (r > 0) {
      inLen_ = static_cast<size_t>(r);
      inOff_ = 0;
      bytesIn_ += static_cast<uint64_t>(r);
      *progress = true;
    } else if (r == 0 || r == GNUTLS_E_PREMATURE_TERMINATION) {
      peerEof_ = true;
      if (r != 0) end_.truncated = true;
      if (first_ == kNone) first_ = kPeer;
      *progress = true;
    } else if (r == GNUTLS_E_AGAIN) {
      tlsWant_ |= gnutls_record_get_direction(gs_) ? EPOLLOUT : EPOLLIN;
    } else if (r == GNUTLS_E_REHANDSHAKE) {
      PeerAsksRenegotiation();  // tls_renegotiate.cc
      *progress = true;
    } else if (r == GNUTLS_E_WARNING_ALERT_RECEIVED && renegAwaiting_ && gnutls_alert_get(gs_) == GNUTLS_A_NO_RENEGOTIATION) {
      RenegotiationDeclined(false);  // our HelloRequest declined: nothing of the session changed
      *progress = true;
    } else if (r == GNUTLS_E_INTERRUPTED || !gnutls_error_is_fatal(static_cast<int>(r))) {
      // Warning alerts.
      *progress = true;
    } else {
      DescribeFailure(static_cast<int>(r), &end_.failure);
      end_.reason = "error";
      return false;
    }
  }
  if (inLen_ > 0) {
    ssize_t w = send(plainFd_, inBuf_.get() + inOff_, inLen_ - inOff_, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w >= 0) {
      inOff_ += static_cast<size_t>(w);
      if (inOff_ >= inLen_) inLen_ = inOff_ = 0;
      *progress = true;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      plainWant_ |= EPOLLOUT;
    } else if (errno == EINTR) {
      *progress = true;
    } else if (dtls_ && errno == EMSGSIZE) {
      inLen_ = inOff_ = 0;  // a datagram the socketpair cannot carry
      end_.dropped++;
      *progress = true;
    } else {
      appGone_ = true;  // EPIPE, ECONNRESET: the application closed its end
      inLen_ = inOff_ = outLen_ = outOff_ = 0;
    }
  }
  if (peerEof_ && inLen_ == 0 && !plainShut_ && !appGone_) {
    shutdown(plainFd_, SHUT_WR);
    plainShut_ = true;
    *progress = true;
  }
  return true;
}

// Application -> peer: one read of plaintext, sent as TLS records.
bool Session::AppToPeer(size_t cap, bool* progress) {
  // Nothing new is taken while a new handshake waits to start, nor after our
  // HelloRequest: a client in its new handshake takes no data (OpenSSL and
  // GnuTLS refuse it), so what the application sends waits until it is done.
  if (!appEof_ && !appGone_ && outLen_ == 0 && !RenegotiationHoldsPlaintext()) {
    if (!outBuf_) outBuf_.reset(new char[cap]);
    ssize_t n = recv(plainFd_, outBuf_.get(), cap, MSG_DONTWAIT);
    if (n > 0) {
      outLen_ = static_cast<size_t>(n);
      outOff_ = 0;
      *progress = true;
    } else if (n == 0) {
      appEof_ = true;
      if (first_ == kNone) first_ = kApp;
      *progress = true;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      plainWant_ |= EPOLLIN;
    } else if (errno == EINTR) {
      *progress = true;
    } else {
      appGone_ = true;
      inLen_ = inOff_ = outLen_ = outOff_ = 0;
    }
  }
  if (outLen_ > 0 && !appGone_) {
    // After GNUTLS_E_AGAIN this repeats the same call, as GnuTLS requires.
    ssize_t r = gnutls_record_send(gs_, outBuf_.get() + outOff_, outLen_ - outOff_);
    if (r > 0) {
      outOff_ += static_cast<size_t>(r);
      bytesOut_ += static_cast<uint64_t>(r);
      if (outOff_ >= outLen_) outLen_ = outOff_ = 0;
      *progress = true;
    } else if (r == GNUTLS_E_AGAIN) {
      tlsWant_ |= gnutls_record_get_direction(gs_) ? EPOLLOUT : EPOLLIN;
    } else if (r == GNUTLS_E_INTERRUPTED) {
      *progress = true;
    } else if (dtls_ && r == GNUTLS_E_LARGE_PACKET) {
      outLen_ = outOff_ = 0;  // larger than the path allows: dropped, as UDP would
      end_.dropped++;
      *progress = true;
    } else {
      DescribeFailure(static_cast<int>(r), &end_.failure);
      end_.reason = "error";
      return false;
    }
  }
  return true;
}

// Our close_notify once the application has closed (or gone) and all it
// wrote is sent.
bool Session::CloseNotify(bool* progress) {
  if ((appEof_ || appGone_) && outLen_ == 0 && !byeDone_) {
    int r = gnutls_bye(gs_, GNUTLS_SHUT_WR);
    if (r == 0) {
      byeDone_ = true;
      *progress = true;
    } else if (r == GNUTLS_E_AGAIN && !appGone_) {
      tlsWant_ |= gnutls_record_get_direction(gs_) ? EPOLLOUT : EPOLLIN;
    } else if (r == GNUTLS_E_INTERRUPTED && !appGone_) {
      *progress = true;
    } else if (peerEof_ || appGone_) {
      byeDone_ = true;  // the peer is gone already, or we are leaving anyway
      *progress = true;
    } else {
      DescribeFailure(r, &end_.failure);
      end_.reason = "error";
      return false;
    }
  }
  return true;
}

namespace {

// Registers fd for `want` (0: not at all) with the relay's epoll. A
// descriptor without interest is removed, not kept with no events: epoll
// reports hang-ups regardless, and an idle session must not spin on one.
void Arm(int ep, int fd, short want, short* armed, Session* s) {
  if (want == *armed) return;
  struct epoll_event ev = {};
  ev.events = static_cast<uint32_t>(want);
  ev.data.ptr = s;
  int op = *armed == 0 ? EPOLL_CTL_ADD : want == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
  if (epoll_ctl(ep, op, fd, &ev) == 0 || op == EPOLL_CTL_DEL) *armed = want;
}

}  // namespace

void Session::RelayArm(int ep) {
  Arm(ep, tlsFd_, tlsWant_, &tlsArmed_, this);
  Arm(ep, plainFd_, plainWant_, &plainArmed_, this);
}

void Session::RelayEnd(int ep) {
  // Out of the epoll set before the descriptors close: the application may
  // still hold the same socket, and then a close would not remove it.
  if (ep >= 0) {
    Arm(ep, tlsFd_, 0, &tlsArmed_, this);
    Arm(ep, plainFd_, 0, &plainArmed_, this);
  }
  if (end_.reason == "aborted" && !byeDone_ && gs_ != nullptr) {
    // Best effort: tell the peer we are going (never blocks).
    gnutls_bye(gs_, GNUTLS_SHUT_WR);
  }
  inBuf_.reset();
  outBuf_.reset();
  end_.bytesIn = bytesIn_.load();
  end_.bytesOut = bytesOut_.load();
  // Close our descriptors before telling JavaScript, so that "ended" means
  // the descriptors are gone.
  CloseFd(plainFd_);
  CloseFd(tlsFd_);
  CloseWake();
  Post(std::unique_ptr<Event>(new EndEvent(std::move(end_))));
}

}  // namespace tls
}  // namespace tlspool
