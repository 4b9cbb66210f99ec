#!/usr/bin/env bash
# The install command of a runtime, run where `pulumi up` runs (a local command): copies the
# on-host script, and for agent runtimes the agent's bundle, to the host over SSH. The files go
# by path and digest, so a runtime's state holds their sha256, never their text; the host checks
# each copy against its digest before it replaces anything. Runs again only when a digest or the
# connection changes.
#
# stdin: the fleet's SSH private key (the command's only secret), loaded into a private
# ssh-agent for this run so it never lands in a file.
# Environment (set by components/runtime.ts, every value validated there):
#   FLEET_SSH_HOST FLEET_SSH_PORT FLEET_SSH_USER FLEET_SSH_DIAL_TIMEOUT [FLEET_SSH_HOST_KEY]
#   FLEET_SCRIPT_FILE FLEET_SCRIPT_INSTALL          the script, and the command that installs it
#   [FLEET_AGENT_FILE FLEET_AGENT_INSTALL]          the agent bundle (gzip), and its install
set -euo pipefail

for v in FLEET_SSH_HOST FLEET_SSH_PORT FLEET_SSH_USER FLEET_SSH_DIAL_TIMEOUT FLEET_SCRIPT_FILE FLEET_SCRIPT_INSTALL; do
  if [ -z "${!v:-}" ]; then echo "install-over-ssh: $v: missing" >&2; exit 2; fi
done

work=$(mktemp -d)
agent_pid=""
cleanup() {
  if [ -n "$agent_pid" ]; then kill "$agent_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

eval "$(ssh-agent -s -a "$work/agent.sock")" >/dev/null
agent_pid=$SSH_AGENT_PID
# The key as stored may lack its final newline, which ssh-add refuses; printf is a builtin, so
# the key never appears in a process's arguments.
key=$(cat)
if ! printf '%s\n' "$key" | ssh-add -q - 2>"$work/ssh-add.err"; then
  echo "install-over-ssh: the fleet's SSH private key could not be loaded ($(head -n1 "$work/ssh-add.err"))" >&2
  exit 1
fi
unset key

# Without a pinned host key the key is not checked (as the command provider does without hostKey).
check=(-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null)
if [ -n "${FLEET_SSH_HOST_KEY:-}" ]; then
  if [ "$FLEET_SSH_PORT" = 22 ]; then entry=$FLEET_SSH_HOST; else entry="[$FLEET_SSH_HOST]:$FLEET_SSH_PORT"; fi
  printf '%s %s\n' "$entry" "$FLEET_SSH_HOST_KEY" >"$work/known_hosts"
  check=(-o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$work/known_hosts")
fi

to_host() {
  # -F /dev/null: the user's ~/.ssh/config must not change where or how this connects.
  ssh -F /dev/null -p "$FLEET_SSH_PORT" -o BatchMode=yes -o "ConnectTimeout=$FLEET_SSH_DIAL_TIMEOUT" \
    -o ConnectionAttempts=3 -o LogLevel=ERROR "${check[@]}" -- "$FLEET_SSH_USER@$FLEET_SSH_HOST" "$1"
}

if [ -n "${FLEET_AGENT_FILE:-}" ]; then
  to_host "$FLEET_AGENT_INSTALL" <"$FLEET_AGENT_FILE" >/dev/null
fi
to_host "$FLEET_SCRIPT_INSTALL" <"$FLEET_SCRIPT_FILE"
