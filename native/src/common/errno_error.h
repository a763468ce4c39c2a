// The one way the addon reports a failure to JavaScript: an Error shaped
// like Node's own system errors, with `code` (the errno name, "ENOENT"),
// `errno` (its positive number) and a message, so the TypeScript side reads
// every failure the same way (src/model/failure.ts errnoOf).
#pragma once
#include <napi.h>

#include <string>

namespace tlspool {

// The symbolic name of an errno value ("ECONNRESET"), or "E<n>".
std::string ErrnoName(int err);

// The human text for an errno value ("Connection reset by peer").
std::string ErrnoText(int err);

// An Error with `message`, and properties code (errno name) and errno.
// Empty if it could not be made (the environment is stopping): it is made
// with raw Node-API calls, as it also runs from loop callbacks.
Napi::Error ErrnoError(Napi::Env env, int err, const std::string& message);

// ErrnoError with message "syscall(detail): text" (or "syscall: text"
// without a detail), and property syscall. `text` replaces the errno text
// when the plain one would not say enough.
Napi::Error SyscallError(Napi::Env env, int err, const char* syscall, const std::string& detail = std::string(),
                         const std::string& text = std::string());

// Throws SyscallError(...). C++ exceptions are disabled, so the caller must
// return right after this.
void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& detail = std::string(),
                const std::string& text = std::string());

// A plain TypeError for bad arguments; the caller returns right after.
void ThrowType(Napi::Env env, const char* message);

}  // namespace tlspool
