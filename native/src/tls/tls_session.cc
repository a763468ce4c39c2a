#include "tls_session.h"
#include "tls_session_impl.h"
#include "tls_resumption.h"
#include "tls_shared.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/dtls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <functional>
#include <unordered_set>
#include <vector>

namespace tlspool {
namespace tls {

namespace {

// A session thread needs little stack: GnuTLS keeps its state on the heap
// and the relay buffers are heap-allocated.
constexpr size_t kThreadStack = 256 * 1024;
// Key exchange groups: SECURE128's own, with X25519 first (as OpenSSL and
// browsers order them): nettle's X25519 costs less than its P-256.
#define TLSPOOL_GROUPS                                                                                  \
  ":-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1:+GROUP-X448:"         \
  "+GROUP-FFDHE2048:+GROUP-FFDHE3072:+GROUP-FFDHE4096:+GROUP-FFDHE6144:+GROUP-FFDHE8192"
const char* const kDefaultTlsPriority =
    "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:+DHE-RSA:"
    "-CIPHER-ALL:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-GCM" TLSPOOL_GROUPS;
const char* const kDefaultDtlsPriority =
    "SECURE128:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:+DHE-RSA:"
    "-CIPHER-ALL:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-GCM" TLSPOOL_GROUPS;
#undef TLSPOOL_GROUPS
// Anonymous key exchange exists only up to TLS 1.2 / DTLS 1.2. A client
// offers it besides TLS 1.3, which the server may still choose; a server
// without a certificate cannot do TLS 1.3 at all.
const char* const kAnonymousClientSuffix = ":+ANON-ECDH:+ANON-DH";
const char* const kAnonymousServerSuffix = ":+ANON-ECDH:+ANON-DH:-VERS-TLS1.3";

// Every live session, so that an environment's teardown can abort and wait
// for its sessions before the addon's code and GnuTLS go away.
// Never destroyed: at process exit a relay thread may still be finishing a
// session (the last step of Finish) while static destructors run.
std::mutex& g_regMu = *new std::mutex();
std::condition_variable& g_regCv = *new std::condition_variable();
std::unordered_set<Session*>& g_live = *new std::unordered_set<Session*>();

// The session whose thread this is (null on other threads).
thread_local Session* t_current = nullptr;

}  // namespace

// ---------------------------------------------------------------------------


// ---------------------------------------------------------------------------
// Events

namespace {

// reply(answer) for a request the session thread waits for: `parse` reads
// the answer, and the waiting thread goes on.
Napi::Function ReplyFunction(Napi::Env env, std::shared_ptr<Pending> p, std::function<void(Napi::Value, Reply*)> parse) {
  return Napi::Function::New(
      env,
      [p, parse](const Napi::CallbackInfo& info) -> Napi::Value {
        Reply r;
        parse(info.Length() > 0 ? info[0] : info.Env().Undefined(), &r);
        Session::Complete(p, std::move(r));
        return info.Env().Undefined();
      },
      "reply");
}

// The request will never reach JavaScript: the waiting thread goes on without an answer.
void CompleteGone(const std::shared_ptr<Pending>& p) {
  Reply r;
  r.gone = true;
  r.message = "the JavaScript environment is shutting down";
  Session::Complete(p, std::move(r));
}

class RequestEvent : public Event {
 public:
  RequestEvent(std::shared_ptr<Pending> pending, std::string type, std::function<void(Napi::Env, Napi::Object)> fill,
               std::function<void(Napi::Value, Reply*)> parse)
      : pending_(std::move(pending)), type_(std::move(type)), fill_(std::move(fill)), parse_(std::move(parse)) {}

  void Deliver(Napi::Env env, Napi::Function dispatch) override {
    Napi::Object ev = Napi::Object::New(env);
    ev.Set("type", Napi::String::New(env, type_));
    fill_(env, ev);
    ev.Set("reply", ReplyFunction(env, pending_, parse_));
    dispatch.Call({ev});
  }

  void Drop() override { CompleteGone(pending_); }

