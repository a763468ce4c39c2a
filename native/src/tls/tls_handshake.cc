// The handshake half of a session (tls_session.cc has its setup and its
// bridge to JavaScript, tls_relay.cc the relay): the transport callbacks
// GnuTLS calls, the credentials and verify callbacks that ask JavaScript,
// and the handshake loop with its failure reporting, alerts and linger.
#include <ctype.h>
#include <errno.h>
#include <gnutls/dtls.h>
#include <gnutls/x509.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tls_revocation.h"
#include "tls_session_impl.h"

namespace tlspool {
namespace tls {

namespace {

// How long to try to get a final alert out of a failing session.
constexpr int kAlertTries = 10;
constexpr int kAlertWaitMs = 50;
// How long a failed session waits for the peer to close after our alert.
constexpr int64_t kLingerMs = 1000;

// A refusal from JavaScript: { errno?, message?, alert? } into the reply.
void ReadRefusal(Napi::Object o, Reply* r) {
  Napi::Value e = o.Get("errno");
  Napi::Value m = o.Get("message");
  Napi::Value a = o.Get("alert");
  if (e.IsNumber()) r->errnum = e.As<Napi::Number>().Int32Value();
  if (m.IsString()) r->message = m.As<Napi::String>().Utf8Value();
  if (a.IsString()) r->alert = a.As<Napi::String>().Utf8Value();
}

int64_t NowMs() { return MonotonicNs() / 1000000; }

// Alert names JavaScript may choose for a rejected peer.
bool AlertByName(const std::string& name, gnutls_alert_description_t* out) {
  static const struct {
    const char* name;
    gnutls_alert_description_t desc;
  } table[] = {
      {"bad_certificate", GNUTLS_A_BAD_CERTIFICATE},
      {"unsupported_certificate", GNUTLS_A_UNSUPPORTED_CERTIFICATE},
      {"certificate_revoked", GNUTLS_A_CERTIFICATE_REVOKED},
      {"certificate_expired", GNUTLS_A_CERTIFICATE_EXPIRED},
      {"certificate_unknown", GNUTLS_A_CERTIFICATE_UNKNOWN},
      {"unknown_ca", GNUTLS_A_UNKNOWN_CA},
      {"access_denied", GNUTLS_A_ACCESS_DENIED},
      {"handshake_failure", GNUTLS_A_HANDSHAKE_FAILURE},
      {"insufficient_security", GNUTLS_A_INSUFFICIENT_SECURITY},
      {"certificate_required", GNUTLS_A_CERTIFICATE_REQUIRED},
      {"unrecognized_name", GNUTLS_A_UNRECOGNIZED_NAME},
      {"internal_error", GNUTLS_A_INTERNAL_ERROR},
  };
  for (const auto& e : table) {
    if (name == e.name) {
      *out = e.desc;
      return true;
    }
  }
  return false;
}

// "bad_certificate" for GNUTLS_A_BAD_CERTIFICATE: the RFC's names.
std::string AlertName(gnutls_alert_description_t a) {
  const char* n = gnutls_alert_get_strname(a);
  if (n == nullptr) return "alert_" + std::to_string(static_cast<int>(a));
  std::string s(n);
  if (s.rfind("GNUTLS_A_", 0) == 0) s = s.substr(9);
  for (auto& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

int64_t MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// ---------------------------------------------------------------------------
// Transport (session thread). The caller's descriptor shares its open file
// description with ours, so we never change its flags: MSG_DONTWAIT instead
// of O_NONBLOCK.

ssize_t Session::Pull(gnutls_transport_ptr_t ptr, void* buf, size_t n) {
  Session* s = static_cast<Session*>(ptr);
  ssize_t r = recv(s->tlsFd_, buf, n, MSG_DONTWAIT);
  if (r == 0) s->transportEof_ = true;
  if (r < 0) {
    int e = errno;
    if (e != EAGAIN && e != EWOULDBLOCK && e != EINTR) s->lastErrno_ = e;
    gnutls_transport_set_errno(s->gs_, e == EWOULDBLOCK ? EAGAIN : e);
  }
  return r;
}

ssize_t Session::VecPush(gnutls_transport_ptr_t ptr, const giovec_t* iov, int iovcnt) {
  Session* s = static_cast<Session*>(ptr);
  struct msghdr m;
  memset(&m, 0, sizeof(m));
  m.msg_iov = const_cast<struct iovec*>(iov);
  m.msg_iovlen = iovcnt;
  ssize_t r = sendmsg(s->tlsFd_, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
  s->pushBlocked_ = false;
  if (r < 0) {
    int e = errno;
    if (e != EAGAIN && e != EWOULDBLOCK && e != EINTR) s->lastErrno_ = e;
    s->pushBlocked_ = e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
    gnutls_transport_set_errno(s->gs_, e == EWOULDBLOCK ? EAGAIN : e);
  }
  return r;
}

int Session::PullTimeout(gnutls_transport_ptr_t ptr, unsigned int ms) {
  Session* s = static_cast<Session*>(ptr);
  struct pollfd p[2] = {{s->tlsFd_, POLLIN, 0}, {s->wakeFd_, POLLIN, 0}};
  int timeout = ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : static_cast<int>(ms);
  int r = poll(p, 2, timeout);
  if (r < 0) {
    gnutls_transport_set_errno(s->gs_, errno);
    return -1;
  }
  if (p[1].revents) {
    gnutls_transport_set_errno(s->gs_, EINTR);
    return -1;
  }
  return p[0].revents ? 1 : 0;
}

// ---------------------------------------------------------------------------
// Callbacks from GnuTLS, on the session thread, during the handshake

std::string Session::ReceivedServerName() {
  char name[256];
  size_t len = sizeof(name) - 1;
  unsigned type = 0;
  if (gnutls_server_name_get(gs_, name, &len, &type, 0) == 0 && type == GNUTLS_NAME_DNS) {
    return std::string(name, strnlen(name, len));
  }
  return std::string();
}

DerChain Session::PeerChain() {
  DerChain chain;
  unsigned n = 0;
  const gnutls_datum_t* peers = gnutls_certificate_get_peers(gs_, &n);
  for (unsigned i = 0; peers != nullptr && i < n; i++) {
    chain.emplace_back(reinterpret_cast<const char*>(peers[i].data), peers[i].size);
  }
  return chain;
}

int Session::RetrieveCert(gnutls_session_t gs, const gnutls_datum_t* reqCaRdn, int nreqs,
                          const gnutls_pk_algorithm_t* /*pkAlgos*/, int /*pkAlgosLength*/, gnutls_pcert_st** pcert,
                          unsigned int* pcertLength, gnutls_privkey_t* privkey) {
  Session* s = static_cast<Session*>(gnutls_session_get_ptr(gs));
  *pcert = nullptr;
  *pcertLength = 0;
  *privkey = nullptr;
  // GnuTLS may call us again (once per candidate cipher suite when we chose
  // none); JavaScript is asked once per session.
  if (!s->credsAsked_) {
    s->credsAsked_ = true;
    std::string sni;
    bool hasSni = false;
    if (s->client_) {
      hasSni = s->hasServerName_;
      sni = s->serverName_;
    } else {
      sni = s->ReceivedServerName();
      hasSni = !sni.empty();
    }
    std::vector<std::string> issuers;
    for (int i = 0; reqCaRdn != nullptr && i < nreqs; i++) {
      GnutlsDatum str;
      if (gnutls_x509_rdn_get2(&reqCaRdn[i], &str.d, 0) >= 0) issuers.push_back(str.str());
    }
    bool client = s->client_;
    Reply r = s->Ask(
        "credentials",
        [client, hasSni, sni, issuers](Napi::Env env, Napi::Object ev) {
          ev.Set("role", Napi::String::New(env, client ? "client" : "server"));
          if (hasSni) ev.Set("serverName", Napi::String::New(env, sni));
          Napi::Array arr = Napi::Array::New(env, issuers.size());
          for (size_t i = 0; i < issuers.size(); i++) arr.Set(static_cast<uint32_t>(i), issuers[i]);
          ev.Set("acceptedIssuers", arr);
        },
        [](Napi::Value v, Reply* r) {
          if (v.IsNull() || v.IsUndefined()) {
            r->ok = true;
            return;
          }
          std::shared_ptr<Credentials> c = CredentialsWrap::From(v);
          if (c) {
            r->ok = true;
            r->credentials = c;
            return;
          }
          r->ok = false;
          r->errnum = 0;
          r->message = "the credentials callback answered with neither null nor open credentials";
          if (v.IsObject()) ReadRefusal(v.As<Napi::Object>(), r);
        });
    if (!r.ok) {
      s->cbFailure_.kind = r.gone ? "aborted" : "credentials";
      s->cbFailure_.policyErrno = r.errnum;
      s->cbFailure_.message = r.message;
      s->rejectAlert_ = r.alert;
      return -1;
    }
    s->localCreds_ = r.credentials;
  }
  // A token key is opened here, on the session thread, where the PIN
  // callback can wait for a person.
  if (s->localCreds_ && s->localCreds_->key() == nullptr) {
    int errnum = 0;
    std::string message;
    bool aborted = false;
    if (!s->localCreds_->EnsureKey(&errnum, &message, &aborted)) {
      s->cbFailure_.kind = aborted ? "aborted" : "credentials";
      s->cbFailure_.policyErrno = errnum;
      s->cbFailure_.message = message;
      s->localCreds_.reset();
      return -1;
    }
  }
  if (s->localCreds_) {
    *pcert = s->localCreds_->pcerts();
    *pcertLength = s->localCreds_->count();
    *privkey = s->localCreds_->key();
  }
  return 0;
}

int Session::AskVerify() {
  verifyAsked_ = true;
  DerChain chain = PeerChain();
  peerChainEmpty_ = chain.empty();
  std::string sni;
  bool hasSni;
  if (client_) {
    hasSni = hasServerName_;
    sni = serverName_;
  } else {
    sni = ReceivedServerName();
    hasSni = !sni.empty();
  }
  bool client = client_;
  std::string ocsp = client_ ? StapledOcsp(gs_) : std::string();
  Reply r = Ask(
      "verify",
      [client, hasSni, sni, chain, ocsp](Napi::Env env, Napi::Object ev) {
        ev.Set("role", Napi::String::New(env, client ? "client" : "server"));
        ev.Set("chainDer", DerChainToJs(env, chain));
        if (!ocsp.empty()) ev.Set("ocspDer", Napi::Buffer<char>::Copy(env, ocsp.data(), ocsp.size()));
        if (hasSni) ev.Set("serverName", Napi::String::New(env, sni));
      },
      &Session::ParseVerdict);
  if (r.ok) return 0;
  PeerRefused(r);
  return -1;
}

void Session::ParseVerdict(Napi::Value v, Reply* r) {
  r->ok = false;
  r->message = "the verifyPeer callback gave no valid answer";
  if (!v.IsObject()) return;
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value ok = o.Get("ok");
  Napi::Value plain = o.Get("plaintextFd");
  if (plain.IsNumber()) r->plainFd = plain.As<Napi::Number>().Int32Value();
  if (ok.IsBoolean() && ok.As<Napi::Boolean>().Value()) {
    r->ok = true;
    r->message.clear();
    return;
  }
  ReadRefusal(o, r);
}

void Session::PeerRefused(const Reply& r) {
  cbFailure_.kind = r.gone ? "aborted" : "policy";
  cbFailure_.policyErrno = r.errnum;
  cbFailure_.message = r.message.empty() ? "the peer was rejected" : r.message;
  rejectAlert_ = r.alert;
}

int Session::VerifyCb(gnutls_session_t gs) {
  Session* s = static_cast<Session*>(gnutls_session_get_ptr(gs));
  if (s->renegActive_) {
    // Renegotiating (relay thread): the verdict given stands for the same peer only.
    if (s->SamePeerAsBefore()) return 0;
    s->renegPeerChanged_ = true;
    return -1;
  }
  if (s->verifyAsked_) return 0;  // asked once; a repeated call can only follow an accept
  return s->AskVerify();
}

// ---------------------------------------------------------------------------
// The handshake

// The deadline: a handshake ends when it is over, however the peer behaves
// (silent, trickling bytes, sending warnings), checked after every step.
bool Session::PastDeadline(Failure* f) {
  if (deadlineNs_ == 0 || MonotonicNs() < deadlineNs_) return false;
  f->kind = "timeout";
  f->message = std::string("the ") + (dtls_ ? "DTLS" : "TLS") + " handshake did not complete within " +
               std::to_string(budgetMs_) + " ms";
  return true;
}

// After GNUTLS_E_AGAIN / GNUTLS_E_INTERRUPTED: waits for the socket in the
// direction GnuTLS was stopped in, and for the abort eventfd. The direction
// GnuTLS reports is that of its last transfer: 1 after a flight went out in
// full, even when what stopped it is the (non-blocking) check for the
// peer's answer. So a write is waited for only when one is pending (our
// push would have blocked); else the wait is for input. DTLS also wakes when
// GnuTLS's retransmission timer expires, so that the next gnutls_handshake()
// resends the flight. Every wait ends by the deadline: no zero-length polls.
bool Session::WaitIo(Failure* f) {
  bool write = gnutls_record_get_direction(gs_) == 1 && pushBlocked_;
  int64_t timeout = -1;
  if (deadlineNs_ != 0) {
    int64_t left = deadlineNs_ - MonotonicNs();
    timeout = left <= 0 ? 0 : (left + 999999) / 1000000;  // rounded up: no wake-up just short of it
  }
  if (dtls_ && !write) {
    // 0: a flight was due and this step already resent it, or there is no
    // flight to resend (a server before the ClientHello). Look again after
    // the first retransmission interval rather than at once.
    int64_t rt = gnutls_dtls_get_timeout(gs_);
    if (rt == 0) rt = kDtlsRetransmitMs;
    if (timeout < 0 || rt < timeout) timeout = rt;
  }
  struct pollfd p[2] = {{tlsFd_, static_cast<short>(write ? POLLOUT : POLLIN), 0}, {wakeFd_, POLLIN, 0}};
  int r = poll(p, 2, static_cast<int>(timeout));
  if (aborted_.load() || (r > 0 && p[1].revents)) {
    f->kind = "aborted";
    f->message = "the session was aborted";
    return false;
  }
  return true;
}

void Session::DescribeFailure(int code, Failure* f) {
  f->gnutlsCode = code;
  if (code == GNUTLS_E_PUSH_ERROR || code == GNUTLS_E_PULL_ERROR) {
    f->kind = "transport";
    f->sysErrno = lastErrno_ ? lastErrno_ : EIO;
    f->message = std::string("the connection failed: ") + strerror(f->sysErrno);
  } else if (code == GNUTLS_E_PREMATURE_TERMINATION) {
    f->kind = "transport";
    f->sysErrno = ECONNRESET;
    f->message = "the peer closed the connection unexpectedly";
  } else if (code == GNUTLS_E_UNEXPECTED_PACKET_LENGTH && transportEof_) {
    // GnuTLS's word for a stream that ends inside a record: the peer left.
    f->kind = "transport";
    f->sysErrno = ECONNRESET;
    f->message = "the peer closed the connection in the middle of a TLS record";
  } else if (code == GNUTLS_E_FATAL_ALERT_RECEIVED) {
    gnutls_alert_description_t a = gnutls_alert_get(gs_);
    f->kind = "alert";
    f->alertCode = a;
    f->alert = AlertName(a);
    const char* text = gnutls_alert_get_name(a);
    f->message = std::string("the peer sent a fatal alert: ") + (text ? text : f->alert);
  } else if (code == GNUTLS_E_TIMEDOUT) {
    f->kind = "timeout";
    f->message = std::string("the ") + (dtls_ ? "DTLS" : "TLS") + " handshake timed out";
  } else {
    f->kind = "tls";
    f->message = GnutlsMessage("TLS failed", code);
  }
}

void Session::SendAlert(gnutls_alert_description_t desc) {
  alertSent_ = true;
  for (int i = 0; i < kAlertTries; i++) {
    int r = gnutls_alert_send(gs_, GNUTLS_AL_FATAL, desc);
    if (r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED) return;
    struct pollfd p = {tlsFd_, static_cast<short>(gnutls_record_get_direction(gs_) ? POLLOUT : POLLIN), 0};
    poll(&p, 1, kAlertWaitMs);
  }
}

int Session::Handshake(Failure* f) {
  // Measured on the monotonic clock from here; Wait() moves it by the time
  // JavaScript takes.
  deadlineNs_ = budgetMs_ > 0 ? MonotonicNs() + budgetMs_ * 1000000 : 0;
  for (;;) {
    if (aborted_.load()) {
      f->kind = "aborted";
      f->message = "the session was aborted";
      return -1;
    }
    int ret = gnutls_handshake(gs_);
    if (ret == 0) {
      deadlineNs_ = 0;
      return 0;
    }
    if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED) {
      if (!cbFailure_.empty()) {  // a callback gave up (aborted / environment gone)
        *f = cbFailure_;
        return -1;
      }
      if (PastDeadline(f) || !WaitIo(f)) return -1;
      continue;
    }
    if (!gnutls_error_is_fatal(ret)) {  // e.g. a warning alert
      if (PastDeadline(f)) return -1;
      continue;
    }

    // Fatal. Tell the peer why, when the failure is ours to tell.
    if (!cbFailure_.empty()) {
      *f = cbFailure_;
      f->gnutlsCode = ret;
      if (f->kind == "policy") {
        gnutls_alert_description_t desc;
        if (!AlertByName(rejectAlert_, &desc)) {
          desc = peerChainEmpty_ && gnutls_protocol_get_version(gs_) == GNUTLS_TLS1_3 ? GNUTLS_A_CERTIFICATE_REQUIRED
                                                                                      : GNUTLS_A_BAD_CERTIFICATE;
        }
        SendAlert(desc);
      } else if (f->kind == "credentials") {
        gnutls_alert_description_t desc;
        if (!AlertByName(rejectAlert_, &desc)) desc = GNUTLS_A_INTERNAL_ERROR;
        SendAlert(desc);
      }
      return -1;
    }
    DescribeFailure(ret, f);
    if (!client_ && credsAsked_ && !localCreds_) f->noLocalCredentials = true;
    if (client_ && credsAsked_) {
      f->certRequested = true;
      f->certPresented = localCreds_ != nullptr;
    }
    if (f->kind == "tls" && !client_ && !f->noLocalCredentials &&
        (ret == GNUTLS_E_NO_CERTIFICATE_FOUND || ret == GNUTLS_E_CERTIFICATE_REQUIRED)) {
      // A client without the certificate we require. gnutls_error_to_alert()
      // would say decode_error, blaming the client's encoding: name the
      // reason the protocol has for it (RFC 8446 4.4.2.4, RFC 5246 7.4.6).
      SendAlert(gnutls_protocol_get_version(gs_) == GNUTLS_TLS1_3 ? GNUTLS_A_CERTIFICATE_REQUIRED
                                                                  : GNUTLS_A_HANDSHAKE_FAILURE);
    } else if (f->kind == "tls") {
      int level = 0;
      int a = gnutls_error_to_alert(ret, &level);
      if (a >= 0) SendAlert(static_cast<gnutls_alert_description_t>(a));
    }
    return -1;
  }
}

// The verdict on the peer when GnuTLS did not ask during the handshake
// (anonymous sessions, or a server that does not ask for a certificate).
void Session::RefusedAfterHandshake(const Reply& r) {
  PeerRefused(r);
  if (cbFailure_.kind != "policy") return;
  gnutls_alert_description_t desc;
  if (!AlertByName(rejectAlert_, &desc)) desc = peerChainEmpty_ ? GNUTLS_A_ACCESS_DENIED : GNUTLS_A_BAD_CERTIFICATE;
  SendAlert(desc);
}

// After a failed handshake: let the peer read our alert. Closing a TCP socket
// with unread input makes the kernel send a reset, which can destroy the
// alert before the peer reads it; so shut down our side and drain until the
// peer closes too (bounded, abortable).
void Session::LingerClose() {
  if (dtls_ || tlsFd_ < 0) return;
  shutdown(tlsFd_, SHUT_WR);
  char buf[4096];
  int64_t deadline = NowMs() + kLingerMs;
  for (;;) {
    ssize_t r = recv(tlsFd_, buf, sizeof(buf), MSG_DONTWAIT);
    if (r > 0) continue;
    if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return;
    int64_t left = deadline - NowMs();
    if (left <= 0 || aborted_.load()) return;
    struct pollfd p[2] = {{tlsFd_, POLLIN, 0}, {wakeFd_, POLLIN, 0}};
    if (poll(p, 2, static_cast<int>(left)) <= 0 || p[1].revents) return;
  }
}

}  // namespace tls
}  // namespace tlspool
