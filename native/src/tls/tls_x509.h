// Certificate inspection (tlsCertInfo) and chain verification (tlsVerifyChain).
#pragma once
#include <napi.h>

namespace tlspool {
namespace tls {

void InitX509(Napi::Env env, Napi::Object exports);

}  // namespace tls
}  // namespace tlspool
