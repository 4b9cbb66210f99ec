#!/usr/bin/env bash
# Finds the Pulumi toolchain used by Runtime Fleet, or builds the stand-ins (tools/README.md).
# Choices, first that works:
#   official  a `pulumi` on PATH (v3.260.0 or newer) with pulumi-language-nodejs beside it, as the
#             official distributions ship it; the command provider v1.2.1 comes from the CLI's own
#             plugin cache (`pulumi plugin install`, a no-op when it is there already).
#   cached    the stand-ins (CLI from pkg/v3, tools/pulumi/{nodejs,command}) built earlier.
#   build     build the stand-ins with Go (needs Go >= 1.26.6), showing modules and packages.
# Usage: setup-pulumi.sh [--plan | --stamp]
#   --plan   print the choice it would make (official | cached | build) and change nothing
#   --stamp  print the cache stamp of the current sources (tests fake a cached build with it)
# Env: FLEET_TOOLCHAIN_DIR (cache root, default ~/.cache/runtime-fleet/toolchain), FLEET_GO_DIRS
#      (where to look for go beyond PATH, default /usr/local/go/bin),
#      FLEET_TOOLCHAIN=official (fail rather than fall back: CI) | stand-ins (skip the official CLI).
# Progress and the choice go to stderr; the LAST line of stdout is the bin directory to put on PATH.
set -euo pipefail

PULUMI_VERSION=v3.260.0
COMMAND_VERSION=v1.2.1
GO_MIN=1.26.6

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { echo "setup-pulumi: $*" >&2; }
mode="${1:-}"
case "$mode" in "" | --plan | --stamp) ;; *) log "error: unknown argument '$mode' (expected --plan or --stamp)"; exit 2 ;; esac

version_ge() { # version_ge A B  -> A >= B (semver-ish, leading v ignored)
  local a="${1#v}" b="${2#v}"
  [ "$(printf '%s\n%s\n' "$b" "$a" | sort -V | head -n1)" = "$b" ]
}

cache_root="${FLEET_TOOLCHAIN_DIR:-$HOME/.cache/runtime-fleet/toolchain}"
name="pulumi-${PULUMI_VERSION}-command-${COMMAND_VERSION}"
final="$cache_root/$name"
stamp_file="$final/.complete"
# The stamp records the pins and a hash of the wrapper modules' sources, so editing
# tools/pulumi/* (a bump) invalidates the cache; their tests (*_test.go) are not built into it.
src_hash="$(cd "$here/pulumi" && find . -type f \( \( -name '*.go' ! -name '*_test.go' \) -o -name go.mod -o -name go.sum \) -print0 \
  | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
stamp="pulumi=$PULUMI_VERSION command=$COMMAND_VERSION src=$src_hash"
if [ "$mode" = --stamp ]; then echo "$stamp"; exit 0; fi
cached() { [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] && [ -x "$final/bin/pulumi" ]; }

# 1. The official CLI on PATH (not a stand-in build: those carry a .complete stamp beside bin/).
if [ "${FLEET_TOOLCHAIN:-}" != stand-ins ] && existing="$(command -v pulumi 2>/dev/null)"; then
  existing_dir="$(cd "$(dirname "$existing")" && pwd)"
  if [ -f "$existing_dir/../.complete" ]; then
    # A stand-in build on PATH (another cache root, say): used while it matches the sources.
    if [ "$(cat "$existing_dir/../.complete")" = "$stamp" ] && [ "$existing_dir" != "$final/bin" ]; then
      if [ "$mode" = --plan ]; then echo cached; exit 0; fi
      log "toolchain: stand-ins (tools/pulumi, cached build on PATH) $existing_dir"
      echo "$existing_dir"
      exit 0
    fi
  else
    v="$(PULUMI_SKIP_UPDATE_CHECK=true "$existing" version 2>/dev/null | tail -n1 || true)"
    if ! [[ "$v" =~ ^v?[0-9]+\.[0-9]+\.[0-9]+$ ]] || ! version_ge "$v" "$PULUMI_VERSION"; then
      log "pulumi on PATH ($existing) reports '${v:-nothing}', older than $PULUMI_VERSION: not using it"
    elif ! [ -x "$existing_dir/pulumi-language-nodejs" ] && ! command -v pulumi-language-nodejs >/dev/null 2>&1; then
      log "pulumi $v on PATH has no pulumi-language-nodejs beside it: not using it"
    elif [ "$mode" = --plan ]; then
      echo official
      exit 0
    else
      log "pulumi $v on PATH ($existing_dir): installing the command provider $COMMAND_VERSION into its plugin cache"
      if out="$(PULUMI_SKIP_UPDATE_CHECK=true timeout 300 "$existing" plugin install resource command "$COMMAND_VERSION" 2>&1)"; then
        log "toolchain: official Pulumi CLI $v with pulumi-resource-command $COMMAND_VERSION from its plugin cache"
        echo "$existing_dir"
        exit 0
      fi
      log "the official command provider could not be installed ($(printf '%s\n' "$out" | grep -v '^\s*$' | tail -n1)): using the stand-ins"
    fi
  fi
