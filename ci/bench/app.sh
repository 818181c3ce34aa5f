#!/usr/bin/env bash
# Figures of the reference app's images (issue 3): image sizes, time from
# `docker run` to ready, p50/p99 latency of /health and of task creation
# under a short loopback wrk load, and RSS at idle. Prints a Markdown section
# and writes it into docs/benchmarks.md under "## Reference app".
#
#   ci/bench/app.sh [--no-write]
#
# Environment: BENCH_RUNS (start->ready samples, default 5), BENCH_SECONDS
# (wrk duration per endpoint, default 5), BENCH_CONNECTIONS (default 16).
# Needs Docker, PostgreSQL (ci/setup.sh docker postgres) and wrk (apt).
set -euo pipefail
cd "$(dirname "$0")/../.."
source ci/env.sh
write=1
[[ "${1:-}" == "--no-write" ]] && write=0
runs="${BENCH_RUNS:-5}"
seconds="${BENCH_SECONDS:-5}"
connections="${BENCH_CONNECTIONS:-16}"
die() { echo "ci/bench/app.sh: $*" >&2; exit 2; }
command -v wrk >/dev/null || die "wrk missing: apt-get install wrk"
docker info >/dev/null 2>&1 || die "start Docker: ci/setup.sh docker"
db_file="${KUBEGATE_CACHE}/postgres/database_url"
[[ -r "$db_file" ]] || die "start PostgreSQL: ci/setup.sh postgres"

echo "==> building the images (kubegate images build)" >&2
cargo run -q -p kubegate -- images build >/dev/null