 private:
  std::shared_ptr<Pending> pending_;
  std::string type_;
  std::function<void(Napi::Env, Napi::Object)> fill_;
  std::function<void(Napi::Value, Reply*)> parse_;
};


struct EstablishedInfo {
  int appFd = -1;
  std::string version, cipher, serverName;
  bool hasServerName = false;
  DerChain peerChain;
  unsigned dataMtu = 0;
  bool resumed = false;
};

// The session is established: the application's end of the socketpair is
// handed to JavaScript. With `verdict`, the verdict on the peer is asked in
// the same event (reply()), and nothing is relayed before it comes.
class EstablishedEvent : public Event {
 public:
  EstablishedEvent(EstablishedInfo info, std::shared_ptr<Pending> verdict, bool client, bool verdictNeeded = true)
      : info_(std::move(info)), verdict_(std::move(verdict)), client_(client), verdictNeeded_(verdictNeeded) {}
  ~EstablishedEvent() override { CloseFd(info_.appFd); }
  void Drop() override {
    if (verdict_) CompleteGone(verdict_);
  }
  void Deliver(Napi::Env env, Napi::Function dispatch) override {
    Napi::Object ev = Napi::Object::New(env);
    ev.Set("type", Napi::String::New(env, "established"));
    ev.Set("plaintextFd", Napi::Number::New(env, info_.appFd));
    if (!verdictNeeded_) ev.Set("verdictKnown", Napi::Boolean::New(env, true));
    info_.appFd = -1;  // JavaScript owns it now
    ev.Set("version", Napi::String::New(env, info_.version));
    ev.Set("cipher", Napi::String::New(env, info_.cipher));
    if (info_.hasServerName) ev.Set("serverName", Napi::String::New(env, info_.serverName));
    ev.Set("peerChainDer", DerChainToJs(env, info_.peerChain));
    if (info_.dataMtu) ev.Set("mtu", Napi::Number::New(env, info_.dataMtu));
    ev.Set("resumed", Napi::Boolean::New(env, info_.resumed));
    if (verdict_) {
      ev.Set("role", Napi::String::New(env, client_ ? "client" : "server"));
      ev.Set("reply", ReplyFunction(env, verdict_, &Session::ParseVerdict));
    }
    dispatch.Call({ev});
  }

