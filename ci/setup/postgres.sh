#!/usr/bin/env bash
# Set-up part "postgres": the external PostgreSQL of the deployment plan (AD-1),
# on this host, for the backend's tests, the container suite and the pods.
#   - installs Debian's postgresql if missing (apt);
#   - listens on all interfaces (pods reach it via the node IP, containers via
#     the Docker bridge) and accepts password logins (scram-sha-256) for role
#     `kubegate` on database `todo`, from loopback and private networks only;
#   - the password is generated once into ~/.cache/kubegate/postgres/password
#     (mode 600) and never printed; the full URL for tests goes to
#     ~/.cache/kubegate/postgres/database_url (mode 600);
#   - starts the cluster and waits until a login with that password works.
# Idempotent: a second run changes nothing and restarts nothing.
# Prints only the URL with the password masked. Never run this with `bash -x`.
#
# Environment:
#   KUBEGATE_CACHE      cache root (default ~/.cache/kubegate)
#   KUBEGATE_PG_WAIT    seconds to wait for the server (default 60)
set -euo pipefail

cache="${KUBEGATE_CACHE:-$HOME/.cache/kubegate}"
state="$cache/postgres"
role=kubegate
database=todo
marker="# kubegate: managed by ci/setup/postgres.sh"

say() { echo "    postgres: $*"; }
die() { echo "ci/setup/postgres.sh: $*" >&2; exit 2; }

[[ "$(id -u)" == 0 ]] || die "run as root (it installs and configures the system PostgreSQL)"

# ---- install ---------------------------------------------------------------
if ! command -v pg_lsclusters >/dev/null 2>&1; then
  command -v apt-get >/dev/null || die "PostgreSQL is missing and apt-get is not available: install PostgreSQL 13+ yourself"
  say "installing postgresql (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

# ---- the cluster -----------------------------------------------------------
# Debian creates "<major> main" on install; pick the newest cluster, or create one.
read -r version cluster port < <(pg_lsclusters --no-header 2>/dev/null | sort -k1,1V | tail -n1 | awk '{print $1, $2, $3}') || true
if [[ -z "${version:-}" ]]; then
  version="$(ls /usr/lib/postgresql | sort -V | tail -n1)"
  [[ -n "$version" ]] || die "no PostgreSQL server version under /usr/lib/postgresql"
  say "creating cluster $version/main"
  pg_createcluster "$version" main >/dev/null
  read -r version cluster port < <(pg_lsclusters --no-header | awk -v v="$version" '$1 == v && $2 == "main" {print $1, $2, $3}')
fi
confdir="/etc/postgresql/$version/$cluster"
[[ -d "$confdir" ]] || die "configuration directory $confdir not found"

need_restart=0
need_reload=0

# listen_addresses needs a restart; a conf.d file keeps the stock postgresql.conf untouched.
mkdir -p "$confdir/conf.d"
conf="$confdir/conf.d/kubegate.conf"
want_conf="$marker
listen_addresses = '*'
password_encryption = 'scram-sha-256'"
if [[ "$(cat "$conf" 2>/dev/null)" != "$want_conf" ]]; then
  printf '%s\n' "$want_conf" >"$conf"
  chown postgres:postgres "$conf"
  need_restart=1
fi

# pg_hba: password logins for the kubegate role on the todo database from
# loopback and the private ranges (Docker bridge, pod and node networks).
hba="$confdir/pg_hba.conf"
if ! grep -qF "$marker" "$hba"; then
  {
    echo ""
    echo "$marker"
    for net in 127.0.0.1/32 ::1/128 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 100.64.0.0/10 fc00::/7; do
      printf 'host    %s    %s    %s    scram-sha-256\n' "$database" "$role" "$net"
    done
  } >>"$hba"
  need_reload=1
fi

# ---- start -----------------------------------------------------------------
status="$(pg_lsclusters --no-header | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c {print $4}')"
if [[ "$status" != online* ]]; then
  say "starting cluster $version/$cluster"
  pg_ctlcluster "$version" "$cluster" start
  need_restart=0
  need_reload=0
elif [[ $need_restart == 1 ]]; then
  say "restarting cluster $version/$cluster (listen_addresses changed)"
  pg_ctlcluster "$version" "$cluster" restart
  need_reload=0
fi
[[ $need_reload == 1 ]] && { say "reloading pg_hba.conf"; pg_ctlcluster "$version" "$cluster" reload; }

wait_s="${KUBEGATE_PG_WAIT:-60}"
for ((i = 0; i < wait_s * 2; i++)); do
  pg_isready -q -h 127.0.0.1 -p "$port" && break
  sleep 0.5
done
pg_isready -q -h 127.0.0.1 -p "$port" || die "PostgreSQL $version/$cluster did not accept connections on port $port within ${wait_s}s (see /var/log/postgresql/postgresql-$version-$cluster.log)"

# ---- role, password, database ------------------------------------------------
mkdir -p "$state"
chmod 700 "$state"
pwfile="$state/password"
if [[ ! -s "$pwfile" ]]; then
  (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$pwfile")
fi
chmod 600 "$pwfile"
password="$(cat "$pwfile")"
[[ "$password" =~ ^[0-9a-f]+$ ]] || die "$pwfile must hold a hex password; delete it to generate a new one"

# SQL goes through stdin, so the password never appears in a process list.
as_postgres() { (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" "$@"); }
as_postgres -d postgres >/dev/null <<SQL
SELECT format('CREATE ROLE %I LOGIN', '$role') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role')
\\gexec
SET password_encryption = 'scram-sha-256';
ALTER ROLE $role WITH LOGIN PASSWORD '$password';
SELECT format('CREATE DATABASE %I OWNER %I', '$database', '$role')
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$database')
\\gexec
SQL

url="postgres://$role:$password@127.0.0.1:$port/$database"
(umask 077; printf '%s\n' "$url" >"$state/database_url")
chmod 600 "$state/database_url"

# A real login with the password, over TCP, as the tests and pods will do it.
PGPASSWORD="$password" psql -X -q -h 127.0.0.1 -p "$port" -U "$role" -d "$database" -c 'SELECT 1' >/dev/null \
  || die "login as $role over TCP failed (check $hba)"

say "PostgreSQL $version ready: postgres://$role:***@127.0.0.1:$port/$database (password in $pwfile)"
say "tests read TEST_DATABASE_URL, or $state/database_url when it is unset"
