#!/usr/bin/env bash
# The parallel-SSH floor of a rollout: the on-host script over plain `ssh`, one batch at a time,
# every host of a batch at once, the next batch only when the slowest host of this one is done.
# No engine, no store, no probes: what a rollout cannot go below on these hosts.
#
#   floor.sh HOSTS BATCH STDIN OUT
#     HOSTS  file of lines "NAME ADDRESS PORT ROOT", in rollout order
#     BATCH  hosts per batch
#     STDIN  the script's stdin (the target versions as JSON)
#     OUT    directory for each host's output (NAME.out)
#   env: FLOOR_USER, FLOOR_KEY (private key), FLOOR_KNOWN_HOSTS
# Prints "batch INDEX START_MS END_MS" per batch and "host NAME EXIT START_MS END_MS" per host.
set -euo pipefail

hosts_file=$1 batch=$2 stdin=$3 out=$4
[[ $batch =~ ^[1-9][0-9]*$ ]] || { echo "floor.sh: BATCH: expected a positive integer, got '$batch'" >&2; exit 2; }
mapfile -t hosts < "$hosts_file"
mkdir -p "$out"

now_ms() { date +%s%3N; }

one_host() {
  local name=$1 address=$2 port=$3 root=$4 start end rc=0
  start=$(now_ms)
  ssh -i "$FLOOR_KEY" -p "$port" -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes \
    -o "UserKnownHostsFile=$FLOOR_KNOWN_HOSTS" -o ConnectTimeout=5 -o LogLevel=ERROR \
    "$FLOOR_USER@$address" "'$root/bin/fleet-upgrade' upgrade --stdin" < "$stdin" > "$out/$name.out" 2>&1 || rc=$?
  end=$(now_ms)
  echo "host $name $rc $start $end"
}

index=0
for ((i = 0; i < ${#hosts[@]}; i += batch)); do
  start=$(now_ms)
  for line in "${hosts[@]:i:batch}"; do
    read -r name address port root <<< "$line"
    # Roots reach the remote shell text: only the characters a host root may have (fleet/config).
    [[ $root =~ ^/[A-Za-z0-9._/-]+$ && $root != *..* ]] || { echo "floor.sh: $name: root '$root' is not a plain absolute path" >&2; exit 2; }
    one_host "$name" "$address" "$port" "$root" &
  done
  wait
  echo "batch $index $start $(now_ms)"
  index=$((index + 1))
done
