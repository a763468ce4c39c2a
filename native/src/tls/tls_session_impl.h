// The Session class and the events that both the handshake
// (tls_session.cc) and the relay (tls_relay.cc) use. Internal to the addon.
#pragma once
#include <napi.h>
#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <string>

#include "tls_session.h"

namespace tlspool {
namespace tls {

constexpr int64_t kDefaultHandshakeMs = 60 * 1000;
// DTLS: the first retransmission of a flight (GnuTLS doubles it after each).
constexpr unsigned kDtlsRetransmitMs = 1000;

// CLOCK_MONOTONIC in nanoseconds: handshake deadlines ignore changes of the wall clock.
int64_t MonotonicNs();

// Largest plaintext we read from the application for one record.
constexpr size_t kTlsChunk = 16384;
// SO_SNDBUF of both ends of a TLS session's plaintext socketpair.
constexpr int kPlainSocketBuffer = 1 << 20;
// Datagram buffers (DTLS): large enough for any record and any datagram.
constexpr size_t kDgramBuf = 65536;

class RelayThread;

// Starts the relay threads (once per process; later calls do nothing).
void StartRelayThreads();
// tlsSessionExport and tlsSessionDatum (tls_export.cc).
void InitSessionExports(Napi::Env env, Napi::Object exports);
// The session of a handle tlsStartSession gave (info[0]); null with a
// pending TypeError when info[0] is none (tls_session.cc).
std::shared_ptr<Session> SessionOfHandle(const Napi::CallbackInfo& info);
// tlsSessionRenegotiate (tls_renegotiate.cc).
void InitSessionRenegotiation(Napi::Env env, Napi::Object exports);

class FailedEvent : public Event {
 public:
  explicit FailedEvent(Failure f, const char* type = "failed") : f_(std::move(f)), type_(type) {}
  void Deliver(Napi::Env env, Napi::Function dispatch) override {
    Napi::Object ev = Napi::Object::New(env);
    ev.Set("type", Napi::String::New(env, type_));
    Fill(env, ev, f_);
    dispatch.Call({ev});
  }
  static void Fill(Napi::Env env, Napi::Object ev, const Failure& f) {
    ev.Set("kind", Napi::String::New(env, f.kind));
    ev.Set("message", Napi::String::New(env, f.message));
    if (f.gnutlsCode != 0) {
      ev.Set("gnutlsCode", Napi::Number::New(env, f.gnutlsCode));
      ev.Set("gnutls", Napi::String::New(env, GnutlsErrorName(f.gnutlsCode)));
    }
    if (f.sysErrno != 0) ev.Set("sysErrno", Napi::Number::New(env, f.sysErrno));
    if (!f.alert.empty()) {
      ev.Set("alert", Napi::String::New(env, f.alert));
      ev.Set("alertCode", Napi::Number::New(env, f.alertCode));
    }
    if (f.policyErrno != 0) ev.Set("policyErrno", Napi::Number::New(env, f.policyErrno));
    if (f.noLocalCredentials) ev.Set("noLocalCredentials", Napi::Boolean::New(env, true));
    if (f.certRequested) {
      ev.Set("certificateRequested", Napi::Boolean::New(env, true));
      ev.Set("certificatePresented", Napi::Boolean::New(env, f.certPresented));
    }
  }

 private:
  Failure f_;
  const char* type_;
};

struct EndInfo {
  std::string reason;  // closed | peer-closed | error | aborted
  Failure failure;     // for 'error'
  bool truncated = false;
  uint64_t bytesIn = 0, bytesOut = 0;
  uint64_t dropped = 0;
};

class EndEvent : public Event {
 public:
  explicit EndEvent(EndInfo info) : info_(std::move(info)) {}
  void Deliver(Napi::Env env, Napi::Function dispatch) override {
    Napi::Object ev = Napi::Object::New(env);
    ev.Set("type", Napi::String::New(env, "end"));
    if (!info_.failure.empty()) FailedEvent::Fill(env, ev, info_.failure);
    ev.Set("reason", Napi::String::New(env, info_.reason));
    ev.Set("truncated", Napi::Boolean::New(env, info_.truncated));
    ev.Set("bytesIn", Napi::Number::New(env, static_cast<double>(info_.bytesIn)));
    ev.Set("bytesOut", Napi::Number::New(env, static_cast<double>(info_.bytesOut)));
    if (info_.dropped) ev.Set("droppedDatagrams", Napi::Number::New(env, static_cast<double>(info_.dropped)));
    dispatch.Call({ev});
  }

