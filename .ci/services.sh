#!/usr/bin/env bash
# Starts each local server the integration tests use, when it is not already listening.
# Safe to run repeatedly; used by .ci/run and handy on a developer machine.
set -uo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # port name
  for _ in $(seq 1 60); do listening "$1" && return 0; sleep 1; done
  echo "ci: $2 did not come up on port $1" >&2
  return 1
}

ensure() { # port name command...
  local port=$1 name=$2
  shift 2
  if listening "$port"; then return 0; fi
  echo "ci: starting $name"
  "$@" >/dev/null 2>&1 || echo "ci: could not start $name with: $*" >&2
  wait_for "$port" "$name"
}

status=0
if command -v redis-server >/dev/null; then
  ensure 6379 redis redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || status=1
fi
if [ -x /usr/sbin/nats-server ]; then
  mkdir -p /var/lib/nats-server
  ensure 4222 nats start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server || status=1
fi
if command -v rabbitmq-server >/dev/null; then
  ensure 5672 rabbitmq rabbitmq-server -detached || status=1
fi
if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  ensure 5432 postgresql pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || status=1
  # The data tests use database `test` as user postgres (trust on 127.0.0.1), one schema per test.
  if listening 5432 && command -v psql >/dev/null; then
    psql -h 127.0.0.1 -U postgres -d postgres -tAc "select 1 from pg_database where datname = 'test'" | grep -q 1 ||
      psql -h 127.0.0.1 -U postgres -d postgres -qc "create database test" || status=1
  fi
fi
exit $status
