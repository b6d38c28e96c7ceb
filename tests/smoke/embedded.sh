#!/usr/bin/env bash
# Embedded-mode smoke test: SQLite, in-process cache, eager jobs, no Redis/MariaDB.
# migrate → seed → serve → GET docs and stats → obtain a token. Runs on a temp copy of the data.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
tmp=$(mktemp -d)
port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Only the embedded defaults: scrub every service URL the caller may have exported.
export -n DATABASE_URL REDIS_URL REDIS_CACHE_URL CELERY_BROKER_URL DATABASE_REPLICA_URLS 2>/dev/null || true
unset DATABASE_URL REDIS_URL REDIS_CACHE_URL CELERY_BROKER_URL DATABASE_REPLICA_URLS
export DATABASE_URL="sqlite:///$tmp/db.sqlite3" DEBUG=1 LOG_LEVEL=WARNING
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

$PY manage.py migrate --noinput -v 0
$PY manage.py seed_demo --users 20 --orders 50 --posts 10 --tasks 20 >/dev/null
$PY manage.py runserver "127.0.0.1:$port" --noreload >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$port/api/health/live" >/dev/null 2>&1 && break; sleep 0.2; done

fail() { echo "smoke: $*" >&2; tail -n 30 "$tmp/server.log" >&2; exit 1; }
# Bodies are captured first: `curl | grep -q` fails under pipefail when grep stops reading early.
docs=$(curl -fsS "http://127.0.0.1:$port/api/docs/") || fail "docs page"
grep -qi "swagger" <<<"$docs" || fail "docs page content"
schema=$(curl -fsS "http://127.0.0.1:$port/api/schema/") || fail "schema"
grep -q "openapi" <<<"$schema" || fail "schema content"
stats=$(curl -fsS "http://127.0.0.1:$port/api/stats") || fail "stats"
grep -q '"users"' <<<"$stats" || fail "stats body: $stats"
token=$(curl -fsS -X POST -H 'Content-Type: application/json' \
  -d '{"email": "demo@example.com", "password": "demo-password"}' \
  "http://127.0.0.1:$port/api/v1/auth/token") || fail "token"
grep -q '"access"' <<<"$token" || fail "token body: $token"
access=$(echo "$token" | $PY -c 'import json,sys; b=json.load(sys.stdin); print((b.get("data") or b)["access"])')
me=$(curl -fsS -H "Authorization: Bearer $access" "http://127.0.0.1:$port/api/v1/users/me") || fail "users/me"
grep -q demo@example.com <<<"$me" || fail "users/me with the token: $me"
echo "smoke: embedded mode OK (migrate, seed, docs, schema, stats, token, users/me)"
