// TLS session resumption (RFC 8446 2.2, session tickets): what a resumed
// handshake skips is the certificate signature and its verification, the
// costliest part of a full handshake with P-256 keys.
//
// Scopes come from TypeScript (policy): sessions may resume each other only
// within one scope. A server scope has its own ticket key, so a ticket
// issued under one local identity never opens a session under another. A
// client keeps, per scope and peer address, the latest few tickets it was
// given (parallel connections to one server each need one), newest first,
// and uses each ticket once.
#include "tls_resumption.h"

#include <gnutls/gnutls.h>

#include <deque>
#include <map>
#include <mutex>
#include <unordered_map>

namespace tlspool {
namespace tls {

namespace {

// Bounds: scopes are few (local identities, peers); tickets are small (~1 KiB).
constexpr size_t kMaxServerScopes = 1024;
constexpr size_t kMaxClientKeys = 1024;
constexpr size_t kTicketsPerKey = 32;

struct TicketKey {
  gnutls_datum_t key = {nullptr, 0};
  ~TicketKey() {
    if (key.data != nullptr) {
      gnutls_memset(key.data, 0, key.size);
      gnutls_free(key.data);
    }
  }
};

std::mutex g_mu;
// Never erased: sessions hold a pointer to their key for their whole life.
std::map<std::string, TicketKey>* g_serverKeys = new std::map<std::string, TicketKey>();
std::unordered_map<std::string, std::deque<std::string>>* g_clientTickets =
    new std::unordered_map<std::string, std::deque<std::string>>();

}  // namespace

bool EnableServerTickets(gnutls_session_t gs, const std::string& scope) {
  std::lock_guard<std::mutex> lk(g_mu);
  auto it = g_serverKeys->find(scope);
  if (it == g_serverKeys->end()) {
    if (g_serverKeys->size() >= kMaxServerScopes) return false;
    it = g_serverKeys->emplace(scope, TicketKey()).first;
    if (gnutls_session_ticket_key_generate(&it->second.key) < 0) {
      it->second.key = {nullptr, 0};
      g_serverKeys->erase(it);
      return false;
    }
  }
  return gnutls_session_ticket_enable_server(gs, &it->second.key) >= 0;
}

bool UseClientTicket(gnutls_session_t gs, const std::string& key) {
  std::string data;
  {
    std::lock_guard<std::mutex> lk(g_mu);
    auto it = g_clientTickets->find(key);
    if (it == g_clientTickets->end()) return false;
    data.swap(it->second.front());
    it->second.pop_front();
    if (it->second.empty()) g_clientTickets->erase(it);
  }
  return gnutls_session_set_data(gs, data.data(), data.size()) >= 0;
}

void SaveClientTicket(gnutls_session_t gs, const std::string& key) {
  gnutls_datum_t d = {nullptr, 0};
  if (gnutls_session_get_data2(gs, &d) < 0 || d.data == nullptr) return;
  std::string data(reinterpret_cast<const char*>(d.data), d.size);
  gnutls_free(d.data);
  std::lock_guard<std::mutex> lk(g_mu);
  if (g_clientTickets->size() >= kMaxClientKeys && g_clientTickets->count(key) == 0) {
    g_clientTickets->erase(g_clientTickets->begin());
  }
  std::deque<std::string>& q = (*g_clientTickets)[key];
  q.push_front(std::move(data));
  if (q.size() > kTicketsPerKey) q.pop_back();
}

}  // namespace tls
}  // namespace tlspool
