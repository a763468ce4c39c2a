// TLS session resumption within scopes chosen by TypeScript (tls_resumption.cc).
#pragma once
#include <gnutls/gnutls.h>

#include <string>

namespace tlspool {
namespace tls {

// Server: issue and accept tickets under this scope's key (made at first use).
bool EnableServerTickets(gnutls_session_t gs, const std::string& scope);
// Client: resume with the ticket kept under `key`, if any (used once).
bool UseClientTicket(gnutls_session_t gs, const std::string& key);
// Client: keep this session's latest ticket under `key`.
void SaveClientTicket(gnutls_session_t gs, const std::string& key);

}  // namespace tls
}  // namespace tlspool
