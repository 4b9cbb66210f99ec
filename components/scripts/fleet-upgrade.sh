#!/usr/bin/env bash
# fleet-upgrade: the one on-host upgrade script of Runtime Fleet.
#
# Used by the Pulumi deploy command (over SSH, versions on stdin) and by the self-upgrade agent.
# Installed at $ROOT/bin/fleet-upgrade; ROOT is derived from this file's location (or --root DIR).
#
#   fleet-upgrade upgrade --openclaw vX.Y.Z --runtime-service vX.Y.Z [--health-timeout S]
#   fleet-upgrade upgrade --stdin [--health-timeout S]   # {"openclaw":"v..","runtimeService":"v.."}
#   fleet-upgrade status
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

# A versions object, or null when either part is unknown.
versions_json() {
  jq -cn --arg oc "$1" --arg rs "$2" 'if $oc == "" or $rs == "" then null else {openclaw: $oc, runtimeService: $rs} end'
}

# Bad input: one JSON line, exit 2, nothing touched. The offending value is JSON-escaped by jq.
bad_input() {
  local message=$1
  if command -v jq >/dev/null 2>&1; then
    emit_json "$(jq -cn --arg e "$message" --arg h "$(host_label)" \
      '{status: "failed", from: null, to: null, durationMs: 0, error: $e, host: $h}')"
  else
    emit_without_jq "bad input"
  fi
  log "refused: $message"
  exit 2
}

quote_value() { jq -cn --arg v "${1:0:100}" '$v'; }

usage() {
  sed -n '5,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,3\}//' >&2
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
      *) ;; # other keys belong to other tools (the agent)
    esac
  done <"$file"
  validate_host_settings
}

# A broken fleet.env is a host problem, not bad input from the caller: exit 1.
settings_problem() {
  emit_json "$(jq -cn --arg e "etc/fleet.env: $1" --arg h "$(host_label)" \
    '{status: "failed", from: null, to: null, durationMs: 0, error: $e, host: $h}')"
  log "etc/fleet.env: $1"
  exit 1
}

# A host that cannot run an upgrade at all (before anything was touched): exit 1, the cause named.
host_problem() {
  emit_json "$(jq -cn --arg e "$1" --arg h "$(host_label)" \
    '{status: "failed", from: null, to: null, durationMs: 0, error: $e, host: $h}')"
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
}

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

write_current() {
  local tmp="$STATE/current.json.$$"
  jq -cn --arg oc "$1" --arg rs "$2" --arg at "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    '{openclaw: $oc, runtimeService: $rs, updatedAt: $at}' >"$tmp"
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
# upgrade
# ---------------------------------------------------------------------------------------------
FROM_OC="" FROM_RS="" TO_OC="" TO_RS=""
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
    '{id: $id, status: $s, from: $from, to: $to, durationMs: $d, error: (if $e == "" then null else $e end), host: $h, completedAt: $fi}')
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
  [[ $status == success || $status == noop ]] && code=0
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
    compose up -d || return 1
  fi
  local FAIL_REASON=""
  verify_serving "$FROM_OC" "$FROM_RS" "$timeout" || { log "restore not verified: $FAIL_REASON"; return 1; }
}

# The failure path shared by errors and signals: restore if anything changed, then report.
fail_upgrade() {
  local reason=$1 timeout=$2
  log "upgrade failed: $reason"
  if [[ $STAGE == none ]]; then finish failed "$reason"; fi
  if [[ $FROM_OC == "$TO_OC" && $FROM_RS == "$TO_RS" ]]; then
    finish failed "$reason (redeploy of the same versions; nothing to roll back to)"
  fi
  if restore_previous "$timeout"; then
    write_current "$FROM_OC" "$FROM_RS"
    finish rolled_back "$reason"
  fi
  # Neither version is verified: derive the versions from disk on the next run.
  rm -f "$STATE/current.json"
  finish failed "$reason; restoring $FROM_OC/$FROM_RS also failed"
}

parse_upgrade_args() {
  local from_stdin=0
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
          else "ok\t\($doc.openclaw)\t\($doc.runtimeService)" end
      end' 2>/dev/null) || verdict=$'bad\tcould not be read'
    IFS=$'\t' read -r problem TO_OC TO_RS <<<"$verdict" || true
    if [[ $problem != ok ]]; then
      TO_OC="" TO_RS=""
      bad_input "stdin must be exactly one JSON object {\"openclaw\":\"vX.Y.Z\",\"runtimeService\":\"vX.Y.Z\"}: it ${verdict#bad$'\t'}"
    fi
  fi
  [[ -n $TO_OC ]] || bad_input "missing --openclaw"
  [[ -n $TO_RS ]] || bad_input "missing --runtime-service"
  is_release_tag "$TO_OC" || bad_input "openclaw: $(quote_value "$TO_OC") is not a release tag (expected vMAJOR.MINOR.PATCH)"
  is_release_tag "$TO_RS" || bad_input "runtimeService: $(quote_value "$TO_RS") is not a release tag (expected vMAJOR.MINOR.PATCH)"
  if [[ -n $HEALTH_TIMEOUT_ARG ]]; then
    [[ $HEALTH_TIMEOUT_ARG =~ ^[0-9]{1,4}$ ]] && ((HEALTH_TIMEOUT_ARG >= 1 && HEALTH_TIMEOUT_ARG <= 3600)) ||
      bad_input "--health-timeout must be whole seconds 1..3600"
    HEALTH_TIMEOUT=$HEALTH_TIMEOUT_ARG
  fi
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

  FAIL_REASON=""
  if apply_versions "$TO_OC" "$TO_RS" "$HEALTH_TIMEOUT"; then
    write_current "$TO_OC" "$TO_RS"
    finish success ""
  fi
  fail_upgrade "$FAIL_REASON" "$HEALTH_TIMEOUT"
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
  emit_json "$(jq -cn --arg oc "$oc" --arg rs "$rs" --argjson healthy "$healthy" --argjson reported "$reported" \
    --arg h "$(host_label)" \
    '{openclaw: (if $oc == "" then null else $oc end), runtimeService: (if $rs == "" then null else $rs end),
      healthy: $healthy, reported: $reported, host: $h}')"
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
  if [[ -n $HEALTH_TIMEOUT_ARG ]]; then
    [[ $HEALTH_TIMEOUT_ARG =~ ^[0-9]{1,4}$ ]] && ((HEALTH_TIMEOUT_ARG >= 1 && HEALTH_TIMEOUT_ARG <= 3600)) ||
      bad_input "--health-timeout must be whole seconds 1..3600"
    HEALTH_TIMEOUT=$HEALTH_TIMEOUT_ARG
  fi
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
      emit_json "$(jq -cn --arg e "internal error (exit $code${ERR_LINE:+, line $ERR_LINE}${ERR_COMMAND:+: ${ERR_COMMAND:0:200}})" --arg h "$(host_label)" \
        '{status: "failed", from: null, to: null, durationMs: 0, error: $e, host: $h}')"
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
    "") usage; bad_input "missing subcommand (upgrade, status, restart, logs)" ;;
    *) bad_input "unknown subcommand $(quote_value "$SUBCOMMAND")" ;;
  esac
}

main "$@"
