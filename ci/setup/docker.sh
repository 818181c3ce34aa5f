#!/usr/bin/env bash
# Set-up part "docker": a Docker engine the container suite and
# `kubegate images build` can use.
#   - installs Debian's docker.io when `dockerd` is missing (apt, as root);
#   - starts `dockerd` in the background when `docker info` does not answer
#     (no systemd on CI machines), logging to ~/.cache/kubegate/logs/dockerd.log;
#   - waits until `docker info` answers (at most 60 s).
# Nothing else: no image is pulled (there is no registry; kubegate's images
# are built FROM scratch). Idempotent: with a running engine it changes nothing.
#
# Environment:
#   KUBEGATE_CACHE            cache root (default ~/.cache/kubegate).
#   KUBEGATE_DOCKERD_ARGS     extra arguments for dockerd (e.g. --storage-driver=vfs).
set -euo pipefail

cache="${KUBEGATE_CACHE:-$HOME/.cache/kubegate}"
logs="$cache/logs"
mkdir -p "$logs"

say() { echo "    docker: $*"; }
die() { echo "ci/setup/docker.sh: $*" >&2; exit 2; }

answering() { docker info >/dev/null 2>&1; }

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  command -v apt-get >/dev/null || die "dockerd not found and apt-get unavailable: install Docker Engine yourself"
  [[ $(id -u) -eq 0 ]] || die "dockerd not found: run as root to apt-get install docker.io"
  say "installing docker.io (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

if answering; then
  say "engine already answering ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
  exit 0
fi

[[ $(id -u) -eq 0 ]] || die "the Docker engine is not answering and starting dockerd needs root"

# A stale pid file from a killed dockerd makes the new one refuse to start.
if [[ -f /var/run/docker.pid ]] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
  rm -f /var/run/docker.pid
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  say "starting dockerd (log: $logs/dockerd.log)"
  # shellcheck disable=SC2086 # the extra arguments are meant to split
  # setsid: its own session, so the end of the shell (or job) that started it
  # does not take the engine down with it.
  setsid nohup dockerd ${KUBEGATE_DOCKERD_ARGS:-} >>"$logs/dockerd.log" 2>&1 </dev/null &
  disown || true
fi

for _ in $(seq 1 120); do
  if answering; then
    say "engine answering ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
    exit 0
  fi
  sleep 0.5
done
echo "ci/setup/docker.sh: dockerd did not answer within 60 s; last lines of $logs/dockerd.log:" >&2
tail -n 20 "$logs/dockerd.log" >&2 || true
exit 4