 private:
  EstablishedInfo info_;
  std::shared_ptr<Pending> verdict_;
  bool client_;
  bool verdictNeeded_;
};


}  // namespace

// ---------------------------------------------------------------------------
// Setup (JavaScript thread)

bool Session::Setup(Napi::Env env, Napi::Object opts) {
  Napi::Value fdv = opts.Get("fd");
  if (!fdv.IsNumber()) {
    ThrowTypeError(env, "option 'fd' must be a descriptor number");
    return false;
  }
  std::string priority;
  bool hasPriority = false;
  struct sockaddr_storage peer;
  socklen_t plen = sizeof(peer);
  return ReadOptions(env, opts, &priority, &hasPriority) && TakeSocket(env, fdv.As<Napi::Number>().Int32Value(), &peer, &plen) &&
         ConfigureGnutls(env, hasPriority ? priority : (dtls_ ? kDefaultDtlsPriority : kDefaultTlsPriority), peer, plen);
}

// The options other than fd, into the session's fields.
bool Session::ReadOptions(Napi::Env env, Napi::Object opts, std::string* priority, bool* hasPriority) {
  std::string role, transport = "tls", certReq = "ignore";
  if (!GetOptionalString(opts, "role", &role) && !env.IsExceptionPending()) {
    ThrowTypeError(env, "option 'role' must be 'client' or 'server'");
    return false;
  }
  if (env.IsExceptionPending()) return false;
  if (role != "client" && role != "server") {
    ThrowTypeError(env, "option 'role' must be 'client' or 'server'");
    return false;
  }
  client_ = role == "client";
  GetOptionalString(opts, "transport", &transport);
  if (env.IsExceptionPending()) return false;
  if (transport != "tls" && transport != "dtls") {
    ThrowTypeError(env, "option 'transport' must be 'tls' or 'dtls'");
    return false;
  }
  dtls_ = transport == "dtls";
  *hasPriority = GetOptionalString(opts, "priority", priority);
  if (env.IsExceptionPending()) return false;
  hasServerName_ = GetOptionalString(opts, "serverName", &serverName_);
  if (env.IsExceptionPending()) return false;
  GetOptionalString(opts, "certRequest", &certReq);
  if (env.IsExceptionPending()) return false;
  if (certReq == "ignore") {
    certReq_ = GNUTLS_CERT_IGNORE;
  } else if (certReq == "request") {
    certReq_ = GNUTLS_CERT_REQUEST;
  } else if (certReq == "require") {
    certReq_ = GNUTLS_CERT_REQUIRE;
  } else {
    ThrowTypeError(env, "option 'certRequest' must be 'ignore', 'request' or 'require'");
    return false;
  }
  Napi::Value anon = opts.Get("anonymous");
  anonymous_ = anon.IsBoolean() && anon.As<Napi::Boolean>().Value();
  Napi::Value anyPeer = opts.Get("acceptAnyPeer");
  // JavaScript's policy takes any peer: the verdict is known, so it is not asked.
  verifyAsked_ = anyPeer.IsBoolean() && anyPeer.As<Napi::Boolean>().Value();
  Napi::Value to = opts.Get("handshakeTimeoutMs");
  if (to.IsNumber()) budgetMs_ = static_cast<int64_t>(to.As<Napi::Number>().DoubleValue());
  GetOptionalString(opts, "resumption", &resumeScope_);
  if (env.IsExceptionPending()) return false;
  Napi::Value mtu = opts.Get("mtu");
  if (mtu.IsNumber()) mtu_ = mtu.As<Napi::Number>().Uint32Value();
  Napi::Value supply = opts.Get("supplyPlaintext");
  supplyPlaintext_ = supply.IsBoolean() && supply.As<Napi::Boolean>().Value();
  // A server's credentials chosen before the handshake: JavaScript is not asked.
  Napi::Value preset = opts.Get("presetCredentials");
  if (!client_ && !preset.IsUndefined() && !preset.IsNull()) {
    localCreds_ = CredentialsWrap::From(preset);
    if (!localCreds_) {
      ThrowTypeError(env, "option 'presetCredentials' must be open credentials");
      return false;
    }
    credsAsked_ = true;
  }
  return true;
}

// The socket: it must be a connected socket of the right type. The session
// works on a duplicate of its own (and a wake-up eventfd).
bool Session::TakeSocket(Napi::Env env, int fd, struct sockaddr_storage* peerOut, socklen_t* plenOut) {
  int type = 0;
  socklen_t len = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
    int e = errno;
    ThrowError(env, e, std::string("option 'fd' is not a usable socket: ") + strerror(e));
    return false;
  }
  if (dtls_ ? type != SOCK_DGRAM : type != SOCK_STREAM) {
    ThrowError(env, EPROTOTYPE,
               dtls_ ? "DTLS needs a datagram (UDP) socket" : "TLS needs a stream (TCP) socket");
    return false;
  }
  struct sockaddr_storage& peer = *peerOut;
  if (getpeername(fd, reinterpret_cast<struct sockaddr*>(&peer), plenOut) < 0) {
    int e = errno;
    ThrowError(env, e, std::string("the socket is not connected: ") + strerror(e));
    return false;
  }
  if (dtls_ && mtu_ == 0) {
    // The path MTU of the connected socket, less the IP and UDP headers.
    int pmtu = 0;
    socklen_t ml = sizeof(pmtu);
    if (peer.ss_family == AF_INET6) {
      if (getsockopt(fd, IPPROTO_IPV6, IPV6_MTU, &pmtu, &ml) == 0 && pmtu > 48) mtu_ = pmtu - 48;
    } else if (getsockopt(fd, IPPROTO_IP, IP_MTU, &pmtu, &ml) == 0 && pmtu > 28) {
      mtu_ = pmtu - 28;
    }
    if (mtu_ == 0) mtu_ = 1200;
  }
  if (mtu_ > 65507) mtu_ = 65507;

