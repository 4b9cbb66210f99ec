#!/usr/bin/env bash
# Builds (or finds) actionlint, the GitHub Actions workflow checker, from its Go module
# (github.com/rhysd/actionlint/cmd/actionlint), cached like the Pulumi toolchain.
# Progress goes to stderr; the LAST line of stdout is the bin directory holding `actionlint`.
set -euo pipefail

ACTIONLINT_VERSION=v1.7.12

log() { echo "setup-actionlint: $*" >&2; }

# 1. Already on PATH at this version?
if existing="$(command -v actionlint 2>/dev/null)"; then
  v="$("$existing" -version 2>/dev/null | head -n1 || true)"
  if [ "$v" = "$ACTIONLINT_VERSION" ] || [ "v$v" = "$ACTIONLINT_VERSION" ]; then
    log "using actionlint $v on PATH"
    dirname "$existing"
    exit 0
  fi
fi

# 2. The cached build?
cache_root="${FLEET_TOOLCHAIN_DIR:-$HOME/.cache/runtime-fleet/toolchain}"
final="$cache_root/actionlint-$ACTIONLINT_VERSION"
stamp="actionlint=$ACTIONLINT_VERSION"
if [ -f "$final/.complete" ] && [ "$(cat "$final/.complete")" = "$stamp" ] && [ -x "$final/bin/actionlint" ]; then
  log "using cached $final/bin"
  echo "$final/bin"
  exit 0
fi

# 3. Build.
GO="$(command -v go 2>/dev/null || true)"
[ -n "$GO" ] || { [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go; } || true
[ -n "$GO" ] || { log "error: no 'go' found"; exit 1; }

mkdir -p "$cache_root"
tmp="$(mktemp -d "$cache_root/.build-actionlint.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
start=$SECONDS
log "building actionlint $ACTIONLINT_VERSION ..."
# The version ldflag makes `actionlint -version` print the release, as a released binary does.
GOBIN="$tmp/bin" CGO_ENABLED=0 GOTOOLCHAIN="${GOTOOLCHAIN:-local}" GOFLAGS=-mod=mod \
  "$GO" install -trimpath \
  -ldflags "-s -w -X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION" \
  "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" >&2
got="$("$tmp/bin/actionlint" -version | head -n1)"
[ "$got" = "$ACTIONLINT_VERSION" ] || { log "error: built actionlint reports '$got', want $ACTIONLINT_VERSION"; exit 1; }
echo "$stamp" > "$tmp/.complete"

# Swap into place atomically (a stale dir is moved aside first).
if [ -e "$final" ]; then
  old="$(mktemp -d "$cache_root/.old-actionlint.XXXXXX")"
  mv "$final" "$old/" && rm -rf "$old"
fi
mv "$tmp" "$final"
trap - EXIT
log "built actionlint in $((SECONDS - start))s: $final/bin"
echo "$final/bin"
