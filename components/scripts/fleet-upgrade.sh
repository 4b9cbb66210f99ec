#!/usr/bin/env bash
# fleet-upgrade: the one on-host upgrade script of Runtime Fleet.
#
# Used by the Pulumi deploy command (over SSH, versions on stdin) and by the self-upgrade agent.
# Installed at $ROOT/bin/fleet-upgrade; ROOT is derived from this file's location (or --root DIR).
#
#   fleet-upgrade upgrade --openclaw vX.Y.Z --runtime-service vX.Y.Z [--health-timeout S]
#   fleet-upgrade upgrade --stdin [--health-timeout S]   # {"openclaw":"v..","runtimeService":"v..",
#                                   "restoreSnapshot":"ID"?, "snapshots":{"keep":N,"budgetBytes":B}?}
#   fleet-upgrade status
#   fleet-upgrade snapshots
#   fleet-upgrade updater-off   # OpenClaw's own auto-updater off: this script is the host's one updater
#   fleet-upgrade restart [--health-timeout S]
#   fleet-upgrade logs [--lines N]
#
# stdout carries exactly one JSON line (logs: the log text); every diagnostic goes to stderr.
# Exit codes: 0 success/noop/healthy, 1 failed or rolled back, 2 bad input (nothing was run).
set -euo pipefail
export LC_ALL=C # ASCII ranges in the version regex, stable tool output

# ---------------------------------------------------------------------------------------------
# Versions: mirror of fleet/versions.ts RELEASE_TAG_PATTERN (the host validates again, so a
# value that skipped validation upstream still never reaches git, compose or a file).
# ---------------------------------------------------------------------------------------------
readonly NUM='(0|[1-9][0-9]*)'
readonly PRE_ID='(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)'
readonly TAG_RE="^v${NUM}\\.${NUM}\\.${NUM}(-${PRE_ID}(\\.${PRE_ID})*)?\$"
readonly TAG_MAX_LENGTH=64
readonly MAX_SAFE_INTEGER=9007199254740991 # semver refuses larger numeric parts