 private:
  EndInfo info_;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(napi_env env) : env_(env) {}
  ~Session() {
    ReleaseResources();
    CloseWake();
  }

  // JavaScript thread: parse options, dup the socket, prepare GnuTLS.
  // Returns false with a pending JavaScript exception.
  bool Setup(Napi::Env env, Napi::Object opts);
  bool ReadOptions(Napi::Env env, Napi::Object opts, std::string* priority, bool* hasPriority);
  bool TakeSocket(Napi::Env env, int fd, struct sockaddr_storage* peer, socklen_t* plen);
  bool ConfigureGnutls(Napi::Env env, std::string prio, const struct sockaddr_storage& peer, socklen_t plen);
  bool SetCredentials(Napi::Env env);
  // JavaScript thread: create the threadsafe function and start the thread.
  bool Launch(Napi::Env env, Napi::Function dispatch);

  // Any thread.
  void Abort();
  uint64_t bytesIn() const { return bytesIn_.load(); }
  uint64_t bytesOut() const { return bytesOut_.load(); }
  napi_env env() const { return env_; }
  bool aborted() const { return aborted_.load(); }
  // JavaScript thread, once established: RFC 5705 / RFC 8446 7.5 keying
  // material, and a channel binding or our own certificate (tls_export.cc).
  // Serialised with the relay by gsMu_. False when the session is over or
  // GnuTLS refuses (*err says why).
  bool ExportKeyingMaterial(const std::string& label, const std::string* context, size_t len, std::string* out, std::string* err);
  bool SessionDatum(const std::string& kind, std::string* out, std::string* err);
  // JavaScript thread: ask the relay for a new handshake on this session
  // (TLS 1.2 renegotiation, tls_renegotiate.cc). Its outcome comes as a
  // 'renegotiated' event. Else, at once, RenegotiationBlocker()'s answer and *err.
  int RequestRenegotiation(std::string* err);
  // JavaScript thread: withdraw the renegotiation asked for while its
  // handshake has not begun (not started yet, or a HelloRequest the client
  // has not answered). False when the handshake runs: only an abort ends it.
  bool WithdrawRenegotiation();
  // Held by the relay thread while it steps or ends the session, and by the
  // two calls above: GnuTLS sessions are not for two threads at once.
  std::mutex gsMu_;
  std::atomic<bool> relaying_{false};

  // Completes a request (from the JavaScript thread or on teardown).
  static void Complete(const std::shared_ptr<Pending>& p, Reply reply);
  // Session thread: ask JavaScript and wait (see AskJavaScript).
  Reply Ask(const std::string& type, std::function<void(Napi::Env, Napi::Object)> fill,
            std::function<void(Napi::Value, Reply*)> parse);
  // JavaScript thread: reads a verifyPeer answer ({ ok } or a refusal).
  static void ParseVerdict(Napi::Value v, Reply* r);

  std::mutex waitMu_;
  std::condition_variable waitCv_;

 private:
  static void* ThreadMain(void* arg);
  // Runs the session on an idle handshake thread, or a new one; an errno on failure.
  static int StartHandshakeThread(std::shared_ptr<Session> s);
  static void CallJs(napi_env env, napi_value jsCb, void* context, void* data);
  static void OnTsfnFinalize(napi_env env, void* data, void* hint);

