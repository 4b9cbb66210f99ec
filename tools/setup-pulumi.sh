#!/usr/bin/env bash
# Builds (or finds) the Pulumi toolchain used by Runtime Fleet:
#   pulumi (CLI, from github.com/pulumi/pulumi/pkg/v3), pulumi-language-nodejs and
#   pulumi-resource-command (both from tools/pulumi/*, see tools/README.md).
# Progress goes to stderr; the LAST line of stdout is the bin directory to put on PATH.
set -euo pipefail

PULUMI_VERSION=v3.260.0
COMMAND_VERSION=v1.2.1

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { echo "setup-pulumi: $*" >&2; }

version_ge() { # version_ge A B  -> A >= B (semver-ish, leading v ignored)
  local a="${1#v}" b="${2#v}"
  [ "$(printf '%s\n%s\n' "$b" "$a" | sort -V | head -n1)" = "$b" ]
}

find_tool() { # find_tool NAME DIR -> path, preferring DIR
  if [ -x "$2/$1" ]; then echo "$2/$1"; return 0; fi
  command -v "$1" 2>/dev/null
}

# 1. An already installed toolchain on PATH?
if existing="$(command -v pulumi 2>/dev/null)"; then
  existing_dir="$(cd "$(dirname "$existing")" && pwd)"
  v="$(PULUMI_SKIP_UPDATE_CHECK=true "$existing" version 2>/dev/null | tail -n1 || true)"
  if [[ "$v" =~ ^v?[0-9]+\.[0-9]+\.[0-9]+$ ]] && version_ge "$v" "$PULUMI_VERSION" \
     && find_tool pulumi-language-nodejs "$existing_dir" >/dev/null \
     && find_tool pulumi-resource-command "$existing_dir" >/dev/null; then
    log "using pulumi $v on PATH ($existing_dir)"
    echo "$existing_dir"
    exit 0
  fi
fi

# 2. The cached build?
cache_root="${FLEET_TOOLCHAIN_DIR:-$HOME/.cache/runtime-fleet/toolchain}"
name="pulumi-${PULUMI_VERSION}-command-${COMMAND_VERSION}"
final="$cache_root/$name"
stamp_file="$final/.complete"

# The stamp records the pins and a hash of the wrapper modules, so editing
# tools/pulumi/* (a bump) invalidates the cache.
src_hash="$(cd "$here/pulumi" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 \
  | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
stamp="pulumi=$PULUMI_VERSION command=$COMMAND_VERSION src=$src_hash"

if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] && [ -x "$final/bin/pulumi" ]; then
  log "using cached toolchain $final/bin"
  echo "$final/bin"
  exit 0
fi

# 3. Build.
GO="$(command -v go 2>/dev/null || true)"
[ -n "$GO" ] || { [ -x /usr/local/go/bin/go ] && GO=/usr/local/go/bin/go; } || true
[ -n "$GO" ] || { log "error: no 'go' found (need Go >= 1.26.6)"; exit 1; }
export GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

mkdir -p "$cache_root"
tmp="$(mktemp -d "$cache_root/.build-$name.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
mkdir -p "$tmp/bin"

start=$SECONDS
build() { # build MODULE_DIR OUTPUT LDFLAGS PACKAGE
  log "building $2 (from tools/pulumi/$1) ..."
  (cd "$here/pulumi/$1" && "$GO" build -trimpath -ldflags "-s -w $3" -o "$tmp/bin/$2" "$4")
}
build nodejs  pulumi-language-nodejs  "-X main.Version=$PULUMI_VERSION" .
build command pulumi-resource-command "-X main.Version=$COMMAND_VERSION" .
build cli     pulumi \
  "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
  github.com/pulumi/pulumi/pkg/v3/cmd/pulumi

got="$(PULUMI_SKIP_UPDATE_CHECK=true "$tmp/bin/pulumi" version)"
[ "$got" = "$PULUMI_VERSION" ] || { log "error: built pulumi reports '$got', want $PULUMI_VERSION"; exit 1; }
echo "$stamp" > "$tmp/.complete"

# Swap into place (rename is atomic; a stale incomplete dir is removed first).
if [ -e "$final" ]; then
  old="$(mktemp -d "$cache_root/.old-$name.XXXXXX")"
  mv "$final" "$old/" && rm -rf "$old"
fi
mv "$tmp" "$final"
trap - EXIT
log "built toolchain in $((SECONDS - start))s: $final/bin"
echo "$final/bin"