fi

if [ "${FLEET_TOOLCHAIN:-}" = official ]; then
  log "error: FLEET_TOOLCHAIN=official, but no official Pulumi CLI $PULUMI_VERSION+ with pulumi-language-nodejs and the command provider $COMMAND_VERSION could be had"
  exit 1
fi

# 2. The cached stand-in build?
if cached; then
  if [ "$mode" = --plan ]; then echo cached; exit 0; fi
  log "toolchain: stand-ins (tools/pulumi, cached build) $final/bin"
  echo "$final/bin"
  exit 0
fi
if [ "$mode" = --plan ]; then echo build; exit 0; fi

# 3. Build the stand-ins.
GO="$(command -v go 2>/dev/null || true)"
# Go's own tarball install, often not on PATH; FLEET_GO_DIRS="" (tests) looks nowhere else.
for d in ${FLEET_GO_DIRS-/usr/local/go/bin}; do
  [ -n "$GO" ] || { [ -x "$d/go" ] && GO="$d/go"; } || true
done
[ -n "$GO" ] || { log "error: building the stand-ins needs Go >= $GO_MIN and no 'go' was found (https://go.dev/dl), or install the official Pulumi CLI"; exit 1; }
gover="$("$GO" env GOVERSION 2>/dev/null || true)"
version_ge "${gover#go}" "$GO_MIN" || { log "error: building the stand-ins needs Go >= $GO_MIN; $GO is '${gover:-unknown}'"; exit 1; }
export GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

mkdir -p "$cache_root"
tmp="$(mktemp -d "$cache_root/.build-$name.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
mkdir -p "$tmp/bin"

# count LABEL REGEX EVERY [TOTAL]: counts the lines of stdin matching REGEX (go's -x / -v output),
# reporting every EVERY and at the end; other lines are kept and shown only when go fails.
count() {
  local label=$1 pattern=$2 every=$3 total=${4:-} n=0 line
  : > "$tmp/other.log"
  while IFS= read -r line; do
    if [[ $line =~ $pattern ]]; then
      n=$((n + 1))
      if ((n % every == 0)); then log "  $label: $n${total:+ of $total}"; fi
    elif [[ $line != "# get "* ]]; then
      printf '%s\n' "$line" >> "$tmp/other.log"
    fi
  done
  log "  $label: $n${total:+ of $total}"
}
failed() { log "error: $1 failed:"; tail -n 20 "$tmp/other.log" >&2; exit 1; }

start=$SECONDS
log "toolchain: building the stand-ins with $GO ($gover) into $final (a cold build takes minutes)"
build() { # build MODULE_DIR OUTPUT LDFLAGS PACKAGE
  local dir="$here/pulumi/$1" total
  log "$2 (tools/pulumi/$1): downloading modules ..."
  (cd "$dir" && "$GO" mod download -x 2>&1) | count "modules downloaded" '^# get .*\.zip: 200' 20 || failed "go mod download for $2"
  total="$( (cd "$dir" && "$GO" list -deps "$4" 2>/dev/null) | wc -l)" || total="?"
  log "$2: compiling ($((SECONDS - start))s so far) ..."
  (cd "$dir" && "$GO" build -v -trimpath -ldflags "-s -w $3" -o "$tmp/bin/$2" "$4" 2>&1) \
    | count "packages compiled" '^[A-Za-z0-9_.~/-]+$' 100 "${total:-?}" || failed "go build of $2"
}
build nodejs  pulumi-language-nodejs  "-X main.Version=$PULUMI_VERSION" .
build command pulumi-resource-command "-X main.Version=$COMMAND_VERSION" .
build cli     pulumi \
  "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION" \
  github.com/pulumi/pulumi/pkg/v3/cmd/pulumi

got="$(PULUMI_SKIP_UPDATE_CHECK=true "$tmp/bin/pulumi" version)"
[ "$got" = "$PULUMI_VERSION" ] || { log "error: built pulumi reports '$got', want $PULUMI_VERSION"; exit 1; }
rm -f "$tmp/other.log"
echo "$stamp" > "$tmp/.complete"

# Swap into place (rename is atomic; a stale incomplete dir is removed first).
if [ -e "$final" ]; then
  old="$(mktemp -d "$cache_root/.old-$name.XXXXXX")"
  mv "$final" "$old/" && rm -rf "$old"
fi
mv "$tmp" "$final"
trap - EXIT
log "toolchain: stand-ins (tools/pulumi) built in $((SECONDS - start))s: $final/bin"
echo "$final/bin"