  tlsFd_ = DupCloexec(fd);
  if (tlsFd_ < 0) {
    int e = errno;
    ThrowError(env, e, std::string("cannot duplicate the socket: ") + strerror(e));
    return false;
  }
  if (!dtls_) {
    // We write whole records; waiting for ACKs of earlier small writes
    // (Nagle) would only add latency, e.g. to the first data after Finished.
    int one = 1;
    setsockopt(tlsFd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wakeFd_ < 0) {
    int e = errno;
    ThrowError(env, e, std::string("cannot create an eventfd: ") + strerror(e));
    return false;
  }
  return true;
}

// The GnuTLS session: priorities, credentials, SNI, our callbacks, tickets
// and the transport functions. `peer` keys a client's resumption ticket.
bool Session::ConfigureGnutls(Napi::Env env, std::string prio, const struct sockaddr_storage& peer, socklen_t plen) {
  // Resumption only where TypeScript gave a scope (and not for DTLS).
  if (dtls_) resumeScope_.clear();
  unsigned flags = (client_ ? GNUTLS_CLIENT : GNUTLS_SERVER) | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL;
  if (resumeScope_.empty()) flags |= GNUTLS_NO_TICKETS;
  if (dtls_) flags |= GNUTLS_DATAGRAM;
  int ret = gnutls_init(&gs_, flags);
  if (ret < 0) {
    gs_ = nullptr;
    ThrowError(env, ENOMEM, GnutlsMessage("cannot create a TLS session", ret), ret);
    return false;
  }
  gnutls_session_set_ptr(gs_, this);

  if (anonymous_) prio += client_ ? kAnonymousClientSuffix : kAnonymousServerSuffix;
  const char* errPos = nullptr;
  ret = SetCachedPriority(gs_, prio, &errPos);
  if (ret < 0) {
    std::string at = errPos ? std::string(" at '") + errPos + "'" : "";
    ThrowError(env, EINVAL, GnutlsMessage("bad priority string" + at, ret), ret);
    return false;
  }

  if (!SetCredentials(env)) return false;
  // SNI carries DNS names only (RFC 6066): an IP literal is not sent.
  unsigned char addr[sizeof(struct in6_addr)];
  bool ipLiteral = inet_pton(AF_INET, serverName_.c_str(), addr) == 1 ||
                   inet_pton(AF_INET6, serverName_.c_str(), addr) == 1;
  if (client_ && hasServerName_ && !serverName_.empty() && !ipLiteral) {
    ret = gnutls_server_name_set(gs_, GNUTLS_NAME_DNS, serverName_.data(), serverName_.size());
    if (ret < 0) {
      ThrowError(env, EINVAL, GnutlsMessage("bad server name", ret), ret);
      return false;
    }
  }
  gnutls_session_set_verify_function(gs_, &Session::VerifyCb);
  if (!resumeScope_.empty()) {
    if (client_) {
      // A ticket is for the server it came from: the scope and this peer address.
      resumeKey_ = resumeScope_ + '\0' + std::string(reinterpret_cast<const char*>(&peer), plen);
      UseClientTicket(gs_, resumeKey_);
    } else {
      EnableServerTickets(gs_, resumeScope_);  // failing that, the session just runs without tickets
    }
  }

  gnutls_transport_set_ptr(gs_, this);
  gnutls_transport_set_pull_function(gs_, &Session::Pull);
  gnutls_transport_set_vec_push_function(gs_, &Session::VecPush);
  gnutls_transport_set_pull_timeout_function(gs_, &Session::PullTimeout);
  if (dtls_) {
    // Retransmit after 1 s (doubling); the overall limit is ours (the
    // deadline in Handshake()), which leaves out the time spent waiting for
    // JavaScript.
    gnutls_dtls_set_timeouts(gs_, kDtlsRetransmitMs, 24u * 3600u * 1000u);
    gnutls_dtls_set_mtu(gs_, mtu_);
  } else {
    gnutls_handshake_set_timeout(gs_, 0);
  }
  return true;
}

// Certificate credentials (shared; ours are chosen in RetrieveCert), and
// anonymous ones when asked for.
bool Session::SetCredentials(Napi::Env env) {
  int ret = 0;
  gnutls_certificate_credentials_t certCred = SharedCertificateCredentials(&Session::RetrieveCert, &Session::OcspStapleCb, &ret);
  if (certCred == nullptr) {
    ThrowError(env, ENOMEM, GnutlsMessage("cannot allocate credentials", ret), ret);
    return false;
  }
  ret = gnutls_credentials_set(gs_, GNUTLS_CRD_CERTIFICATE, certCred);
  if (ret >= 0 && anonymous_) {
    if (client_) {
      ret = gnutls_anon_allocate_client_credentials(&anonCli_);
      if (ret >= 0) ret = gnutls_credentials_set(gs_, GNUTLS_CRD_ANON, anonCli_);
    } else {
      ret = gnutls_anon_allocate_server_credentials(&anonSrv_);
      if (ret >= 0) ret = gnutls_anon_set_server_known_dh_params(anonSrv_, GNUTLS_SEC_PARAM_MEDIUM);
      if (ret >= 0) ret = gnutls_credentials_set(gs_, GNUTLS_CRD_ANON, anonSrv_);
    }
  }
  if (ret < 0) {
    ThrowError(env, ENOMEM, GnutlsMessage("cannot set credentials", ret), ret);
    return false;
  }
  if (!client_) {
    gnutls_certificate_server_set_request(gs_, certReq_);
    // We hold no trust list here (trust is policy), so announce no CA names.
    gnutls_certificate_send_x509_rdn_sequence(gs_, 1);
  }
  return true;
}

bool Session::Launch(Napi::Env env, Napi::Function dispatch) {
  auto* hold = new std::shared_ptr<Session>(shared_from_this());
  napi_status st = napi_create_threadsafe_function(env, dispatch, nullptr, Napi::String::New(env, "tlspool-tls-session"),
                                                   0 /* unlimited queue */, 1 /* the session thread */, hold,
                                                   &Session::OnTsfnFinalize, nullptr, &Session::CallJs, &tsfn_);
  if (st != napi_ok) {
    delete hold;
    tsfn_ = nullptr;
    ThrowError(env, ENOMEM, "cannot create a threadsafe function");
    return false;
  }
  {
    std::lock_guard<std::mutex> lk(g_regMu);
    g_live.insert(this);
    registered_ = true;
  }
  int rc = StartHandshakeThread(shared_from_this());
  if (rc != 0) {
    {
      std::lock_guard<std::mutex> lk(g_regMu);
      g_live.erase(this);
      registered_ = false;
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      tsfnReleased_ = true;
      napi_release_threadsafe_function(tsfn_, napi_tsfn_release);
    }
    ThrowError(env, rc, std::string("cannot start a session thread: ") + strerror(rc));
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// The bridge

void Session::CallJs(napi_env env, napi_value jsCb, void* /*context*/, void* data) {
  std::unique_ptr<Event> ev(static_cast<Event*>(data));
  if (env == nullptr || jsCb == nullptr) {
    ev->Drop();
    return;
  }
  Napi::Env e(env);
  ev->Deliver(e, Napi::Function(e, jsCb));
}

void Session::OnTsfnFinalize(napi_env /*env*/, void* data, void* /*hint*/) {
  auto* hold = static_cast<std::shared_ptr<Session>*>(data);
  std::shared_ptr<Session> s = *hold;
  delete hold;
  bool wasReleased;
  {
    std::lock_guard<std::mutex> lk(s->mu_);
    s->tsfnGone_ = true;
    wasReleased = s->tsfnReleased_;
  }
  // Torn down while the thread still runs (environment teardown): stop it.
  if (!wasReleased) s->Abort();
}

bool Session::Post(std::unique_ptr<Event> ev) {
  std::lock_guard<std::mutex> lk(mu_);
  if (tsfn_ != nullptr && !tsfnGone_ && !tsfnReleased_) {
    Event* raw = ev.release();
    if (napi_call_threadsafe_function(tsfn_, raw, napi_tsfn_nonblocking) == napi_ok) return true;
    ev.reset(raw);
  }
  ev->Drop();
  return false;
}

void Session::Complete(const std::shared_ptr<Pending>& p, Reply reply) {
  Session* s = p->session.get();
  std::lock_guard<std::mutex> lk(s->waitMu_);
  if (!p->done) {
    p->done = true;
    p->reply = std::move(reply);
  }
  s->waitCv_.notify_all();
}

Reply Session::Ask(const std::string& type, std::function<void(Napi::Env, Napi::Object)> fill,
                   std::function<void(Napi::Value, Reply*)> parse) {
  std::shared_ptr<Pending> p = NewPending();
  Post(std::unique_ptr<Event>(new RequestEvent(p, type, std::move(fill), std::move(parse))));
  return Wait(p);
}

std::shared_ptr<Pending> Session::NewPending() {
  auto p = std::make_shared<Pending>();
  p->session = shared_from_this();
  return p;
}

Reply Session::Wait(const std::shared_ptr<Pending>& p) {
  int64_t start = MonotonicNs();
  std::unique_lock<std::mutex> lk(waitMu_);
  while (!p->done && !aborted_.load()) waitCv_.wait(lk);
  // JavaScript's time (a person deciding, a PIN being typed) is not the
  // network's: the handshake's deadline moves by it.
  if (deadlineNs_ != 0) deadlineNs_ += MonotonicNs() - start;
  if (!p->done) {
    p->done = true;
    p->reply = Reply();
    p->reply.gone = true;
    p->reply.message = "the session was aborted";
  } else if (!p->reply.ok && aborted_.load()) {
    // A refusal that raced with abort() is the abort's doing (JavaScript
    // rejects its pending callbacks when it aborts): the session is aborted,
    // not failed by a callback, whichever this thread saw first.
    p->reply.gone = true;
  }
  return p->reply;
}

void Session::Abort() {
  aborted_.store(true);
  {
    std::lock_guard<std::mutex> wk(wakeMu_);
    if (wakeFd_ >= 0) {
      uint64_t one = 1;
      ssize_t r = write(wakeFd_, &one, sizeof(one));
      (void)r;
    } else {
      WakeRelay();
    }
  }
  waitCv_.notify_all();
}

// ---------------------------------------------------------------------------
// The session thread

namespace {

// A handshake thread that is done waits this long for the next handshake
// before it ends: under load, threads are reused instead of created (their
// creation showed as 5 % of the daemon's time); idle, none remain.
constexpr auto kHandshakeThreadIdle = std::chrono::seconds(10);

struct HandshakeThreads {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::shared_ptr<Session>> work;
  int idle = 0;
};

// Never destroyed (idle threads may wait on it while the process exits).
HandshakeThreads& Handshakers() {
  static HandshakeThreads* h = new HandshakeThreads();
  return *h;
}

}  // namespace

int Session::StartHandshakeThread(std::shared_ptr<Session> s) {
  HandshakeThreads& h = Handshakers();
  {
    std::lock_guard<std::mutex> lk(h.mu);
    if (h.idle > static_cast<int>(h.work.size())) {
      h.work.push_back(std::move(s));
      h.cv.notify_one();
      return 0;
    }
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kThreadStack);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  auto* arg = new std::shared_ptr<Session>(std::move(s));
  pthread_t tid;
  int rc = pthread_create(&tid, &attr, &Session::ThreadMain, arg);
  pthread_attr_destroy(&attr);
  if (rc != 0) delete arg;
  return rc;
}

void* Session::ThreadMain(void* arg) {
  std::shared_ptr<Session> s = *static_cast<std::shared_ptr<Session>*>(arg);
  delete static_cast<std::shared_ptr<Session>*>(arg);
  HandshakeThreads& h = Handshakers();
  for (;;) {
    t_current = s.get();
    s->Run();
    t_current = nullptr;
    s.reset();  // hold no session while idle
    std::unique_lock<std::mutex> lk(h.mu);
    h.idle++;
    bool got = h.cv.wait_for(lk, kHandshakeThreadIdle, [&h] { return !h.work.empty(); });
    h.idle--;
    if (!got) return nullptr;
    s = std::move(h.work.front());
    h.work.pop_front();
  }
}

bool CurrentSessionAborted() { return t_current != nullptr && t_current->aborted(); }

Reply AskJavaScript(const std::string& type, std::function<void(Napi::Env, Napi::Object)> fill,
                    std::function<void(Napi::Value, Reply*)> parse) {
  if (t_current == nullptr) {
    Reply r;
    r.gone = true;
    r.message = "not on a TLS session thread";
    return r;
  }
  return t_current->Ask(type, std::move(fill), std::move(parse));
}

void Session::Fail(const Failure& f) {
  if (alertSent_) LingerClose();
  // Descriptors go before the news: "failed" means they are closed.
  ReleaseResources();
  CloseWake();
  Post(std::unique_ptr<Event>(new FailedEvent(f)));
  Finish();
}

// The plaintext socketpair: sv[0] stays with the session (plainFd_), sv[1]
// is for the application. False with *f set when it cannot be made.
bool Session::MakePlaintextPair(int sv[2], Failure* f) {
  int type = dtls_ ? SOCK_SEQPACKET : SOCK_STREAM;
  if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0) {
    f->kind = "local";
    f->sysErrno = errno;
    f->message = std::string("cannot create the plaintext socketpair: ") + strerror(f->sysErrno);
    return false;
  }
  plainFd_ = sv[0];
  int fl = fcntl(plainFd_, F_GETFL);
  fcntl(plainFd_, F_SETFL, fl | O_NONBLOCK);
  if (!dtls_) {
    // A stream socketpair lets 208 KiB (wmem_default) be in flight each way;
    // TCP on loopback grows to MiBs. More room means fewer wake-ups of the
    // relay and the application in bulk transfers; it costs memory only
    // while data waits.
    int room = kPlainSocketBuffer;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &room, sizeof(room));
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &room, sizeof(room));
  }
  return true;
}

void Session::Run() {
  Failure f;
  if (Handshake(&f) != 0) {
    Fail(f);
    return;
  }

  // Established: the application's end of a socketpair (unless it brings its own).
  int sv[2] = {-1, -1};
  if (!supplyPlaintext_ && !MakePlaintextPair(sv, &f)) {
    Fail(f);
    return;
  }
  EstablishedInfo info;
  info.appFd = sv[1];
  const char* v = gnutls_protocol_get_name(gnutls_protocol_get_version(gs_));
  info.version = v ? v : "unknown";
  const char* cs = gnutls_ciphersuite_get(gs_);
  if (cs == nullptr) {
    cs = gnutls_cipher_suite_get_name(gnutls_kx_get(gs_), gnutls_cipher_get(gs_), gnutls_mac_get(gs_));
  }
  info.cipher = cs ? cs : "unknown";
  if (client_) {
    info.hasServerName = hasServerName_;
    info.serverName = serverName_;
  } else {
    info.serverName = ReceivedServerName();
    info.hasServerName = !info.serverName.empty();
  }
  info.peerChain = PeerChain();
  info.resumed = gnutls_session_is_resumed(gs_) != 0;
  if (dtls_) info.dataMtu = gnutls_dtls_get_data_mtu(gs_);
  if (verifyAsked_ && !supplyPlaintext_) {
    Post(std::unique_ptr<Event>(new EstablishedEvent(std::move(info), nullptr, client_)));
    StartRelay();
    return;
  }
  // The peer showed no certificate during the handshake (a resumed session,
  // anonymous TLS, a server that asked none): the verdict on it is asked
  // with the news, one wait for JavaScript instead of two. A supplied
  // plaintext socket comes with the same reply.
  const bool verdictNeeded = !verifyAsked_;
  verifyAsked_ = true;
  if (verdictNeeded) peerChainEmpty_ = info.peerChain.empty();
  std::shared_ptr<Pending> verdict = NewPending();
  Post(std::unique_ptr<Event>(new EstablishedEvent(std::move(info), verdict, client_, verdictNeeded)));
  Reply r = Wait(verdict);
  if (r.ok && supplyPlaintext_) {
    if (r.plainFd < 0) {
      r.ok = false;
      r.errnum = EBADF;
      r.message = "no plaintext socket was supplied";
    } else {
      plainFd_ = r.plainFd;
      int fl = fcntl(plainFd_, F_GETFL);
      fcntl(plainFd_, F_SETFL, fl | O_NONBLOCK);
    }
  }
  if (r.ok) {
    StartRelay();
    return;
  }
  if (r.plainFd >= 0) close(r.plainFd);
  RefusedAfterHandshake(r);
  Fail(cbFailure_);
}

// The session thread is done with the eventfd. The object itself may live on
// until the garbage collector drops the JavaScript handle; the eventfd must
// not (one descriptor per session would pile up until a collection).
void Session::CloseWake() {
  std::lock_guard<std::mutex> wk(wakeMu_);
  CloseFd(wakeFd_);
}

void Session::Finish() {
  ReleaseResources();
  CloseWake();
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (tsfn_ != nullptr && !tsfnGone_ && !tsfnReleased_) {
      napi_release_threadsafe_function(tsfn_, napi_tsfn_release);
    }
    tsfnReleased_ = true;
  }
  std::lock_guard<std::mutex> lk(g_regMu);
  if (registered_) {
    g_live.erase(this);
    registered_ = false;
  }
  g_regCv.notify_all();
}

