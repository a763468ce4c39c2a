// GnuTLS objects that every session may share instead of making its own
// (tls_shared.cc): each costs CPU to build and memory while a session lives.
#pragma once
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include <string>

namespace tlspool {
namespace tls {

// Certificate credentials holding only our certificate-retrieve callback
// (the certificate itself is chosen per session, by JavaScript). Created at
// first use and never freed; null (with *ret) if GnuTLS could not make them.
// `ocsp` answers a client's status request with what the chosen identity staples.
gnutls_certificate_credentials_t SharedCertificateCredentials(gnutls_certificate_retrieve_function2* retrieve,
                                                              gnutls_status_request_ocsp_func ocsp, int* ret);

// Sets a priority string on a session, parsing each distinct string once.
// Returns a GnuTLS error code (< 0) with *errPos pointing into `prio`.
int SetCachedPriority(gnutls_session_t gs, const std::string& prio, const char** errPos);

}  // namespace tls
}  // namespace tlspool
