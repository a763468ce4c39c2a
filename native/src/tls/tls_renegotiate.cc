// TLS 1.2 renegotiation of an established session, run by its relay thread
// (tls_relay.cc steps it like the rest of the relay, without blocking):
// asked by the application (V2 RENEGOTIATE) or by the peer. The new
// handshake uses the session's own credentials, and the verdict already
// given on the peer stands only if the peer shows the same end-entity
// certificate again: a peer that changes it ends the session (the
// application was told who it talks to). Refused for TLS 1.3 (it has no
// renegotiation), without secure renegotiation (RFC 5746), and for DTLS
// (the relay keeps no retransmission timers); for a server, only sessions
// without TLS 1.2 session tickets (see RenegotiationBlocker).
#include <errno.h>
#include <gnutls/gnutls.h>
#include <sys/epoll.h>

#include <string>

#include "tls_session_impl.h"

namespace tlspool {
namespace tls {

namespace {

// A peer's requests for a new handshake are taken at most this often; the
// ones in between are ignored (each costs the relay thread a handshake).
constexpr int64_t kPeerRenegotiationIntervalNs = 10LL * 1000 * 1000 * 1000;

// RenegotiationDone's outcomes, by number, as JavaScript reads them.
const char* const kRenegotiationOutcomes[] = {"done", "insecure", "not-now", "failed", "declined"};
const char* const kUnderWay = "a renegotiation of this session is under way";

class RenegotiatedEvent : public Event {
 public:
  RenegotiatedEvent(const char* outcome, bool byPeer, std::string message, std::string version, std::string cipher)
      : outcome_(outcome), byPeer_(byPeer), message_(std::move(message)), version_(std::move(version)), cipher_(std::move(cipher)) {}
  void Deliver(Napi::Env env, Napi::Function dispatch) override {
    Napi::Object ev = Napi::Object::New(env);
    ev.Set("type", Napi::String::New(env, "renegotiated"));
    ev.Set("outcome", Napi::String::New(env, outcome_));
    ev.Set("byPeer", Napi::Boolean::New(env, byPeer_));
    if (!message_.empty()) ev.Set("message", Napi::String::New(env, message_));
    ev.Set("version", Napi::String::New(env, version_));
    ev.Set("cipher", Napi::String::New(env, cipher_));
    dispatch.Call({ev});
  }