void Session::ReleaseResources() {
  if (gs_ != nullptr) {
    gnutls_deinit(gs_);
    gs_ = nullptr;
  }
  if (anonCli_ != nullptr) {
    gnutls_anon_free_client_credentials(anonCli_);
    anonCli_ = nullptr;
  }
  if (anonSrv_ != nullptr) {
    gnutls_anon_free_server_credentials(anonSrv_);
    anonSrv_ = nullptr;
  }
  localCreds_.reset();
  CloseFd(plainFd_);
  CloseFd(tlsFd_);
  // wakeFd_ is closed by CloseWake() (under wakeMu_: Abort() may write to it), or by the destructor.
}

// ---------------------------------------------------------------------------
// JavaScript entry points

namespace {

// Per-session handle: an External holding the session, for tlsSessionAbort()
// and tlsSessionStats() (one allocation per session; a pair of closures per
// session was a measurable part of starting one).
using SessionRef = std::shared_ptr<Session>;

Napi::Value MakeHandle(Napi::Env env, std::shared_ptr<Session> s) {
  return Napi::External<SessionRef>::New(env, new SessionRef(std::move(s)), [](Napi::Env, SessionRef* ref) { delete ref; });
}

// tlsSessionAbort(handle)
Napi::Value SessionAbort(const Napi::CallbackInfo& info) {
  if (std::shared_ptr<Session> s = SessionOfHandle(info)) s->Abort();
  return info.Env().Undefined();
}

// tlsSessionStats(handle) -> { bytesIn, bytesOut }
Napi::Value SessionStats(const Napi::CallbackInfo& info) {
  std::shared_ptr<Session> s = SessionOfHandle(info);
  if (!s) return info.Env().Undefined();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("bytesIn", Napi::Number::New(info.Env(), static_cast<double>(s->bytesIn())));
  o.Set("bytesOut", Napi::Number::New(info.Env(), static_cast<double>(s->bytesOut())));
  return o;
}

// tlsStartSession(options, dispatch) -> handle
Napi::Value StartSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
    ThrowTypeError(env, "tlsStartSession(options, dispatch)");
    return env.Undefined();
  }
  auto s = std::make_shared<Session>(env);
  if (!s->Setup(env, info[0].As<Napi::Object>())) return env.Undefined();
  if (!s->Launch(env, info[1].As<Napi::Function>())) return env.Undefined();
  return MakeHandle(env, s);
}