DATABASE_URL="$(sed -E 's#@[^:/@]+:#@host.docker.internal:#' "$db_file")"
JWT_SECRET="$(openssl rand -hex 32)"
export DATABASE_URL JWT_SECRET
containers=()
cleanup() { [[ ${#containers[@]} -eq 0 ]] || docker rm -f "${containers[@]}" >/dev/null 2>&1 || true; rm -f "${lua:-}"; }
trap cleanup EXIT

now_ms() { date +%s%3N; }
ip_of() { docker inspect -f '{{.NetworkSettings.IPAddress}}' "$1"; }
run_backend() {
  docker run -d --read-only --cap-drop ALL --add-host host.docker.internal:host-gateway \
    -e DATABASE_URL -e JWT_SECRET todo-chatbot-backend:0.1.0
}
run_frontend() { docker run -d --read-only --cap-drop ALL -e "BACKEND_URL=http://$1:8000" todo-chatbot-frontend:0.1.0; }
# ms from `docker run` to the first 200 of /ready (polled every 10 ms).
wait_ready() {
  local url="$1" start="$2"
  for _ in $(seq 1 3000); do
    curl -fs -o /dev/null --max-time 1 "$url" 2>/dev/null && { echo $(( $(now_ms) - start )); return 0; }
    sleep 0.01
  done
  die "$url not ready within 30 s"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2))}'; }

size_mb() { docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.1f", $1/1000000}'; }
backend_mb="$(size_mb todo-chatbot-backend:0.1.0)"
frontend_mb="$(size_mb todo-chatbot-frontend:0.1.0)"

echo "==> start -> ready, $runs runs each" >&2
backend_samples=() frontend_samples=()
for _ in $(seq 1 "$runs"); do
  t0=$(now_ms); b=$(run_backend); containers+=("$b")
  backend_samples+=("$(wait_ready "http://$(ip_of "$b"):8000/ready" "$t0")")
  t0=$(now_ms); f=$(run_frontend "$(ip_of "$b")"); containers+=("$f")
  frontend_samples+=("$(wait_ready "http://$(ip_of "$f"):3000/ready" "$t0")")
  docker rm -f "$b" "$f" >/dev/null; containers=()
done
backend_ready="$(printf '%s\n' "${backend_samples[@]}" | median)"
frontend_ready="$(printf '%s\n' "${frontend_samples[@]}" | median)"

echo "==> wrk: ${seconds}s per endpoint, $connections connections" >&2
b=$(run_backend); containers+=("$b")
bip="$(ip_of "$b")"
wait_ready "http://$bip:8000/ready" "$(now_ms)" >/dev/null
f=$(run_frontend "$bip"); containers+=("$f")
fip="$(ip_of "$f")"
wait_ready "http://$fip:3000/ready" "$(now_ms)" >/dev/null
sleep 2
rss_mb() { awk '/^VmRSS/ {printf "%.1f", $2/1024}' "/proc/$(docker inspect -f '{{.State.Pid}}' "$1")/status"; }
backend_rss="$(rss_mb "$b")"
frontend_rss="$(rss_mb "$f")"

token="$(docker run --rm -e JWT_SECRET todo-chatbot-backend:0.1.0 token "bench-$(date +%s)")"
lua="$(mktemp --suffix .lua)"
chmod 600 "$lua"
cat >"$lua" <<LUA
wrk.method = "POST"
wrk.body = '{"title":"bench task"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA
# "p50 p99 requests/s" from wrk --latency output (latencies in ms).
wrk_figures() {
  wrk --latency -t2 -c"$connections" -d"${seconds}s" "$@" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    $1 == "50%" {p50 = ms($2)} $1 == "99%" {p99 = ms($2)} /^Requests\/sec/ {rps = $2}
    /Non-2xx/ {bad = $NF}
    END {printf "%.2f %.2f %d %s\n", p50, p99, rps, (bad == "" ? 0 : bad)}'
}
read -r h50 h99 hrps hbad < <(wrk_figures "http://$bip:8000/health")
read -r fh50 fh99 fhrps fhbad < <(wrk_figures "http://$fip:3000/health")
read -r c50 c99 crps cbad < <(wrk_figures -s "$lua" "http://$bip:8000/api/tasks")
read -r pc50 pc99 pcrps pcbad < <(wrk_figures -s "$lua" "http://$fip:3000/api/tasks")
[[ "$cbad$pcbad$hbad$fhbad" == "0000" ]] || echo "warning: non-2xx answers under load (backend $cbad, via frontend $pcbad)" >&2

load="$(cut -d' ' -f1-3 /proc/loadavg)"
section="$(cat <<MD
## Reference app

Command: \`ci/bench/app.sh\` (after \`ci/setup.sh docker postgres\`). Images from
\`kubegate images build\`; containers run as in a pod (read-only root, all
capabilities dropped) and are reached on their Docker bridge addresses (no
port proxy). Start -> ready is the median of $runs runs from \`docker run\` to
the first 200 of \`/ready\` (backend: PostgreSQL on the host answering and
migrations done). wrk: 2 threads, $connections connections, ${seconds} s per row;
task creation is \`POST /api/tasks\` with a bearer token, writing to the host's
PostgreSQL. Machine: 2 cores shared with other builds (load average at the end:
$load), so latencies are upper bounds.

| What | backend | frontend |
|---|---|---|
| Image size | $backend_mb MB | $frontend_mb MB |
| \`docker run\` -> \`/ready\` 200 (median) | $backend_ready ms | $frontend_ready ms |
| RSS at idle | $backend_rss MiB | $frontend_rss MiB |
| \`GET /health\` p50 / p99 | $h50 / $h99 ms ($hrps req/s) | $fh50 / $fh99 ms ($fhrps req/s) |
| \`POST /api/tasks\` p50 / p99 | $c50 / $c99 ms ($crps req/s) | $pc50 / $pc99 ms ($pcrps req/s, proxied to the backend) |
MD
)"
echo "$section"
if [[ $write -eq 1 ]]; then
  file=docs/benchmarks.md
  [[ -f "$file" ]] || printf '# Benchmarks\n\nEach section names the script that prints its figures; rerun it to update them.\n' >"$file"
  # Replace the section (up to the next "## " heading) or append it.
  SECTION="$section" python3 - "$file" <<'PY'
import os, re, sys
path = sys.argv[1]
text = open(path).read()
section = os.environ["SECTION"].rstrip() + "\n"
pattern = re.compile(r"^## Reference app\n.*?(?=^## |\Z)", re.S | re.M)
if pattern.search(text):
    text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
else:
    text = text.rstrip() + "\n\n" + section
open(path, "w").write(text)
PY
  echo "==> wrote the section into $file" >&2
fi