is_release_tag() {
  local tag=$1 part
  ((${#tag} <= TAG_MAX_LENGTH)) || return 1
  [[ $tag =~ $TAG_RE ]] || return 1
  for part in "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}"; do
    ((${#part} < ${#MAX_SAFE_INTEGER})) && continue
    ((${#part} == ${#MAX_SAFE_INTEGER})) && [[ ! $part > $MAX_SAFE_INTEGER ]] && continue
    return 1
  done
  return 0
}

# ---------------------------------------------------------------------------------------------
# Output helpers
# ---------------------------------------------------------------------------------------------
log() { printf '%s fleet-upgrade: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2 || true; }
now_ms() { date +%s%3N; }

host_label() {
  if [[ -n ${HOST_NAME:-} ]]; then printf '%s' "$HOST_NAME"; return; fi
  hostname 2>/dev/null || cat /proc/sys/kernel/hostname 2>/dev/null || printf 'unknown'
}

RESULT_EMITTED=0
# Prints the single stdout JSON line. Arguments are passed to jq as data, never as program text.
emit_json() {
  RESULT_EMITTED=1
  printf '%s\n' "$1" || true
}

# Minimal hand-written line for when jq itself is missing (the only case not built by jq).
emit_without_jq() {
  RESULT_EMITTED=1
  printf '{"status":"failed","from":null,"to":null,"durationMs":0,"error":"%s","host":null}\n' "$1" || true
}

# --health-timeout S, as upgrade and restart take it: whole seconds 1..3600, else bad input.
apply_health_timeout_arg() {
  [[ -z $HEALTH_TIMEOUT_ARG ]] && return 0
  [[ $HEALTH_TIMEOUT_ARG =~ ^[0-9]{1,4}$ ]] && ((HEALTH_TIMEOUT_ARG >= 1 && HEALTH_TIMEOUT_ARG <= 3600)) ||
    bad_input "--health-timeout must be whole seconds 1..3600"
  HEALTH_TIMEOUT=$HEALTH_TIMEOUT_ARG
}

# The one line of a run that failed before it touched anything (error text JSON-escaped by jq).
emit_failed() {
  emit_json "$(jq -cn --arg e "$1" --arg h "$(host_label)" '{status: "failed", from: null, to: null, durationMs: 0, error: $e, host: $h}')"
}

# A versions object, or null when either part is unknown.
versions_json() {
  jq -cn --arg oc "$1" --arg rs "$2" 'if $oc == "" or $rs == "" then null else {openclaw: $oc, runtimeService: $rs} end'
}

# Bad input: one JSON line, exit 2, nothing touched. The offending value is JSON-escaped by jq.
bad_input() {
  local message=$1
  if command -v jq >/dev/null 2>&1; then
    emit_failed "$message"
  else
    emit_without_jq "bad input"
  fi
  log "refused: $message"
  exit 2
}

quote_value() { jq -cn --arg v "${1:0:100}" '$v'; }

usage() {
  sed -n '5,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,3\}//' >&2
}

# ---------------------------------------------------------------------------------------------
# Host settings: etc/fleet.env is PARSED, never sourced (it must not be able to run code).
# ---------------------------------------------------------------------------------------------
HEALTH_URL="http://127.0.0.1:8080"
DOCKER="docker"
HEALTH_TIMEOUT=120
HEALTH_INTERVAL=2
LOCK_TIMEOUT=600
HOST_NAME=""
# The customer's state (OpenClaw's openclaw.json, credentials/, workspace/), relative to ROOT.
STATE_PATHS="data/openclaw.json data/credentials data/workspace"
SNAPSHOT_KEEP=3
SNAPSHOT_BUDGET_BYTES=1073741824
SNAPSHOT_FREE_BYTES="" # a cap on the free space the snapshot step assumes (a quota; the lab's disk-full)

load_host_settings() {
  local file="$ROOT/etc/fleet.env" line key value
  [[ -f $file ]] || return 0
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%$'\r'}
    [[ $line =~ ^[[:space:]]*(#.*)?$ ]] && continue
    if [[ ! $line =~ ^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
      log "etc/fleet.env: ignoring malformed line"
      continue
    fi
    key=${BASH_REMATCH[2]}
    value=${BASH_REMATCH[3]}
    if [[ $value =~ ^\"(.*)\"$ || $value =~ ^\'(.*)\'$ ]]; then value=${BASH_REMATCH[1]}; fi
    case $key in
      FLEET_HEALTH_URL) HEALTH_URL=$value ;;
      FLEET_DOCKER) DOCKER=$value ;;
      FLEET_HEALTH_TIMEOUT) HEALTH_TIMEOUT=$value ;;
      FLEET_HEALTH_INTERVAL) HEALTH_INTERVAL=$value ;;
      FLEET_LOCK_TIMEOUT) LOCK_TIMEOUT=$value ;;
      FLEET_HOST_NAME) HOST_NAME=$value ;;
      FLEET_STATE_PATHS) STATE_PATHS=$value ;;
      FLEET_SNAPSHOT_KEEP) SNAPSHOT_KEEP=$value ;;
      FLEET_SNAPSHOT_BUDGET_BYTES) SNAPSHOT_BUDGET_BYTES=$value ;;
      FLEET_SNAPSHOT_FREE_BYTES) SNAPSHOT_FREE_BYTES=$value ;;
      *) ;; # other keys belong to other tools (the agent)
    esac
  done <"$file"
  validate_host_settings
}

# A broken fleet.env is a host problem, not bad input from the caller: exit 1.
settings_problem() {
  emit_failed "etc/fleet.env: $1"
  log "etc/fleet.env: $1"
  exit 1
}

# A host that cannot run an upgrade at all (before anything was touched): exit 1, the cause named.
host_problem() {
  emit_failed "$1"
  log "$1"
  exit 1
}

# The lock, the run directory and the snapshot of what is replaced all live in state/: an upgrade
# that cannot write there must say so before it starts, not fail halfway as "internal error".
check_state_writable() {
  local probe="$STATE/.fleet-upgrade-write-test.$$" why
  if ! why=$( { : >"$probe"; } 2>&1); then
    why=${why##*: } # the system's reason, e.g. "Operation not permitted"
    host_problem "state directory $STATE is not writable (${why:-unknown reason}): nothing was changed"
  fi
  rm -f "$probe"
}

validate_host_settings() {
  [[ $HEALTH_URL =~ ^https?://[A-Za-z0-9._:-]+(\[[0-9A-Fa-f:]+\](:[0-9]+)?)?(/[A-Za-z0-9._~/-]*)?$ ]] ||
    settings_problem "FLEET_HEALTH_URL is not a plain http(s) URL"
  HEALTH_URL=${HEALTH_URL%/}
  [[ $DOCKER =~ ^[A-Za-z0-9._/+-]+$ ]] || settings_problem "FLEET_DOCKER must be a command name or path"
  [[ $HEALTH_TIMEOUT =~ ^[0-9]{1,5}$ ]] && ((HEALTH_TIMEOUT >= 1)) ||
    settings_problem "FLEET_HEALTH_TIMEOUT must be whole seconds >= 1"
  [[ $HEALTH_INTERVAL =~ ^[0-9]{1,3}(\.[0-9]{1,3})?$ ]] || settings_problem "FLEET_HEALTH_INTERVAL must be seconds"
  [[ $LOCK_TIMEOUT =~ ^[0-9]{1,5}$ ]] || settings_problem "FLEET_LOCK_TIMEOUT must be whole seconds"
  [[ -z $HOST_NAME || $HOST_NAME =~ ^[A-Za-z0-9._-]{1,253}$ ]] || settings_problem "FLEET_HOST_NAME is not a host name"
  local p
  read -r -a STATE_PATH_LIST <<<"$STATE_PATHS" || true
  for p in "${STATE_PATH_LIST[@]+"${STATE_PATH_LIST[@]}"}"; do
    is_state_path "$p" || settings_problem "FLEET_STATE_PATHS: $(quote_value "$p") is not a relative path of letters, digits, '.', '_', '-'"
  done
  is_count "$SNAPSHOT_KEEP" || settings_problem "FLEET_SNAPSHOT_KEEP must be a whole number 1..1000"
  is_bytes "$SNAPSHOT_BUDGET_BYTES" || settings_problem "FLEET_SNAPSHOT_BUDGET_BYTES must be a whole number of bytes"
  [[ -z $SNAPSHOT_FREE_BYTES ]] || is_bytes "$SNAPSHOT_FREE_BYTES" || settings_problem "FLEET_SNAPSHOT_FREE_BYTES must be a whole number of bytes"
}

# A state path stays inside ROOT: no leading '/', no '..' part, no shell-special characters.
is_state_path() {
  [[ $1 =~ ^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$ ]] || return 1
  [[ /$1/ != */../* && /$1/ != */./* ]]
}
is_count() { [[ $1 =~ ^[0-9]{1,4}$ ]] && (($1 >= 1 && $1 <= 1000)); }
is_bytes() { [[ $1 =~ ^[0-9]{1,15}$ ]]; }
is_snapshot_id() { [[ $1 =~ ^[0-9]{13}-[0-9]{1,10}$ ]]; }

# ---------------------------------------------------------------------------------------------
# The host: git checkout, compose, HTTP endpoints, recorded state
# ---------------------------------------------------------------------------------------------
checkout_dir() { printf '%s/openclaw' "$ROOT"; }

git_oc() { git -C "$(checkout_dir)" "$@"; }

# Compose runs in the checkout (its compose file and .env). fd 9 (the lock) is closed for it so
# that containers or daemons it starts can never keep holding the upgrade lock.
compose() {
  (cd "$(checkout_dir)" && FLEET_ROOT="$ROOT" "$DOCKER" compose "$@" 9>&-) >&2
}

service_tag_on_disk() {
  local env_file
  env_file="$(checkout_dir)/.env"
  [[ -f $env_file ]] || return 0
  sed -n 's/^RUNTIME_SERVICE_TAG=//p' "$env_file" | tail -n 1
}

openclaw_tag_on_disk() {
  git_oc describe --tags --exact-match HEAD 2>/dev/null || true
}

# Rewrites RUNTIME_SERVICE_TAG in place (other lines kept), atomically via rename.
set_service_tag() {
  local tag=$1 env_file tmp
  env_file="$(checkout_dir)/.env"
  tmp="$env_file.fleet-upgrade.$$"
  if [[ -f $env_file ]]; then
    awk -v line="RUNTIME_SERVICE_TAG=$tag" '
      /^RUNTIME_SERVICE_TAG=/ { if (!done) print line; done = 1; next }
      { print }
      END { if (!done) print line }' "$env_file" >"$tmp" || { rm -f "$tmp"; return 1; }
  else
    printf 'RUNTIME_SERVICE_TAG=%s\n' "$tag" >"$tmp" || return 1
  fi
  mv -f "$tmp" "$env_file"
}

tag_exists() { git_oc rev-parse -q --verify "refs/tags/$1^{commit}" >/dev/null 2>&1; }

checkout_tag() { git_oc checkout --quiet --force "refs/tags/$1" 2>&1 | sed 's/^/git: /' >&2; }

# One probe of /health: true on HTTP 200.
probe_health() {
  local code
  code=$(curl -sS -o /dev/null -m 3 -w '%{http_code}' "$HEALTH_URL/health" 2>/dev/null) || code=000
  [[ $code == 200 ]]
}

# Polls /health until it answers 200, for at most $1 seconds.
wait_healthy() {
  local timeout=$1 deadline
  deadline=$(($(now_ms) + timeout * 1000))
  while true; do
    probe_health && return 0
    (($(now_ms) >= deadline)) && return 1
    sleep "$HEALTH_INTERVAL"
  done
}

# Prints "openclaw<TAB>runtimeService" as reported by /version (empty fields when unknown).
reported_versions() {
  local body
  body=$(curl -fsS -m 5 "$HEALTH_URL/version" 2>/dev/null) || body='{}'
  jq -r '[(.openclaw // "" | tostring), (.runtimeService // "" | tostring)] | @tsv' <<<"$body" 2>/dev/null ||
    printf '\t\n'
}

serves_versions() {
  local oc rs
  IFS=$'\t' read -r oc rs < <(reported_versions) || true
  if [[ $oc == "$1" && $rs == "$2" ]]; then return 0; fi
  LAST_REPORTED="${oc:-?}/${rs:-?}"
  return 1
}

# OpenClaw's own updater (update.auto in its openclaw.json, the first state path holding it): a
# fleet host has one updater, this script, so "true" there is reported.
openclaw_auto_update() {
  local p
  for p in "${STATE_PATH_LIST[@]+"${STATE_PATH_LIST[@]}"}"; do
    [[ $p == */openclaw.json || $p == openclaw.json ]] || continue
    [[ -f $ROOT/$p ]] || continue
    jq -r 'if .update.auto == true or .update.auto.enabled == true then "true" else "false" end' "$ROOT/$p" 2>/dev/null || true
    return 0
  done
}

# The image digest the runtime service runs (compose's image ID), not its tag: a tag can move.
running_digest() {
  local out
  out=$(cd "$(checkout_dir)" && FLEET_ROOT="$ROOT" "$DOCKER" compose images --format json 9>&- 2>/dev/null) || return 0
  jq -r 'if type == "array" then (.[0].ID // "") else (.ID // "") end | select(test("^sha256:[0-9a-f]{64}$"))' <<<"$out" 2>/dev/null | head -n 1 || true
}

recorded_digest() {
  jq -r '.digest // ""' "$STATE/current.json" 2>/dev/null || true
}

write_current() {
  local tmp="$STATE/current.json.$$"
  jq -cn --arg oc "$1" --arg rs "$2" --arg d "${3:-}" --arg at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    '{openclaw: $oc, runtimeService: $rs, updatedAt: $at} + (if $d == "" then {} else {digest: $d} end)' >"$tmp"
  mv -f "$tmp" "$STATE/current.json"
}

# Versions in place: current.json (written after each verified change), else what is on disk.
read_current() {
  local oc="" rs=""
  if [[ -f $STATE/current.json ]]; then
    IFS=$'\t' read -r oc rs < <(jq -r '[(.openclaw // ""), (.runtimeService // "")] | @tsv' \
      "$STATE/current.json" 2>/dev/null || printf '\t\n') || true
  fi
  is_release_tag "$oc" || oc=$(openclaw_tag_on_disk)
  is_release_tag "$rs" || rs=$(service_tag_on_disk)
  is_release_tag "$oc" || oc=""
  is_release_tag "$rs" || rs=""
  CURRENT_OC=$oc
  CURRENT_RS=$rs
}

# ---------------------------------------------------------------------------------------------
# Lock: one run at a time per host. fd 9 stays open for the whole run.
# ---------------------------------------------------------------------------------------------
take_lock() {
  exec 9>>"$STATE/lock"
  if ! flock -w "$LOCK_TIMEOUT" 9; then
    return 1
  fi
}

# ---------------------------------------------------------------------------------------------
# Snapshots of the customer's state: state/snapshots/ID/{manifest.json,tree/}. Taken while the
# old runtime is stopped (after compose down, before the new release starts), so nothing writes
# to the state during the copy, no extra downtime is added, and the state is still exactly what
# the old version left. A snapshot is written to .partial-ID and renamed once complete and
# checked: a half-copied snapshot never looks like one.
# ---------------------------------------------------------------------------------------------
SNAP_DIR="" SNAP_ID="" SNAP_JSON=null RESTORE_ID="" RESTORED_JSON=null SNAPSHOT_REFUSAL="" DIGEST=""
digest_json() { if [[ -n $DIGEST ]]; then jq -cn --arg d "$DIGEST" '$d'; else printf 'null'; fi; }

# The configured state paths that exist (missing ones are recorded as absent, not an error).
present_state_paths() {
  local p
  PRESENT_PATHS=()
  for p in "${STATE_PATH_LIST[@]+"${STATE_PATH_LIST[@]}"}"; do
    [[ -e $ROOT/$p || -L $ROOT/$p ]] && PRESENT_PATHS+=("$p")
  done
  return 0
}

# sha256 over the sorted list of "sha256  path" of every file under the given paths in dir $1:
# the same tree gives the same checksum wherever it lies.
tree_checksum() {
  local dir=$1
  shift
  (($# > 0)) || { printf 'empty'; return 0; }
  (cd "$dir" && find "$@" \( -type f -o -type l \) -print0 | sort -z | xargs -0r sha256sum | sha256sum | cut -d' ' -f1)
}

state_bytes() {
  present_state_paths
  ((${#PRESENT_PATHS[@]} > 0)) || { printf '0'; return 0; }
  (cd "$ROOT" && du -scb --apparent-size "${PRESENT_PATHS[@]}" | tail -n 1 | cut -f1)
}

free_bytes() {
  local avail
  avail=$(df --output=avail -B1 "$SNAP_DIR" 2>/dev/null | tail -n 1 | tr -d ' ') || avail=0
  [[ $avail =~ ^[0-9]+$ ]] || avail=0
  if [[ -n $SNAPSHOT_FREE_BYTES ]] && ((SNAPSHOT_FREE_BYTES < avail)); then avail=$SNAPSHOT_FREE_BYTES; fi
  printf '%s' "$avail"
}

# Snapshot ids, oldest first (ids start with their creation time in ms, all 13 digits).
snapshot_ids() {
  local d
  for d in "$SNAP_DIR"/*/manifest.json; do
    [[ -f $d ]] || continue
    d=${d%/manifest.json}
    if is_snapshot_id "${d##*/}"; then printf '%s\n' "${d##*/}"; fi
  done | sort
}

snapshot_bytes() { jq -r '.bytes // 0' "$SNAP_DIR/$1/manifest.json" 2>/dev/null || printf '0'; }

# Refuses (before anything changes) a snapshot that cannot fit the budget or the disk.
check_snapshot_space() {
  local need free
  mkdir -p "$SNAP_DIR" 2>/dev/null || { SNAPSHOT_REFUSAL="snapshot directory $SNAP_DIR cannot be created"; return 1; }
  need=$(state_bytes)
  if ((need > SNAPSHOT_BUDGET_BYTES)); then
    SNAPSHOT_REFUSAL="snapshot refused: the state takes $need bytes, more than the snapshot budget of $SNAPSHOT_BUDGET_BYTES bytes"
    return 1
  fi
  free=$(free_bytes)
  if ((need > free)); then
    SNAPSHOT_REFUSAL="snapshot refused: disk full: the state takes $need bytes and $SNAP_DIR has $free bytes free"
    return 1
  fi
}

# Copies the state paths into a new snapshot recorded as belonging to versions $1/$2.
take_snapshot() {
  local oc=$1 rs=$2 id partial sum copied bytes why
  id="$(now_ms)-$$"
  partial="$SNAP_DIR/.partial-$id"
  present_state_paths
  rm -rf "$partial"
  if ! why=$( { mkdir -p "$partial/tree" && { ((${#PRESENT_PATHS[@]} == 0)) || (cd "$ROOT" && cp -a --parents "${PRESENT_PATHS[@]}" "$partial/tree/"); }; } 2>&1); then
    rm -rf "$partial"
    FAIL_REASON="snapshot failed: ${why##*: }"
    return 1
  fi
  sum=$(tree_checksum "$ROOT" "${PRESENT_PATHS[@]+"${PRESENT_PATHS[@]}"}")
  copied=$(tree_checksum "$partial/tree" "${PRESENT_PATHS[@]+"${PRESENT_PATHS[@]}"}")
  if [[ $sum != "$copied" ]]; then
    rm -rf "$partial"
    FAIL_REASON="snapshot failed: the copy does not match the state (checksum)"
    return 1
  fi
  bytes=$(state_bytes)
  if ! jq -cn --arg id "$id" --arg oc "$oc" --arg rs "$rs" --arg toc "$TO_OC" --arg trs "$TO_RS" \
    --arg at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson bytes "$bytes" --arg sum "$sum" \
    --argjson paths "$(printf '%s\n' "${STATE_PATH_LIST[@]+"${STATE_PATH_LIST[@]}"}" | jq -R . | jq -cs .)" \
    --argjson present "$(printf '%s\n' "${PRESENT_PATHS[@]+"${PRESENT_PATHS[@]}"}" | jq -R 'select(. != "")' | jq -cs .)" \
    '{id: $id, createdAt: $at, versions: {openclaw: $oc, runtimeService: $rs}, takenBefore: {openclaw: $toc, runtimeService: $trs},
      paths: $paths, present: $present, bytes: $bytes, checksum: $sum}' >"$partial/manifest.json" 2>/dev/null ||
    ! mv "$partial" "$SNAP_DIR/$id"; then
    rm -rf "$partial"
    FAIL_REASON="snapshot failed: could not write its manifest"
    return 1
  fi
  SNAP_ID=$id
  SNAP_JSON=$(jq -c '{id, versions, bytes, checksum}' "$SNAP_DIR/$id/manifest.json")
  log "snapshot $id of the state of $oc/$rs: $bytes bytes, sha256 $sum"
}

# Puts snapshot $1 back in place of the state paths, then checks the tree against its manifest.
restore_snapshot() {
  local id=$1 dir="$SNAP_DIR/$1" want got p present=()
  [[ -f $dir/manifest.json ]] || { RESTORE_PROBLEM="snapshot $id is missing"; return 1; }
  want=$(jq -r '.checksum' "$dir/manifest.json")
  mapfile -t present < <(jq -r '.present[]' "$dir/manifest.json")
  for p in "${present[@]+"${present[@]}"}"; do is_state_path "$p" || { RESTORE_PROBLEM="snapshot $id names a bad path"; return 1; }; done
  got=$(tree_checksum "$dir/tree" "${present[@]+"${present[@]}"}")
  [[ $got == "$want" ]] || { RESTORE_PROBLEM="snapshot $id is damaged (checksum $got, manifest $want)"; return 1; }
  for p in "${STATE_PATH_LIST[@]+"${STATE_PATH_LIST[@]}"}" "${present[@]+"${present[@]}"}"; do rm -rf "${ROOT:?}/$p"; done
  if ((${#present[@]} > 0)); then
    (cd "$dir/tree" && cp -a --parents "${present[@]}" "$ROOT/") || { RESTORE_PROBLEM="copying snapshot $id back failed"; return 1; }
  fi
  got=$(tree_checksum "$ROOT" "${present[@]+"${present[@]}"}")
  [[ $got == "$want" ]] || { RESTORE_PROBLEM="restored state does not match snapshot $id (checksum $got, manifest $want)"; return 1; }
  RESTORED_JSON=$(jq -c '{snapshot: .id, versions, checksum, verified: true}' "$dir/manifest.json")
  log "restored snapshot $id (sha256 $want)"
}

# Keeps the newest SNAPSHOT_KEEP snapshots, then drops the oldest until the budget holds. The
# snapshot just taken ($1) is never dropped: it is the way back of this run.
prune_snapshots() {
  local keep_id=$1 ids=() total=0 id i
  mapfile -t ids < <(snapshot_ids)
  rm -rf "$SNAP_DIR"/.partial-* 2>/dev/null || true
  while ((${#ids[@]} > SNAPSHOT_KEEP)); do
    [[ ${ids[0]} == "$keep_id" ]] && break
    log "pruning snapshot ${ids[0]} (keeping $SNAPSHOT_KEEP)"
    rm -rf "${SNAP_DIR:?}/${ids[0]}"
    ids=("${ids[@]:1}")
  done
  for id in "${ids[@]+"${ids[@]}"}"; do total=$((total + $(snapshot_bytes "$id"))); done
  i=0
  while ((total > SNAPSHOT_BUDGET_BYTES && i < ${#ids[@]})); do
    id=${ids[$i]}
    i=$((i + 1))
    [[ $id == "$keep_id" ]] && continue
    log "pruning snapshot $id (budget $SNAPSHOT_BUDGET_BYTES bytes)"
    total=$((total - $(snapshot_bytes "$id")))
    rm -rf "${SNAP_DIR:?}/$id"
  done
}

# The newest snapshot of the state of versions $1/$2, if any.
snapshot_for() {
  local ids=() n
  mapfile -t ids < <(snapshot_ids)
  for ((n = ${#ids[@]} - 1; n >= 0; n--)); do
    if jq -e --arg oc "$1" --arg rs "$2" '.versions.openclaw == $oc and .versions.runtimeService == $rs' \
      "$SNAP_DIR/${ids[$n]}/manifest.json" >/dev/null 2>&1; then
      printf '%s' "${ids[$n]}"
      return 0
    fi
  done
}

# Releases whose tree carries .fleet/migrating (they rewrite the state on start) and that lie
# after $1 up to and including $2: going back from $2 to $1 crosses them. sort -V orders tags.
migrating_between() {
  local lo=$1 hi=$2 tag
  git_oc tag -l 'v*' | while IFS= read -r tag; do
    is_release_tag "$tag" || continue
    [[ $(printf '%s\n%s\n' "$lo" "$tag" | sort -V | tail -n 1) == "$tag" && $tag != "$lo" ]] || continue
    [[ $(printf '%s\n%s\n' "$tag" "$hi" | sort -V | tail -n 1) == "$hi" ]] || continue
    if git_oc cat-file -e "refs/tags/$tag:.fleet/migrating" 2>/dev/null; then printf '%s\n' "$tag"; fi
  done | sort -V | paste -sd, -
}

# ---------------------------------------------------------------------------------------------
# upgrade
# ---------------------------------------------------------------------------------------------
FROM_OC="" FROM_RS="" TO_OC="" TO_RS="" FROM_DIGEST=""
STAGE=none # none -> files (checkout/.env changed) -> services (compose down was attempted)
STARTED_MS=0
LAST_REPORTED=""
ACTION=upgrade

# Builds the result line, appends it to state/upgrade.log (except noop), prints it, exits.
finish() {
  local status=$1 error=${2:-} finished line log_line code=1
  finished=$(now_ms)
  # id: unique per attempt, so whoever records this result (hook, agent) records it once.
  line=$(jq -cn --arg s "$status" --argjson from "$(versions_json "$FROM_OC" "$FROM_RS")" \
    --argjson to "$(versions_json "$TO_OC" "$TO_RS")" --argjson d "$((finished - STARTED_MS))" \
    --arg e "$error" --arg h "$(host_label)" --arg id "$(host_label)-$STARTED_MS-$$" --argjson fi "$finished" \
    --argjson snap "${SNAP_JSON:-null}" --argjson restored "${RESTORED_JSON:-null}" --argjson digest "$(digest_json)" \
    '{id: $id, status: $s, from: $from, to: $to, durationMs: $d, error: (if $e == "" then null else $e end), host: $h, completedAt: $fi}
      + (if $snap == null then {} else {snapshot: $snap} end) + (if $restored == null then {} else {restored: $restored} end)
      + (if $digest == null then {} else {digest: $digest} end)')
  if [[ $status == noop ]]; then
    # A caller that died mid-run (a killed `pulumi up`) never saw the result of the run that did
    # the work; a later noop hands it over so the record is not lost.
    local last
    last=$(last_result_for "$TO_OC" "$TO_RS")
    [[ -n $last ]] && line=$(jq -c --argjson last "$last" '. + {last: $last}' <<<"$line")
  fi
  if [[ $status != noop ]]; then
    # The log line carries what stdout does not need: which action, and when it ran.
    log_line=$(jq -c --arg a "$ACTION" --argjson st "$STARTED_MS" --argjson fi "$finished" \
      '. + {action: $a, startedAt: $st, finishedAt: $fi}' <<<"$line")
    printf '%s\n' "$log_line" >>"$STATE/upgrade.log" || log "could not append to state/upgrade.log"
  fi
  if [[ $status == success || $status == noop ]]; then
    code=0
    # What the runtime reports now (/version): the deploy reads the versions back itself, so no
    # second command (and SSH connection) per runtime is needed to export them.
    local rep_oc rep_rs
    IFS=$'\t' read -r rep_oc rep_rs < <(reported_versions) || true
    line=$(jq -c --argjson r "$(versions_json "$rep_oc" "$rep_rs")" '. + {reported: $r}' <<<"$line")
  fi
  if [[ -n $SNAP_ID ]]; then prune_snapshots "$SNAP_ID"; fi
  log "result: $status${error:+ ($error)}"
  emit_json "$line"
  exit "$code"
}

# The newest upgrade.log entry that moved this host to openclaw $1 / runtime service $2, if the
# host still runs what it installed (nothing else in the log after it).
last_result_for() {
  [[ -f $STATE/upgrade.log ]] || return 0
  tail -n 1 "$STATE/upgrade.log" | jq -c --arg oc "$1" --arg rs "$2" \
    'select(.action == "upgrade" and .status == "success" and .to.openclaw == $oc and .to.runtimeService == $rs)' 2>/dev/null || true
}

# Moves the host to openclaw $1 / runtime service $2. Returns non-zero with FAIL_REASON set.
apply_versions() {
  local oc=$1 rs=$2 timeout=$3
  STAGE=files
  checkout_tag "$oc" || { FAIL_REASON="git checkout of $oc failed"; return 1; }
  set_service_tag "$rs" || { FAIL_REASON="could not write RUNTIME_SERVICE_TAG"; return 1; }
  log "pulling images for runtime service $rs"
  compose pull || { FAIL_REASON="compose pull failed (runtime service $rs)"; return 1; }
  STAGE=services
  log "restarting services"
  compose down || { FAIL_REASON="compose down failed"; return 1; }
  # The old runtime is stopped: its state is at rest, still exactly what it left.
  take_snapshot "$FROM_OC" "$FROM_RS" || return 1
  if [[ -n $RESTORE_ID ]]; then
    RESTORE_PROBLEM=""
    restore_snapshot "$RESTORE_ID" || { FAIL_REASON="restoring snapshot $RESTORE_ID failed: $RESTORE_PROBLEM"; return 1; }
  fi
  compose up -d || { FAIL_REASON="compose up -d failed"; return 1; }
  verify_serving "$oc" "$rs" "$timeout"
}

verify_serving() {
  local oc=$1 rs=$2 timeout=$3
  log "waiting up to ${timeout}s for $HEALTH_URL/health"
  wait_healthy "$timeout" || { FAIL_REASON="not healthy within ${timeout}s"; return 1; }
  serves_versions "$oc" "$rs" || { FAIL_REASON="/version reports $LAST_REPORTED, expected $oc/$rs"; return 1; }
}

# Puts the previous versions back. When compose was never touched the old services are still
# running: restoring the files is enough (and a failing registry cannot block the restore).
restore_previous() {
  local timeout=$1
  [[ -n $FROM_OC && -n $FROM_RS ]] || { log "previous versions unknown: cannot restore"; return 1; }
  log "restoring $FROM_OC / $FROM_RS"
  checkout_tag "$FROM_OC" || return 1
  set_service_tag "$FROM_RS" || return 1
  if [[ $STAGE == services ]]; then
    compose pull || log "pull failed during restore; relying on local images"
    compose down || log "compose down failed during restore"
    # The new release may have rewritten the state: the old version gets its own state back.
    if [[ -n $SNAP_ID ]]; then
      RESTORE_PROBLEM=""
      restore_snapshot "$SNAP_ID" || { log "state not restored: $RESTORE_PROBLEM"; RESTORE_FAILED=$RESTORE_PROBLEM; return 1; }
    fi
    compose up -d || return 1
  fi
  local FAIL_REASON=""
  verify_serving "$FROM_OC" "$FROM_RS" "$timeout" || { log "restore not verified: $FAIL_REASON"; return 1; }
  # Verified by what runs, not the tag: the image must be the one recorded before the upgrade.
  DIGEST=$(running_digest)
  if [[ -n $FROM_DIGEST && -n $DIGEST && $DIGEST != "$FROM_DIGEST" ]]; then
    RESTORE_FAILED="runtime service $FROM_RS now runs image $DIGEST, not the recorded $FROM_DIGEST (drift)"
    log "restore not verified: $RESTORE_FAILED"
    return 1
  fi
}

# The failure path shared by errors and signals: restore if anything changed, then report.
fail_upgrade() {
  local reason=$1 timeout=$2
  log "upgrade failed: $reason"
  if [[ $STAGE == none ]]; then finish failed "$reason"; fi
  if [[ $FROM_OC == "$TO_OC" && $FROM_RS == "$TO_RS" ]]; then
    finish failed "$reason (redeploy of the same versions; nothing to roll back to)"
  fi
  RESTORE_FAILED=""
  if restore_previous "$timeout"; then
    write_current "$FROM_OC" "$FROM_RS" "$DIGEST"
    finish rolled_back "$reason"
  fi
  # Neither version is verified: derive the versions from disk on the next run.
  rm -f "$STATE/current.json"
  finish failed "$reason; restoring $FROM_OC/$FROM_RS also failed${RESTORE_FAILED:+ ($RESTORE_FAILED)}"
}

parse_upgrade_args() {
  local from_stdin=0 keep="" budget=""
  HEALTH_TIMEOUT_ARG=""
  while (($# > 0)); do
    case $1 in
      --openclaw) (($# >= 2)) || bad_input "--openclaw needs a value"; TO_OC=$2; shift 2 ;;
      --runtime-service) (($# >= 2)) || bad_input "--runtime-service needs a value"; TO_RS=$2; shift 2 ;;
      --health-timeout) (($# >= 2)) || bad_input "--health-timeout needs a value"; HEALTH_TIMEOUT_ARG=$2; shift 2 ;;
      --stdin) from_stdin=1; shift ;;
      *) bad_input "unknown argument $(quote_value "$1")" ;;
    esac
  done
  if ((from_stdin)); then
    [[ -z $TO_OC && -z $TO_RS ]] || bad_input "--stdin excludes --openclaw/--runtime-service"
    # Read raw and parsed once by jq: a shell variable would drop NUL bytes, and jq reading
    # documents would take two concatenated objects as two inputs. Exactly one object passes.
    local verdict problem
    # jq -R drops a trailing NUL, so NUL becomes SOH first: any control byte is refused.
    verdict=$(head -c 65537 | tr '\000' '\001' | jq -Rrs '
      if utf8bytelength > 65536 then "bad\tis larger than 64 KiB"
      elif test("[\u0000-\u0008\u000b\u000c\u000e-\u001f]") then "bad\tholds a NUL byte or another control character"
      else [try fromjson catch empty] as $docs | $docs[0] as $doc
        | if ($docs | length) != 1 then "bad\tis not exactly one JSON document"
          elif ($doc | type) != "object" then "bad\tis not a JSON object"
          elif ($doc.openclaw | type) != "string" or ($doc.runtimeService | type) != "string"
            then "bad\tneeds the strings openclaw and runtimeService"
          elif [$doc.openclaw, $doc.runtimeService] | all(length >= 1 and length <= 100 and (test("[^!-~]") | not)) | not
            then "bad\thas a version that is empty, too long or not printable ASCII"
          elif ($doc | keys - ["openclaw", "runtimeService", "restoreSnapshot", "snapshots"]) != []
            then "bad\thas unknown fields \($doc | keys - ["openclaw", "runtimeService", "restoreSnapshot", "snapshots"] | join(", ") | .[0:100])"
          elif $doc.restoreSnapshot != null and (($doc.restoreSnapshot | type) != "string" or ($doc.restoreSnapshot | test("^[0-9]{13}-[0-9]{1,10}$") | not))
            then "bad\thas a restoreSnapshot that is not a snapshot id (expected MILLISECONDS-PID)"
          elif $doc.snapshots != null and (($doc.snapshots | type) != "object" or ($doc.snapshots | keys - ["keep", "budgetBytes"]) != []
              or ([$doc.snapshots.keep, $doc.snapshots.budgetBytes] | map(select(. != null)) | all(type == "number" and . == floor and . >= 0 and . < 1e15) | not)
              or (($doc.snapshots.keep // 1) | . < 1 or . > 1000))
            then "bad\thas snapshots that is not {keep: 1..1000, budgetBytes: whole bytes}"
          else ["ok", $doc.openclaw, $doc.runtimeService, ($doc.restoreSnapshot // ""), ($doc.snapshots.keep // "" | tostring),
            ($doc.snapshots.budgetBytes // "" | tostring)] | join("\u001f") end
      end' 2>/dev/null) || verdict=$'bad\tcould not be read'
    local keep budget
    # Unit separators, not tabs: empty fields must not collapse.
    problem=bad
    if [[ $verdict == ok$'\x1f'* ]]; then IFS=$'\x1f' read -r problem TO_OC TO_RS RESTORE_ID keep budget <<<"$verdict" || true; fi
    if [[ $problem != ok ]]; then
      TO_OC="" TO_RS="" RESTORE_ID=""
      bad_input "stdin must be exactly one JSON object {\"openclaw\":\"vX.Y.Z\",\"runtimeService\":\"vX.Y.Z\"}: it ${verdict#bad$'\t'}"
    fi
  fi
  # The stack's snapshot policy, when the caller sends it, wins over the host's defaults.
  if ((from_stdin)); then
    if [[ -n $keep ]]; then SNAPSHOT_KEEP=$keep; fi
    if [[ -n $budget ]]; then SNAPSHOT_BUDGET_BYTES=$budget; fi
  fi
  [[ -n $TO_OC ]] || bad_input "missing --openclaw"
  [[ -n $TO_RS ]] || bad_input "missing --runtime-service"
  is_release_tag "$TO_OC" || bad_input "openclaw: $(quote_value "$TO_OC") is not a release tag (expected vMAJOR.MINOR.PATCH)"
  is_release_tag "$TO_RS" || bad_input "runtimeService: $(quote_value "$TO_RS") is not a release tag (expected vMAJOR.MINOR.PATCH)"
  apply_health_timeout_arg
}

cmd_upgrade() {
  parse_upgrade_args "$@"
  STARTED_MS=$(now_ms)
  # A dropped SSH session must not stop an upgrade halfway; TERM/INT restore, then report.
  # A closed pipe (the caller gone) must not kill it either: writes just fail.
  trap '' HUP PIPE
  trap 'on_signal' TERM INT
  take_lock || finish failed "another fleet-upgrade run held state/lock for ${LOCK_TIMEOUT}s"
  STARTED_MS=$(now_ms) # the run starts once the lock is ours (upgrade.log shows no overlap)
  read_current
  FROM_OC=$CURRENT_OC
  FROM_RS=$CURRENT_RS
  FROM_DIGEST=$(recorded_digest)
  log "in place: ${FROM_OC:-unknown} / ${FROM_RS:-unknown}; target: $TO_OC / $TO_RS"

  if [[ $FROM_OC == "$TO_OC" && $FROM_RS == "$TO_RS" ]] && probe_health && serves_versions "$TO_OC" "$TO_RS"; then
    finish noop ""
  fi

  # Everything that can be checked is checked before the host is touched.
  git_oc fetch --quiet --tags origin 2>&1 | sed 's/^/git: /' >&2 || log "git fetch failed; using local tags"
  tag_exists "$TO_OC" || finish failed "openclaw release $TO_OC not found (no tag refs/tags/$TO_OC)"
  if [[ -n $FROM_OC ]] && ! tag_exists "$FROM_OC"; then
    finish failed "the release in place ($FROM_OC) has no tag: refusing to upgrade without a way back"
  fi
  check_way_back
  check_snapshot_space || finish failed "$SNAPSHOT_REFUSAL: nothing was changed"

  FAIL_REASON=""
  if apply_versions "$TO_OC" "$TO_RS" "$HEALTH_TIMEOUT"; then
    DIGEST=$(running_digest)
    write_current "$TO_OC" "$TO_RS" "$DIGEST"
    finish success ""
  fi
  fail_upgrade "$FAIL_REASON" "$HEALTH_TIMEOUT"
}

# Going back across a release that migrates the state needs the state from before it: the
# snapshot taken of the target versions (or the one named on stdin). Without it, refused.
check_way_back() {
  local crossed="" named=$RESTORE_ID
  if [[ -n $named ]]; then
    [[ -f $SNAP_DIR/$named/manifest.json ]] || finish failed "snapshot $named (asked for by restoreSnapshot) is not on this host: nothing was changed"
    jq -e --arg oc "$TO_OC" --arg rs "$TO_RS" '.versions.openclaw == $oc and .versions.runtimeService == $rs' \
      "$SNAP_DIR/$named/manifest.json" >/dev/null 2>&1 ||
      finish failed "snapshot $named holds the state of $(jq -r '.versions | "\(.openclaw)/\(.runtimeService)"' "$SNAP_DIR/$named/manifest.json"), not of $TO_OC/$TO_RS: nothing was changed"
  fi
  [[ -n $FROM_OC && $FROM_OC != "$TO_OC" ]] || return 0
  [[ $(printf '%s\n%s\n' "$TO_OC" "$FROM_OC" | sort -V | tail -n 1) == "$FROM_OC" ]] || return 0
  crossed=$(migrating_between "$TO_OC" "$FROM_OC" || true)
  [[ -n $crossed ]] || return 0
  if [[ -z $RESTORE_ID ]]; then RESTORE_ID=$(snapshot_for "$TO_OC" "$TO_RS"); fi
  if [[ -z $RESTORE_ID ]]; then
    finish failed "rollback from $FROM_OC to $TO_OC crosses migrating release $crossed and the snapshot of the $TO_OC/$TO_RS state is missing on this host: nothing was changed"
  fi
  log "going back across migrating release $crossed: restoring snapshot $RESTORE_ID"
}

IN_SIGNAL=0
on_signal() {
  ((IN_SIGNAL)) && return # a second signal during the restore does not abort the restore
  IN_SIGNAL=1
  trap '' TERM INT
  fail_upgrade "interrupted by a signal" "$HEALTH_TIMEOUT"
}

# ---------------------------------------------------------------------------------------------
# status, restart, logs
# ---------------------------------------------------------------------------------------------
cmd_status() {
  (($# == 0)) || bad_input "status takes no arguments"
  local oc rs healthy=false reported='null' body
  read_current
  if probe_health; then healthy=true; fi
  if body=$(curl -fsS -m 5 "$HEALTH_URL/version" 2>/dev/null) && jq -e 'type == "object"' >/dev/null 2>&1 <<<"$body"; then
    reported=$(jq -c '{openclaw: (.openclaw // null), runtimeService: (.runtimeService // null)}' <<<"$body")
  fi
  oc=$CURRENT_OC rs=$CURRENT_RS
  local digest recorded auto
  digest=$(running_digest)
  recorded=$(recorded_digest)
  auto=$(openclaw_auto_update)
  # drift: the service runs another image than the one the last verified upgrade recorded.
  emit_json "$(jq -cn --arg oc "$oc" --arg rs "$rs" --argjson healthy "$healthy" --argjson reported "$reported" \
    --arg h "$(host_label)" --arg d "$digest" --arg rd "$recorded" --arg auto "$auto" \
    '{openclaw: (if $oc == "" then null else $oc end), runtimeService: (if $rs == "" then null else $rs end),
      healthy: $healthy, reported: $reported, host: $h}
      + (if $d == "" then {} else {digest: $d} end)
      + (if $d != "" and $rd != "" and $d != $rd then {drift: {running: $d, recorded: $rd}} else {} end)
      + (if $auto == "true" then {autoUpdate: true} else {} end)')"
  [[ $healthy == true ]]
}

cmd_restart() {
  HEALTH_TIMEOUT_ARG=""
  while (($# > 0)); do
    case $1 in
      --health-timeout) (($# >= 2)) || bad_input "--health-timeout needs a value"; HEALTH_TIMEOUT_ARG=$2; shift 2 ;;
      *) bad_input "unknown argument $(quote_value "$1")" ;;
    esac
  done
  apply_health_timeout_arg
  ACTION=restart
  STARTED_MS=$(now_ms)
  trap '' HUP
  take_lock || finish failed "another fleet-upgrade run held state/lock for ${LOCK_TIMEOUT}s"
  STARTED_MS=$(now_ms)
  read_current
  FROM_OC=$CURRENT_OC FROM_RS=$CURRENT_RS TO_OC=$CURRENT_OC TO_RS=$CURRENT_RS
  compose down || finish failed "compose down failed"
  compose up -d || finish failed "compose up -d failed"
  wait_healthy "$HEALTH_TIMEOUT" || finish failed "not healthy within ${HEALTH_TIMEOUT}s after restart"
  finish success ""
}

# The snapshots on this host, oldest first: one JSON line {snapshots: [manifest...]}.
cmd_snapshots() {
  (($# == 0)) || bad_input "snapshots takes no arguments"
  local id list=()
  while IFS= read -r id; do
    [[ -n $id ]] && list+=("$SNAP_DIR/$id/manifest.json")
  done < <(snapshot_ids)
  if ((${#list[@]} == 0)); then
    emit_json "$(jq -cn --arg h "$(host_label)" '{snapshots: [], host: $h}')"
  else
    emit_json "$(jq -cs --arg h "$(host_label)" '{snapshots: ., host: $h}' "${list[@]}")"
  fi
}

# Sets update.auto to false in OpenClaw's openclaw.json (created with only that key if absent),
# atomically, every other key kept. Run by cloud-init and the install command.
cmd_updater_off() {
  (($# == 0)) || bad_input "updater-off takes no arguments"
  local p file="" tmp
  for p in "${STATE_PATH_LIST[@]+"${STATE_PATH_LIST[@]}"}"; do
    if [[ $p == */openclaw.json || $p == openclaw.json ]]; then file=$ROOT/$p; break; fi
  done
  [[ -n $file ]] || host_problem "no openclaw.json among FLEET_STATE_PATHS: cannot turn OpenClaw's updater off"
  mkdir -p "$(dirname "$file")"
  tmp="$file.fleet-upgrade.$$"
  if [[ -f $file ]]; then
    jq '.update = ((.update // {}) | if type == "object" then . else {} end) + {auto: false}' "$file" >"$tmp" 2>/dev/null ||
      { rm -f "$tmp"; host_problem "$file is not JSON: OpenClaw's updater left as it is"; }
  else
    printf '{"update":{"auto":false}}\n' >"$tmp"
  fi
  mv -f "$tmp" "$file"
  emit_json "$(jq -cn --arg h "$(host_label)" '{updater: "off", host: $h}')"
}

cmd_logs() {
  local lines=200
  while (($# > 0)); do
    case $1 in
      --lines) (($# >= 2)) || bad_input "--lines needs a value"; lines=$2; shift 2 ;;
      *) bad_input "unknown argument $(quote_value "$1")" ;;
    esac
  done
  [[ $lines =~ ^[0-9]{1,5}$ ]] && ((lines >= 1 && lines <= 10000)) || bad_input "--lines must be an integer 1..10000"
  (cd "$(checkout_dir)" && FLEET_ROOT="$ROOT" "$DOCKER" compose logs --tail "$lines")
}

# ---------------------------------------------------------------------------------------------
# Safety net: whatever happens, exactly one JSON line leaves this script.
# ---------------------------------------------------------------------------------------------
ERR_LINE="" ERR_COMMAND=""
on_exit() {
  local code=$?
  if ((RESULT_EMITTED == 0)) && [[ ${SUBCOMMAND:-} != logs ]]; then
    if command -v jq >/dev/null 2>&1; then
      # The failing command is named: "internal error (exit 1)" alone tells an operator nothing.
      emit_failed "internal error (exit $code${ERR_LINE:+, line $ERR_LINE}${ERR_COMMAND:+: ${ERR_COMMAND:0:200}})"
    else
      emit_without_jq "internal error"
    fi
  fi
}

# A caller that goes away mid-run (a killed `pulumi up`, a dropped SSH session) must not cut an
# upgrade in half: the work runs in its own session with its output going to files, and this
# process only relays it. TERM/INT still reach the worker (an explicit cancel restores, then
# reports); HUP and a closed pipe do not.
run_detached() {
  local run_dir worker relay code=0 d
  for d in "$STATE"/run.*; do
    [[ -d $d ]] || continue
    if ! kill -0 "$(cat "$d/pid" 2>/dev/null || echo 0)" 2>/dev/null; then rm -rf "$d"; fi
  done
  run_dir=$(mktemp -d "$STATE/run.XXXXXX")
  : >"$run_dir/stdin"
  if [[ " $* " == *" --stdin "* ]]; then head -c 65537 >"$run_dir/stdin" || true; fi
  : >"$run_dir/err"
  FLEET_UPGRADE_DETACHED=1 setsid "$SELF" --root "$ROOT" "$@" <"$run_dir/stdin" >"$run_dir/out" 2>"$run_dir/err" &
  worker=$!
  printf '%s\n' "$worker" >"$run_dir/pid"
  trap '' HUP PIPE
  trap 'kill -TERM "$worker" 2>/dev/null || true' TERM INT
  tail -n +1 -s 0.2 -F --pid="$worker" "$run_dir/err" >&2 2>/dev/null &
  relay=$!
  while :; do
    code=0
    wait "$worker" || code=$?
    kill -0 "$worker" 2>/dev/null || break
  done
  wait "$relay" 2>/dev/null || true
  RESULT_EMITTED=1
  cat "$run_dir/out" || true
  rm -rf "$run_dir"
  exit "$code"
}

main() {
  trap on_exit EXIT
  trap 'ERR_LINE=$LINENO ERR_COMMAND=$BASH_COMMAND' ERR
  command -v jq >/dev/null 2>&1 || { emit_without_jq "jq is not installed on this host"; exit 1; }

  SELF=$(readlink -f "$0")
  ROOT="$(dirname "$SELF")/.."
  local args=() original=("$@")
  SUBCOMMAND=""
  while (($# > 0)); do
    case $1 in
      --root) (($# >= 2)) || bad_input "--root needs a value"; ROOT=$2; shift 2 ;;
      -h | --help) usage; RESULT_EMITTED=1; exit 0 ;;
      *)
        if [[ -z $SUBCOMMAND ]]; then SUBCOMMAND=$1; else args+=("$1"); fi
        shift
        ;;
    esac
  done
  [[ -d $ROOT/openclaw ]] || bad_input "no host root at $(quote_value "$ROOT") (expected openclaw/ inside)"
  ROOT=$(readlink -f "$ROOT")
  STATE="$ROOT/state"
  SNAP_DIR="$STATE/snapshots"
  mkdir -p "$STATE" 2>/dev/null || host_problem "state directory $STATE cannot be created"
  load_host_settings
  if [[ $SUBCOMMAND == upgrade || $SUBCOMMAND == restart ]]; then check_state_writable; fi

  if [[ ${FLEET_UPGRADE_DETACHED:-} != 1 && ( $SUBCOMMAND == upgrade || $SUBCOMMAND == restart ) ]]; then
    run_detached "${original[@]}"
  fi

  case $SUBCOMMAND in
    upgrade) cmd_upgrade "${args[@]+"${args[@]}"}" ;;
    status) cmd_status "${args[@]+"${args[@]}"}" ;;
    restart) cmd_restart "${args[@]+"${args[@]}"}" ;;
    logs) cmd_logs "${args[@]+"${args[@]}"}" ;;
    snapshots) cmd_snapshots "${args[@]+"${args[@]}"}" ;;
    updater-off) cmd_updater_off "${args[@]+"${args[@]}"}" ;;
    "") usage; bad_input "missing subcommand (upgrade, status, restart, logs, snapshots)" ;;
    *) bad_input "unknown subcommand $(quote_value "$SUBCOMMAND")" ;;
  esac
}

main "$@"
