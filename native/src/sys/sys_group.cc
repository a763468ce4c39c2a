// lookupGroup: a group by name through NSS (getgrnam_r), as `getent group`
// and chown(1) see it: /etc/group, and also sssd, LDAP, systemd-userdb or
// whatever nsswitch.conf names.
#include <errno.h>
#include <grp.h>
#include <string.h>

#include <string>
#include <vector>

#include "errno_error.h"
#include "module.h"

namespace tlspool {
namespace {

// lookupGroup(name: string) -> its gid, or null when no such group exists.
// Throws (with .code, the errno name) when the lookup itself fails.
Napi::Value LookupGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "lookupGroup(name: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::vector<char> buf(16384);
  struct group grp;
  struct group* found = nullptr;
  int e;
  // A group with many members needs a larger buffer than the first guess.
  while ((e = getgrnam_r(name.c_str(), &grp, buf.data(), buf.size(), &found)) == ERANGE && buf.size() < (1u << 24)) {
    buf.resize(buf.size() * 2);
  }
  if (found != nullptr) return Napi::Number::New(env, static_cast<double>(found->gr_gid));
  // getgrnam_r(3): "not found" may come as 0 or as ENOENT, ESRCH, EBADF or EPERM.
  if (e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM) return env.Null();
  ThrowErrno(env, e, "getgrnam_r", "\"" + name + "\"");
  return env.Undefined();
}

void InitGroup(Napi::Env env, Napi::Object exports) {
  exports.Set("lookupGroup", Napi::Function::New(env, LookupGroup, "lookupGroup"));
}

RegisterModule reg(InitGroup);

}  // namespace
}  // namespace tlspool
