// Process-wide GnuTLS objects shared by sessions (tls_shared.h). Per session
// they showed in the profile of idle connections: certificate credentials
// allocate a trust list's hash table each, and a parsed priority string is
// a sizeable structure; both are read-only once made, so sharing is safe.
#include "tls_shared.h"

#include <mutex>
#include <unordered_map>

namespace tlspool {
namespace tls {

namespace {

// Distinct priority strings are few (the defaults, their anonymous variants,
// the configured one); more than this are parsed per session.
constexpr size_t kMaxPriorities = 64;

std::mutex g_mu;
gnutls_certificate_credentials_t g_cred = nullptr;
// Never freed: sessions refer to these for as long as they live.
std::unordered_map<std::string, gnutls_priority_t>* g_prio = new std::unordered_map<std::string, gnutls_priority_t>();

}  // namespace

gnutls_certificate_credentials_t SharedCertificateCredentials(gnutls_certificate_retrieve_function2* retrieve,
                                                              gnutls_status_request_ocsp_func ocsp, int* ret) {
  std::lock_guard<std::mutex> lk(g_mu);
  *ret = 0;
  if (g_cred == nullptr) {
    gnutls_certificate_credentials_t c = nullptr;
    *ret = gnutls_certificate_allocate_credentials(&c);
    if (*ret < 0) return nullptr;
    gnutls_certificate_set_retrieve_function2(c, retrieve);
    gnutls_certificate_set_ocsp_status_request_function(c, ocsp, nullptr);
    g_cred = c;
  }
  return g_cred;
}

int SetCachedPriority(gnutls_session_t gs, const std::string& prio, const char** errPos) {
  *errPos = nullptr;
  gnutls_priority_t cache = nullptr;
  {
    std::lock_guard<std::mutex> lk(g_mu);
    auto it = g_prio->find(prio);
    if (it != g_prio->end()) {
      cache = it->second;
    } else if (g_prio->size() < kMaxPriorities) {
      const char* err = nullptr;
      int ret = gnutls_priority_init2(&cache, prio.c_str(), &err, 0);
      if (ret < 0) {
        *errPos = err;
        return ret;
      }
      g_prio->emplace(prio, cache);
    }
  }
  if (cache == nullptr) return gnutls_priority_set_direct(gs, prio.c_str(), errPos);
  return gnutls_priority_set(gs, cache);
}

}  // namespace tls
}  // namespace tlspool
