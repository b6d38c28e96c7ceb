#!/usr/bin/env bash
# Embedded-mode smoke test, as a newcomer meets the project: `make run` (SQLite, in-process cache,
# inline jobs, no Redis/MariaDB) on a free port with a throwaway database, then the demo logins,
# the front door, the docs, a post page from the sitemap, and the README's "Try it" block exactly
# as printed (only the port differs: 8000 may be taken).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
tmp=$(mktemp -d)
port=${SMOKE_PORT:-$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
base="http://127.0.0.1:$port"
# Only the embedded defaults: scrub every service URL the caller may have exported.
unset DATABASE_URL REDIS_URL REDIS_CACHE_URL CELERY_BROKER_URL DATABASE_REPLICA_URLS SITE_URL \
  CELERY_TASK_ALWAYS_EAGER ENV_FILE
export DATABASE_URL="sqlite:///$tmp/db.sqlite3" DEBUG=1 LOG_LEVEL=WARNING
server_pid=""
cleanup() {
  # make, runserver and its autoreloader share the process group setsid gave them.
  [ -n "$server_pid" ] && kill -- "-$server_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

setsid make --no-print-directory run PORT="$port" >"$tmp/server.log" 2>&1 &
server_pid=$!
fail() { echo "smoke: $*" >&2; tail -n 30 "$tmp/server.log" >&2; exit 1; }
for _ in $(seq 1 300); do
  curl -fsS "$base/api/health/live" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || fail "make run exited"
  sleep 0.5
done
curl -fsS "$base/api/health/live" >/dev/null || fail "make run did not serve within 150 s"
# Seed progress is one line per step in a log, and nothing runs into it (issue #14).
grep -q "seed_demo: users 50/50" "$tmp/server.log" || fail "seed progress lines"
! grep -q "No hostname was supplied" "$tmp/server.log" || fail "broker warning without a broker"

# Bodies are captured first: `curl | grep -q` fails under pipefail when grep stops reading early.
front=$(curl -fsS "$base/") || fail "front door"
grep -q 'href="/api/docs/"' <<<"$front" || fail "front door links: $front"
front_json=$(curl -fsS -H 'Accept: application/json' "$base/") || fail "front door json"
grep -q '"docs":"/api/docs/"\|"docs": "/api/docs/"' <<<"$front_json" || fail "front door json: $front_json"
for docs_path in /api/docs/ /api/docs; do
  docs=$(curl -fsS "$base$docs_path") || fail "docs page $docs_path"
  grep -qi "swagger" <<<"$docs" || fail "docs page content $docs_path"
done
schema=$(curl -fsS "$base/api/schema") || fail "schema"
grep -q "openapi" <<<"$schema" || fail "schema content"

# Every demo login in the README's table works.
while read -r email password; do
  token=$(curl -fsS -H 'Content-Type: application/json' \
    -d "{\"email\": \"$email\", \"password\": \"$password\"}" "$base/api/v1/auth/token") \
    || fail "token for $email"
  access=$($PY -c 'import json,sys; print(json.load(sys.stdin)["data"]["access"])' <<<"$token")
  me=$(curl -fsS -H "Authorization: Bearer $access" "$base/api/v1/users/me") || fail "users/me"
  grep -q "$email" <<<"$me" || fail "users/me for $email: $me"
done < <(sed -nE 's/^\| [a-z]+ \| `([^`]+)` \| `([^`]+)` \|.*/\1 \2/p' README.md)
[ "$(sed -nE 's/^\| [a-z]+ \| `([^`]+@example\.com)` .*/\1/p' README.md | wc -l)" -eq 3 ] \
  || fail "README lists three demo accounts"

# The sitemap names this port, and its first URL is a page.
index=$(curl -fsS "$base/sitemap.xml") || fail "sitemap index"
section_url=$(grep -o "<loc>[^<]*</loc>" <<<"$index" | head -n 1 | sed -E 's#</?loc>##g')
[[ "$section_url" == "$base/"* ]] || fail "sitemap index names $section_url, not $base"
section=$(curl -fsS "$section_url") || fail "sitemap section"
post_url=$(grep -o "<loc>[^<]*</loc>" <<<"$section" | head -n 1 | sed -E 's#</?loc>##g')
[[ "$post_url" == "$base/posts/"* ]] || fail "sitemap post URL $post_url"
page=$(curl -fsS "$post_url") || fail "post page $post_url"
grep -q "<h1>Demo post" <<<"$page" || fail "post page content"

# The README's examples, as printed.
examples=$(awk '/<!-- smoke:begin -->/{inside=1; next} /<!-- smoke:end -->/{inside=0} inside' README.md \
  | sed '/^```/d')
[ -n "$examples" ] || fail "no examples between the smoke markers in README.md"
out=$(cd "$tmp" && bash -euo pipefail -c "${examples//127.0.0.1:8000/127.0.0.1:$port}" 2>&1) \
  || fail "README examples failed: $out"
expect() { grep -q -- "$1" <<<"$out" || fail "README examples: no $1 in: $out"; }
expect '"title":"Water the plants"'
[ "$(grep -o '"title":"Water the plants"' <<<"$out" | wc -l)" -ge 2 ] || fail "task not listed: $out"
expect '"author":{"id":'
expect '"cursor":{"next":"'
# curl prints no newline after a JSON body, so the status lands at the end of a line.
grep -qE '(^|})304$' <<<"$out" || fail "README examples: stats with If-None-Match is not 304: $out"
expect '"type":"/problems/unknown_parameter"'
expect '"code":"unknown_parameter","status":400'
echo "smoke: embedded mode OK (make run, front door, docs, schema, demo logins, sitemap page, README examples)"