  // Session thread.
  void Run();
  bool MakePlaintextPair(int sv[2], Failure* f);
  int Handshake(Failure* f);
  void DescribeFailure(int code, Failure* f);
  // The handshake's deadline has passed: *f says so.
  bool PastDeadline(Failure* f);
  // Waits (without spinning) for what the handshake needs next, at most
  // until the deadline. False with *f set when the session was aborted.
  bool WaitIo(Failure* f);
  void SendAlert(gnutls_alert_description_t desc);
  void LingerClose();
  // The session fails: descriptors closed, 'failed' posted, the thread done with it.
  void Fail(const Failure& f);
  // A request whose answer this thread will wait for (Wait), and the wait.
  std::shared_ptr<Pending> NewPending();
  Reply Wait(const std::shared_ptr<Pending>& p);
  // verifyPeer refused the peer (or the session went away meanwhile): cbFailure_ says so.
  void PeerRefused(const Reply& r);
  // The same after the handshake, telling the peer with an alert.
  void RefusedAfterHandshake(const Reply& r);
  void CloseWake();
  // The relay (tls_relay.cc): after the handshake, the session is handed
  // to one of a few relay threads, which step it whenever a descriptor is
  // ready (no thread, stack or eventfd of its own while it is idle).
  friend class RelayThread;
  void StartRelay();
  void WakeRelay();
  void MaybeSaveTicket();
  enum class Step { kWait, kYield, kDone };
  Step RelayStep();
  bool PeerToApp(size_t cap, bool* progress);
  bool AppToPeer(size_t cap, bool* progress);
  bool CloseNotify(bool* progress);
  // Renegotiation (tls_renegotiate.cc), on the relay thread.
  // 0: a renegotiation may start now; 1: it would be insecure (TLS 1.3, no RFC 5746); 2: not now (*why says why).
  int RenegotiationBlocker(std::string* why);
  void BeginRenegotiation(bool byPeer, bool helloRequest);
  bool RenegotiationStep(size_t cap, bool* progress);
  // Posts the outcome: 0 done, else RenegotiationBlocker()'s 1 or 2, 3 tried and
  // failed (the session ends), 4 declined by the peer (the session goes on).
  void RenegotiationDone(int outcome, const std::string& message);
  bool SamePeerAsBefore();
  void PeerAsksRenegotiation();
  // The peer answered no_renegotiation; `exporterLost` when it declined our ClientHello.
  void RenegotiationDeclined(bool exporterLost);
  // Why the exporter may not be asked now (renegotiating, or spoilt by a decline); null when it may.
  const char* ExporterRefusal() const;
  // The relay takes no plaintext from the application: a new handshake is asked, awaited or about to run.
  bool RenegotiationHoldsPlaintext() const {
    return renegPeerWanted_ || renegAnswer_ || renegAwaiting_ || renegWanted_.load();
  }
  void RelayArm(int ep);
  void RelayEnd(int ep);
  bool Post(std::unique_ptr<Event> ev);
  void Finish();
  void ReleaseResources();

  // GnuTLS callbacks (session thread).
  static int RetrieveCert(gnutls_session_t gs, const gnutls_datum_t* reqCaRdn, int nreqs,
                          const gnutls_pk_algorithm_t* pkAlgos, int pkAlgosLength, gnutls_pcert_st** pcert,
                          unsigned int* pcertLength, gnutls_privkey_t* privkey);
  static int VerifyCb(gnutls_session_t gs);
  // Server: the OCSP response configured for the identity chosen (tls_revocation.cc).
  static int OcspStapleCb(gnutls_session_t gs, void* ptr, gnutls_datum_t* resp);
  static ssize_t Pull(gnutls_transport_ptr_t p, void* buf, size_t n);
  static ssize_t VecPush(gnutls_transport_ptr_t p, const giovec_t* iov, int iovcnt);
  static int PullTimeout(gnutls_transport_ptr_t p, unsigned int ms);

  int AskVerify();
  std::string ReceivedServerName();
  DerChain PeerChain();

  napi_env env_;

