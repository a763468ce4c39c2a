// Revocation data beyond the trust list's CRL files: OCSP responses (stapled
// by a server, or configured for our own identity) and CRLs fetched from a
// certificate's distribution point. Parsing and signature checks only; what
// a result means for a connection is for TypeScript to decide.
#pragma once
#include <gnutls/gnutls.h>
#include <napi.h>

#include <string>

namespace tlspool {
namespace tls {

// Client, session thread: the OCSP response the server stapled for its
// certificate (DER), or "" when it sent none.
std::string StapledOcsp(gnutls_session_t gs);

// Registers tlsRevocationInfo, tlsIssuerOf, tlsOcspCheck and tlsCrlCheck.
void InitRevocation(Napi::Env env, Napi::Object exports);

}  // namespace tls
}  // namespace tlspool