 private:
  const char* outcome_;
  bool byPeer_;
  std::string message_, version_, cipher_;
};

}  // namespace

int Session::RenegotiationBlocker(std::string* why) {
  if (gs_ == nullptr || !relaying_.load()) {
    *why = "the TLS session has ended";
    return 2;
  }
  if (gnutls_protocol_get_version(gs_) == GNUTLS_TLS1_3) {
    *why = "TLS 1.3 has no renegotiation; start a new session instead";
    return 1;
  }
  if (dtls_) {
    *why = "this pool does not renegotiate DTLS sessions; start a new session";
    return 2;
  }
  if (!client_ && !resumeScope_.empty()) {
    // GnuTLS 3.7 keeps the first handshake's "client wants a ticket" in the
    // session: a client that resumes with its TLS 1.2 ticket in the new
    // handshake makes GnuTLS send a ticket after its ChangeCipherSpec, fail
    // (GNUTLS_E_UNAVAILABLE_DURING_HANDSHAKE), and the session would be lost.
    *why = "a server session with TLS 1.2 session tickets cannot be renegotiated; start it with IGNORE_CACHES";
    return 2;
  }
  if (!gnutls_safe_renegotiation_status(gs_)) {
    *why = "the peer lacks secure renegotiation (RFC 5746)";
    return 1;
  }
  if (appEof_ || appGone_ || peerEof_ || byeDone_) {
    *why = "the session is closing";
    return 2;
  }
  if (renegActive_ || renegAwaiting_) {
    *why = kUnderWay;
    return 2;
  }
  return 0;
}

int Session::RequestRenegotiation(std::string* err) {
  {
    std::lock_guard<std::mutex> gl(gsMu_);
    int blocker = RenegotiationBlocker(err);
    if (blocker != 0) return blocker;
    if (renegWanted_.exchange(true)) {
      *err = kUnderWay;
      return 2;
    }
  }
  std::lock_guard<std::mutex> wk(wakeMu_);
  WakeRelay();
  return 0;
}

bool Session::WithdrawRenegotiation() {
  std::lock_guard<std::mutex> gl(gsMu_);
  if (renegWanted_.exchange(false)) return true;
  if (renegAwaiting_) {
    renegAwaiting_ = false;  // a ClientHello that comes later is the peer's own request
    return true;
  }
  return false;
}

void Session::BeginRenegotiation(bool byPeer, bool helloRequest) {
  renegActive_ = true;
  renegByPeer_ = byPeer;
  renegPeerChanged_ = false;
  renegHelloDue_ = helloRequest;
  DerChain chain = PeerChain();
  renegLeaf_ = chain.empty() ? std::string() : chain[0];
}

bool Session::SamePeerAsBefore() {
  DerChain chain = PeerChain();
  return (chain.empty() ? std::string() : chain[0]) == renegLeaf_;
}

void Session::RenegotiationDone(int outcome, const std::string& message) {
  renegActive_ = false;
  renegHelloDue_ = false;
  const char* v = gs_ ? gnutls_protocol_get_name(gnutls_protocol_get_version(gs_)) : nullptr;
  const char* cs = gs_ ? gnutls_ciphersuite_get(gs_) : nullptr;
  Post(std::unique_ptr<Event>(new RenegotiatedEvent(kRenegotiationOutcomes[outcome], renegByPeer_, message, v ? v : "unknown", cs ? cs : "unknown")));
}

void Session::RenegotiationDeclined(bool exporterLost) {
  renegAwaiting_ = false;
  if (exporterLost) exporterLost_ = true;
  RenegotiationDone(4, "the peer declined to renegotiate (no_renegotiation alert); the session goes on as it was");
}

const char* Session::ExporterRefusal() const {
  if (renegActive_) return "the session is renegotiating; ask again when it is done";
  if (exporterLost_) return "the peer declined a renegotiation, after which the exporter no longer matches the peer's";
  return nullptr;
}

// One step of the new handshake; false when the session is over (end_ says why).
bool Session::RenegotiationStep(size_t cap, bool* progress) {
  int r = renegHelloDue_ ? gnutls_rehandshake(gs_) : gnutls_handshake(gs_);
  if (r == 0 && renegHelloDue_) {
    // Asked: the relay goes on until the client's ClientHello comes
    // (GNUTLS_E_REHANDSHAKE in PeerToApp), or the request's time is up.
    renegHelloDue_ = false;
    renegActive_ = false;
    renegAwaiting_ = true;
    *progress = true;
    return true;
  }
  if (r == 0) {
    if (!SamePeerAsBefore()) {
      renegPeerChanged_ = true;
      r = GNUTLS_E_CERTIFICATE_ERROR;
    } else {
      RenegotiationDone(0, std::string());
      *progress = true;
      return true;
    }
  }
  if (r == GNUTLS_E_AGAIN) {
    tlsWant_ |= gnutls_record_get_direction(gs_) ? EPOLLOUT : EPOLLIN;
    return true;
  }
  if (r == GNUTLS_E_INTERRUPTED) {
    *progress = true;
    return true;
  }
  if (r == GNUTLS_E_GOT_APPLICATION_DATA && client_) {
    // The server's data came before its ServerHello. GnuTLS 3.7 then starts
    // its client handshake over, with a second ClientHello, which no server
    // takes: the session cannot be saved, so say why rather than that.
    end_.failure.kind = "tls";
    end_.failure.gnutlsCode = r;
    end_.failure.message = "the server sent data as the new handshake began, which GnuTLS cannot renegotiate through; the session was ended";
    end_.reason = "error";
    RenegotiationDone(3, end_.failure.message);
    return false;
  }
  if (r == GNUTLS_E_GOT_APPLICATION_DATA) {
    // The client's data from before its ClientHello: to the application
    // first (one record at a time, as the relay does).
    if (inLen_ > 0) return true;  // PeerToApp waits for the application to take what it has
    if (!inBuf_) inBuf_.reset(new char[cap]);
    ssize_t n = gnutls_record_recv(gs_, inBuf_.get(), cap);
    if (n > 0) {
      inLen_ = static_cast<size_t>(n);
      inOff_ = 0;
      bytesIn_ += static_cast<uint64_t>(n);
      *progress = true;
      return true;
    }
    if (n == GNUTLS_E_AGAIN) {
      tlsWant_ |= gnutls_record_get_direction(gs_) ? EPOLLOUT : EPOLLIN;
      return true;
    }
    r = n == 0 ? GNUTLS_E_PREMATURE_TERMINATION : static_cast<int>(n);
  }
  if (r == GNUTLS_E_WARNING_ALERT_RECEIVED) {
    // Declining our ClientHello: the records go on with their keys, but
    // GnuTLS has taken its random into the session, so its exporter would
    // no longer agree with the peer's.
    if (gnutls_alert_get(gs_) == GNUTLS_A_NO_RENEGOTIATION) RenegotiationDeclined(true);
    *progress = true;  // other warnings: the handshake goes on
    return true;
  }
  DescribeFailure(r, &end_.failure);
  if (renegPeerChanged_) {
    end_.failure.kind = "policy";
    end_.failure.policyErrno = EPERM;
    end_.failure.message = "the peer showed another certificate when renegotiating; the session was ended";
  }
  end_.reason = "error";
  RenegotiationDone(3, "renegotiation failed: " + end_.failure.message);
  return false;
}

// The peer asks for a new handshake (a HelloRequest to a client, a
// ClientHello to a server): taken when it may be and not too often, else
// ignored as before (the peer goes on with the keys it has, or gives up).
// A ClientHello that answers our own HelloRequest is always taken.
void Session::PeerAsksRenegotiation() {
  if (renegAwaiting_) {
    // The client answers our HelloRequest.
    renegAwaiting_ = false;
    renegAnswer_ = true;
    return;
  }
  std::string why;
  int64_t now = MonotonicNs();
  if (RenegotiationBlocker(&why) != 0) return;
  if (renegLastPeerNs_ != 0 && now - renegLastPeerNs_ < kPeerRenegotiationIntervalNs) return;
  renegLastPeerNs_ = now;
  renegPeerWanted_ = true;
}

namespace {

// tlsSessionRenegotiate(handle) -> { ok: true } | { error, insecure }
Napi::Value SessionRenegotiate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Session> s = SessionOfHandle(info);
  if (!s) return env.Undefined();
  std::string err;
  int blocker = s->RequestRenegotiation(&err);
  Napi::Object o = Napi::Object::New(env);
  if (blocker == 0) {
    o.Set("ok", Napi::Boolean::New(env, true));
  } else {
    o.Set("error", Napi::String::New(env, err));
    o.Set("insecure", Napi::Boolean::New(env, blocker == 1));
  }
  return o;
}

// tlsSessionWithdrawRenegotiation(handle) -> boolean
Napi::Value SessionWithdrawRenegotiation(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Session> s = SessionOfHandle(info);
  if (!s) return env.Undefined();
  return Napi::Boolean::New(env, s->WithdrawRenegotiation());
}

}  // namespace

void InitSessionRenegotiation(Napi::Env env, Napi::Object exports) {
  exports.Set("tlsSessionRenegotiate", Napi::Function::New(env, SessionRenegotiate, "tlsSessionRenegotiate"));
  exports.Set("tlsSessionWithdrawRenegotiation", Napi::Function::New(env, SessionWithdrawRenegotiation, "tlsSessionWithdrawRenegotiation"));
}

}  // namespace tls
}  // namespace tlspool
