// Errors thrown to JavaScript by the IPC part: shaped like Node's own system
// errors, so the TypeScript side can switch on `code` ("ENOENT", ...).
#pragma once
#include <napi.h>

#include <string>

namespace tlspool::ipc {

// The symbolic name of an errno value ("ECONNRESET"), or "UNKNOWN".
const char* ErrnoName(int err);

// The human text for an errno value ("Connection reset by peer").
std::string ErrnoText(int err);

// An Error with message "syscall(detail): text" (or "syscall: text" without a
// detail), and properties code (errno name), errno (positive) and syscall.
// `text` replaces the errno text when the plain one would not say enough.
// Empty if it could not be made (the environment is stopping).
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& detail = std::string(),
                       const std::string& text = std::string());

// Throws ErrnoError(...). C++ exceptions are disabled, so the caller must
// return right after this.
void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& detail = std::string(),
                const std::string& text = std::string());

// A plain TypeError for bad arguments; the caller returns right after.
void ThrowType(Napi::Env env, const char* message);

}  // namespace tlspool::ipc
