#!/usr/bin/env bash
# Starts a throwaway PostgreSQL on 127.0.0.1 for the memory store's tests and
# prints its DSN on stdout (everything else goes to stderr). Installs Debian's
# postgresql package when the server binaries are missing (needs root and apt).
#
#   export DAYI_TEST_PG="$(scripts/ci-postgres.sh)"
#   go test ./memory/...
#   scripts/ci-postgres.sh stop         # stops and deletes every cluster it started
#
# The cluster runs as the "postgres" user (PostgreSQL refuses to run as root)
# from a fresh data directory ${TMPDIR:-/tmp}/dayi-pg.XXXXXX, with fsync off:
# it is for tests only.
set -euo pipefail

log() { echo "ci-postgres: $*" >&2; }

if [[ "${1:-}" == "stop" ]]; then
	shift
	dirs=("$@")
	[[ ${#dirs[@]} -gt 0 ]] || dirs=("${TMPDIR:-/tmp}"/dayi-pg.*)
	for dir in "${dirs[@]}"; do
		[[ -f "$dir/bindir" ]] || continue
		runuser -u postgres -- "$(cat "$dir/bindir")/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
		rm -rf "$dir"
	done
	exit 0
fi

find_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

bin="$(find_bindir || true)"
if [[ -z "$bin" ]]; then
	log "installing postgresql (Debian package)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	# the package's own cluster is not used; policy-rc.d keeps it from starting
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
	apt-get install -y -qq --no-install-recommends postgresql >&2
	rm -f /usr/sbin/policy-rc.d
	bin="$(find_bindir)"
fi
id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres

dir="$(mktemp -d "${TMPDIR:-/tmp}/dayi-pg.XXXXXX")"
chown postgres: "$dir"
echo "$bin" >"$dir/bindir"
# a free port: ask the kernel for one
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 55432)"
password="dayi$RANDOM$RANDOM"
pwfile="$dir/pw"
echo "$password" >"$pwfile"
chown postgres: "$pwfile"

log "initdb in $dir/data ($bin)"
runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$pwfile" -A scram-sha-256 -E UTF8 --locale=C.UTF-8 >&2 ||
	runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$pwfile" -A scram-sha-256 -E UTF8 --locale=C >&2
rm -f "$pwfile"
runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
	-o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off" start >&2
PGPASSWORD="$password" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qc "CREATE DATABASE dayi_test" >&2
log "running on 127.0.0.1:$port, data in $dir (stop: scripts/ci-postgres.sh stop)"
echo "postgres://postgres:$password@127.0.0.1:$port/dayi_test?sslmode=disable"
