#!/usr/bin/env bash
# One idempotent setup for `npm start`, `npm test` and CI: Debian packages,
# npm dependencies, the native addon, the renderer and the TypeScript. Re-running it does
# only what is missing or out of date.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*" >&2; }

# Debian packages the project needs at build, run and test time.
#  build:   pkg-config libgnutls28-dev libunbound-dev (addon), g++ make python3 (node-gyp)
#  run:     libgnutls30 p11-kit (engine, PKCS #11 modules), libunbound8 (resolver),
#           dns-root-data (the DNSSEC root trust anchor, dns.trust_anchors)
#  test:    gnutls-bin openssl (real peers, certificates, danetool), softhsm2 opensc
#           (a real token), knot ldnsutils (a signed authoritative zone),
#           stunnel4 (benchmarks), chromium (UI tests, headless),
#           systemd (systemd-analyze, systemd-socket-activate: the units and
#           socket activation), mandoc groff (man page lint),
#           desktop-file-utils (desktop-file-validate),
#           freeradius freeradius-utils (a real RADIUS server for the external
#           checks), slapd ldap-utils (a real directory for the LDAP trust
#           path); the tests start their own servers, so the system ones stop
PACKAGES=(pkg-config g++ make python3 libgnutls28-dev libunbound-dev dns-root-data gnutls-bin p11-kit softhsm2 opensc openssl knot ldnsutils stunnel4 chromium systemd mandoc groff desktop-file-utils freeradius freeradius-utils slapd ldap-utils)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if ! command -v apt-get >/dev/null 2>&1; then
    say "this is not a Debian system; install by hand: ${missing[*]} (or their equivalents), then run: npm run setup"
    exit 1
  elif [ "$(id -u)" != 0 ]; then
    say "missing Debian packages and not root; run as root: apt-get install ${missing[*]}"
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq "${missing[@]}" >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  # freeradius and slapd start system servers (1812, 389); nothing here needs them.
  for svc in freeradius slapd; do
    [[ " ${missing[*]} " == *" $svc "* ]] || continue
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      systemctl disable --now "$svc" >/dev/null 2>&1 || true
    elif command -v service >/dev/null 2>&1; then
      service "$svc" stop >/dev/null 2>&1 || true
      command -v update-rc.d >/dev/null 2>&1 && update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
  done
fi

# npm dependencies: `npm ci` when the lockfile changed since the last install.
stamp=node_modules/.tlspool-setup-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  say "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
  cp package-lock.json "$stamp"
fi

# The native addon: rebuild when a source is newer than the binary.
addon=native/build/Release/tlspool_native.node
if [ ! -f "$addon" ] || [ -n "$(find native/src native/binding.gyp -newer "$addon" -print -quit)" ]; then
  say "building the native addon (node-gyp)"
  npm run --silent build:native >/dev/null
fi

# The renderer (React, Vite): rebuild when a source is newer than the built page.
page=dist/ui/index.html
if [ ! -f "$page" ] || [ -n "$(find renderer src/contract src/model src/protocol/pin.ts src/protocol/layout.ts -newer "$page" -type f -print -quit)" ]; then
  say "building the renderer (vite)"
  npm run --silent build:renderer >/dev/null
fi

say "compiling TypeScript"
npm run --silent build:ts
say "ready"