// On environment teardown: abort this environment's sessions and wait
// (bounded) for their threads to finish with GnuTLS and their descriptors.
void OnEnvCleanup(void* arg) {
  napi_env env = static_cast<napi_env>(arg);
  std::unique_lock<std::mutex> lk(g_regMu);
  for (Session* s : g_live) {
    if (s->env() == env) s->Abort();
  }
  auto mine = [env] {
    for (Session* s : g_live) {
      if (s->env() == env) return true;
    }
    return false;
  };
  g_regCv.wait_for(lk, std::chrono::seconds(3), [&] { return !mine(); });
}

}  // namespace

std::shared_ptr<Session> SessionOfHandle(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsExternal()) {
    ThrowTypeError(info.Env(), "expected a session handle from tlsStartSession");
    return nullptr;
  }
  return *info[0].As<Napi::External<std::shared_ptr<Session>>>().Data();
}

void InitSessions(Napi::Env env, Napi::Object exports) {
  exports.Set("tlsStartSession", Napi::Function::New(env, StartSession, "tlsStartSession"));
  exports.Set("tlsSessionAbort", Napi::Function::New(env, SessionAbort, "tlsSessionAbort"));
  exports.Set("tlsSessionStats", Napi::Function::New(env, SessionStats, "tlsSessionStats"));
  InitSessionExports(env, exports);
  InitSessionRenegotiation(env, exports);
  napi_add_env_cleanup_hook(env, OnEnvCleanup, static_cast<napi_env>(env));
  StartRelayThreads();
}

}  // namespace tls
}  // namespace tlspool
