#!/usr/bin/env bash
# A real headless browser (Debian's chromium) uses the chat page of the
# running images: sets a bearer token, sends "add buy milk" through the page,
# waits until the task list shows the task, and saves the screenshot.
#
#   ci/screenshot.sh [out.png]      default: docs/screenshots/chat.png
#
# Needs: Docker and PostgreSQL (ci/setup.sh docker postgres), node >= 20,
# chromium (installed with apt when missing, as root). Builds the images with
# `kubegate images build` (a no-op when they are current). The JWT secret is
# random per run and never printed; the containers are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source ci/env.sh
out="${1:-docs/screenshots/chat.png}"
die() { echo "ci/screenshot.sh: $*" >&2; exit 2; }

if ! command -v chromium >/dev/null; then
  [[ $(id -u) -eq 0 ]] || die "chromium missing: apt-get install chromium"
  echo "==> installing chromium (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
command -v node >/dev/null || die "node (20 or newer) is needed to drive chromium"
node_flags=()
node -e 'process.exit(typeof WebSocket === "function" ? 0 : 1)' || node_flags=(--experimental-websocket)
docker info >/dev/null 2>&1 || die "start Docker: ci/setup.sh docker"
db_file="${KUBEGATE_CACHE}/postgres/database_url"
[[ -r "$db_file" ]] || die "start PostgreSQL: ci/setup.sh postgres ($db_file missing)"

echo "==> building the images (kubegate images build)"
cargo run -q -p kubegate -- images build >/dev/null

# The host's database as a container reaches it.
DATABASE_URL="$(sed -E 's#@[^:/@]+:#@host.docker.internal:#' "$db_file")"
JWT_SECRET="$(openssl rand -hex 32)"
export DATABASE_URL JWT_SECRET
backend="" frontend=""
cleanup() { docker rm -f $backend $frontend >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "==> starting todo-chatbot-backend:0.1.0 and todo-chatbot-frontend:0.1.0"
backend="$(docker run -d --read-only --cap-drop ALL --add-host host.docker.internal:host-gateway \
  -e DATABASE_URL -e JWT_SECRET -p 127.0.0.1::8000 todo-chatbot-backend:0.1.0)"
backend_ip="$(docker inspect -f '{{.NetworkSettings.IPAddress}}' "$backend")"
frontend="$(docker run -d --read-only --cap-drop ALL -e "BACKEND_URL=http://$backend_ip:8000" \
  -p 127.0.0.1::3000 todo-chatbot-frontend:0.1.0)"
backend_port="$(docker port "$backend" 8000/tcp | head -n1 | sed 's/.*://')"
frontend_port="$(docker port "$frontend" 3000/tcp | head -n1 | sed 's/.*://')"
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$backend_port/ready" >/dev/null 2>&1 \
    && curl -fsS "http://127.0.0.1:$frontend_port/ready" >/dev/null 2>&1 && break
  sleep 0.25
done
curl -fsS "http://127.0.0.1:$backend_port/ready" >/dev/null || { docker logs "$backend" >&2; die "backend not ready"; }

# A fresh user, so the list shows exactly what this run added.
KUBEGATE_SCREENSHOT_TOKEN="$(docker run --rm -e JWT_SECRET todo-chatbot-backend:0.1.0 token "screenshot-$(date +%s)")"
export KUBEGATE_SCREENSHOT_TOKEN
mkdir -p "$(dirname "$out")"
echo "==> driving chromium: http://127.0.0.1:$frontend_port/"
node "${node_flags[@]}" ci/screenshot/drive.mjs "http://127.0.0.1:$frontend_port/" "$out"
