# Source me: install and start a throw-away PostgreSQL server for the study tests, and export its URL.
# Debian's packages; the server runs as the 'postgres' user from a data folder under /tmp, on 127.0.0.1:5433.
set -euo pipefail
if ! command -v /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PG_DATA=$(mktemp -d /tmp/dltool-pg.XXXXXX)
chown postgres "$PG_DATA"
su postgres -c "$PG_BIN/initdb -D $PG_DATA --auth-local=trust --auth-host=scram-sha-256 -U postgres" >/dev/null
su postgres -c "$PG_BIN/pg_ctl -D $PG_DATA -o '-p 5433 -k /tmp -c listen_addresses=127.0.0.1' -l $PG_DATA/log -w start" >/dev/null
su postgres -c "psql -h /tmp -p 5433 -q -c \"CREATE USER dltool PASSWORD 'ci-secret-pw'\" -c 'CREATE DATABASE dltool OWNER dltool'"
export DLTOOL_TEST_POSTGRES="postgresql://dltool:ci-secret-pw@127.0.0.1:5433/dltool"
trap "su postgres -c '$PG_BIN/pg_ctl -D $PG_DATA -m fast stop' >/dev/null 2>&1 || true" EXIT
