#!/usr/bin/env bash
# Starts the built app the way a newcomer does (no DATABASE_URL, no REDIS_URL), checks
# /health, /docs and that the first registered user is admin, then stops it with SIGTERM
# and expects a clean exit.
set -euo pipefail
cd "$(dirname "$0")/.."

port="${SMOKE_PORT:-3917}"
data_dir="$(mktemp -d)"
log_file="$data_dir/app.log"
trap 'rm -rf "$data_dir"' EXIT

[ -f dist/main.js ] || npm run build
env -u DATABASE_URL -u REDIS_URL -u JWT_SECRET NODE_ENV=development PORT="$port" HOST=127.0.0.1 DATA_DIR="$data_dir" \
  node dist/main.js >"$log_file" 2>&1 &
pid=$!

started=$(date +%s)
until curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; do
  if ! kill -0 "$pid" 2>/dev/null; then cat "$log_file"; echo "the app exited before answering /health"; exit 1; fi
  # A newcomer's machine answers well within 30 s; a loaded CI machine gets more room.
  if [ $(( $(date +%s) - started )) -gt 90 ]; then cat "$log_file"; echo "no /health answer within 90 s"; kill "$pid"; exit 1; fi
  sleep 0.5
done
echo "/health answered after $(( $(date +%s) - started )) s"

curl -fsS "http://127.0.0.1:$port/docs" | grep -qi 'swagger' || { echo "/docs does not serve the API explorer"; exit 1; }
registered=$(curl -fsS -X POST "http://127.0.0.1:$port/api/v1/auth/register" -H 'content-type: application/json' \
  -d '{"firstName":"Smoke","lastName":"Test","email":"smoke@example.com","password":"a-long-enough-password"}')
echo "$registered" | node -e '
  let raw = ""; process.stdin.on("data", (c) => (raw += c)).on("end", () => {
    const body = JSON.parse(raw);
    const admin = body.user && body.user.roles.some((r) => r.systemKey === "admin");
    if (!admin || body.user.accountType !== "staff") { console.error("first user is not admin:", raw); process.exit(1); }
    console.log("first registered user is admin");
  });'

kill -TERM "$pid"
status=0
for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
if kill -0 "$pid" 2>/dev/null; then echo "the app did not stop within 15 s of SIGTERM"; kill -9 "$pid"; exit 1; fi
wait "$pid" || status=$?
[ "$status" -eq 0 ] || { cat "$log_file"; echo "the app exited with status $status"; exit 1; }
echo "stopped cleanly on SIGTERM"
