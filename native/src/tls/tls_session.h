// One TLS or DTLS session: a GnuTLS session whose handshake runs on a native
// thread of its own (tls_handshake.cc), asking JavaScript for local
// credentials and for the verdict on the peer (blocking only that thread),
// and which is then relayed between a socketpair and the TLS records by one
// of a few shared relay threads (tls_relay.cc) until both sides are done.
//
// Threading: everything in here except Start(), the JavaScript-facing handle
// and Event::Deliver() runs on the handshake thread, then on a relay thread
// (handed over once, through the relay's queue). JavaScript is reached
// only through the session's napi_threadsafe_function; a question (a
// "request") blocks the handshake thread on a condition variable until the
// reply arrives, the session is aborted, or the environment goes away.
#pragma once
#include <napi.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "secret.h"
#include "tls_common.h"
#include "tls_credentials.h"

namespace tlspool {
namespace tls {

class Session;

// What went wrong, as facts; TypeScript turns them into an errno.
struct Failure {
  // 'aborted' | 'timeout' | 'transport' | 'alert' | 'policy' | 'credentials' | 'tls' | 'local'
  std::string kind;
  int gnutlsCode = 0;
  int sysErrno = 0;         // transport errno, when kind is 'transport'
  std::string alert;        // the alert received, when kind is 'alert'
  int alertCode = -1;
  int policyErrno = 0;      // errno chosen by JavaScript (policy / credentials)
  std::string message;      // person-readable
  bool noLocalCredentials = false;  // server: the credentials callback chose none
  bool certRequested = false;       // client: the server asked for our certificate
  bool certPresented = false;       // client: ... and we presented one
  bool empty() const { return kind.empty(); }
};

// Something the session thread hands to JavaScript.
class Event {
 public:
  virtual ~Event() = default;
  // On the JavaScript thread: build the event object and call dispatch.
  virtual void Deliver(Napi::Env env, Napi::Function dispatch) = 0;
  // The environment is gone and the event will never be delivered: release
  // what it owns (descriptors) and wake whoever waits for it.
  virtual void Drop() {}
};

// The answer to a request from the session thread.
struct Reply {
  bool ok = false;
  int errnum = 0;
  std::string message;
  std::string alert;                         // verify: the alert to send on rejection
  std::shared_ptr<Credentials> credentials;  // credentials: the chosen ones (null = none)
  std::shared_ptr<SecretBytes> secret;       // pin: the PIN (wiped when the last holder lets go)
  int plainFd = -1;                          // established, supplied plaintext: the application's socket (owned)
  bool gone = false;                         // aborted or the environment went away
};

// One outstanding request. Shared by the waiting session thread and the
// JavaScript reply function, whichever lives longer.
struct Pending {
  std::shared_ptr<Session> session;
  bool done = false;  // guarded by session->waitMu_
  Reply reply;
};

// For callbacks that GnuTLS makes on a session thread, such as a PKCS #11 PIN
// callback (gnutls_privkey_set_pin_function / gnutls_pkcs11_set_pin_function,
// run on the thread that signs): ask the session's JavaScript side a question
// of type `type` (delivered to the dispatch function as {type, ..., reply}),
// and block this session thread until reply() is called, the session is
// aborted or the environment goes away (then gone = true). `fill` adds the
// question's fields and `parse` reads the answer, both on the JavaScript
// thread. Called off a session thread, it answers gone = true at once.
Reply AskJavaScript(const std::string& type, std::function<void(Napi::Env, Napi::Object)> fill,
                    std::function<void(Napi::Value, Reply*)> parse);

// True on a session thread whose session is being aborted (so that a thread
// waiting for another one, such as a key import in progress, can give up).
bool CurrentSessionAborted();

// Creates the JavaScript-facing functions of the addon's session part.
void InitSessions(Napi::Env env, Napi::Object exports);

}  // namespace tls
}  // namespace tlspool