  // Options.
  bool client_ = true;
  bool dtls_ = false;
  bool hasServerName_ = false;
  std::string serverName_;
  gnutls_certificate_request_t certReq_ = GNUTLS_CERT_IGNORE;
  bool anonymous_ = false;
  int64_t budgetMs_ = kDefaultHandshakeMs;  // <= 0: no limit
  // When the handshake must be over (MonotonicNs; 0: no limit): set once at
  // its start to start + budgetMs_, and moved later by each wait for
  // JavaScript (Wait), which does not count against the budget.
  int64_t deadlineNs_ = 0;
  unsigned mtu_ = 0;
  std::string resumeScope_;  // empty: no resumption
  std::string resumeKey_;    // client: where this peer's ticket is kept
  bool ticketSaved_ = false;

  // Descriptors, all owned (closed exactly once by ReleaseResources).
  int tlsFd_ = -1;
  int wakeFd_ = -1;
  int plainFd_ = -1;

  // GnuTLS objects.
  gnutls_session_t gs_ = nullptr;
  gnutls_anon_client_credentials_t anonCli_ = nullptr;
  gnutls_anon_server_credentials_t anonSrv_ = nullptr;

  // The bridge to JavaScript.
  std::mutex mu_;
  // Guards wakeFd_ between Abort() (any thread) and Finish() closing it.
  std::mutex wakeMu_;
  napi_threadsafe_function tsfn_ = nullptr;
  bool tsfnGone_ = false;      // finalized: never touch tsfn_ again
  bool tsfnReleased_ = false;  // released by the session thread
  bool registered_ = false;

  std::atomic<bool> aborted_{false};
  std::atomic<uint64_t> bytesIn_{0};
  std::atomic<uint64_t> bytesOut_{0};

  // Handshake state (session thread only).
  bool credsAsked_ = false;
  std::shared_ptr<Credentials> localCreds_;
  bool verifyAsked_ = false;
  bool peerChainEmpty_ = true;
  // The application supplies the plaintext socket (V2): no socketpair is made;
  // it comes with the reply to the established event.
  bool supplyPlaintext_ = false;
  Failure cbFailure_;  // set by a callback that failed the handshake
  std::string rejectAlert_;
  bool alertSent_ = false;
  int lastErrno_ = 0;
  bool pushBlocked_ = false;  // the last send would have blocked: a write is pending
  bool transportEof_ = false;  // recv() returned 0: the peer closed its sending side

  // Relay state (relay thread only, once adopted).
  RelayThread* relay_ = nullptr;  // set under wakeMu_: Abort() wakes it once wakeFd_ is gone
  bool relayQueued_ = false;
  short tlsArmed_ = 0, plainArmed_ = 0;  // events registered with the relay's epoll (0: not registered)
  // Buffers exist only while they hold data: an idle session holds none.
  std::unique_ptr<char[]> inBuf_, outBuf_;
  size_t inLen_ = 0, inOff_ = 0, outLen_ = 0, outOff_ = 0;
  short tlsWant_ = 0, plainWant_ = 0;
  bool peerEof_ = false, plainShut_ = false, appEof_ = false, byeDone_ = false, appGone_ = false;
  enum { kNone, kApp, kPeer } first_ = kNone;
  EndInfo end_;

  // Renegotiation: asked from JavaScript (renegWanted_, any thread), or by
  // the peer (renegPeerWanted_); started once nothing is half sent, and
  // stepped until done. The peer's leaf certificate must stay the same.
  std::atomic<bool> renegWanted_{false};
  bool renegPeerWanted_ = false;
  bool renegActive_ = false;
  bool renegByPeer_ = false;
  bool renegHelloDue_ = false;  // server asking: HelloRequest still to send
  bool renegAwaiting_ = false;  // server asked: the client's ClientHello is awaited
  bool renegAnswer_ = false;    // ... and has come: the handshake is to run
  std::string renegLeaf_;
  bool renegPeerChanged_ = false;
  bool exporterLost_ = false;  // a declined renegotiation spoilt the exporter (tls_renegotiate.cc)
  int64_t renegLastPeerNs_ = 0;
};

}  // namespace tls
}  // namespace tlspool
