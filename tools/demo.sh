#!/usr/bin/env bash
# `npm run demo`: the main job on the embedded default, no cloud account and no credentials.
# A 5-host lab fleet, `pulumi up` of its stack (local file backend, passphrase secrets), the fleet
# printed, then a canary rollout to v1.2.5 with `fleet status` before and after. The lab keeps
# running for you to explore; `npx fleet-lab down` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
step="start"
say() { step="$*"; printf '\n\033[1m== %s\033[0m\n' "$*"; }

# First, in seconds: every program the demo needs (as root on Debian the missing ones are
# installed with apt-get; otherwise it stops here with the one command to run).
say "prerequisites"
fleet-lab doctor --install || exit $?
# Any later failure: the failing command has said why; this names the step, without a stack trace.
on_error() {
  local code=$?
  printf 'demo: step "%s" failed (exit %s)\n' "$step" "$code" >&2
  exit "$code"
}
trap on_error ERR

say "Pulumi toolchain"
toolchain=$(bash tools/setup-pulumi.sh | tail -n 1)
export PATH="$toolchain:$PATH"
pulumi version

say "lab: 5 simulated hosts (real sshd and git on 127.0.0.11-15)"
fleet-lab down >/dev/null 2>&1 || true
fleet-lab up --hosts 5
eval "$(fleet-lab env)"
export FLEET_STORE_PATH="${FLEET_STORE_PATH:-$PWD/.fleet/store.db}"

say "fleet validate --stack lab"
fleet validate --stack lab

say "pulumi up --stack lab"
pulumi up --stack lab --yes --skip-preview --suppress-progress --color never | tail -n 8

say "the fleet, as the hosts serve it"
fleet-lab status

say "fleet health --stack lab (records what is seen)"
fleet health --stack lab || true

say "fleet status --stack lab (before)"
fleet status --stack lab

say "fleet plan --stack lab --to v1.2.5 --strategy canary"
fleet plan --stack lab --to v1.2.5 --strategy canary --batch 50% --wait 2s --bake 10s --no-preview

say "fleet rollout --stack lab --to v1.2.5 --strategy canary"
fleet rollout --stack lab --to v1.2.5 --strategy canary --batch 50% --wait 2s --bake 10s --reason "demo"

say "fleet status --stack lab (after)"
fleet status --stack lab

say "fleet history --stack lab"
fleet history --stack lab

cat <<'MSG'

The lab is still running. Try:
  eval "$(npx fleet-lab env)"            # pulumi on PATH, the lab's backend and passphrase
  pulumi preview --stack lab
  npx fleet-lab fault lab-03 unhealthy   # then a rollout, and watch it roll lab-03 back
  npx fleet rollout --stack lab --to v1.3.0 --strategy canary --bake 10s --wait 2s
Stop it with: npx fleet-lab down
MSG
