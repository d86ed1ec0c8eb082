#!/usr/bin/env bash
# Start BigQuery-Lite: the backend (REST API + Reflex state) and the web UI, as two processes.
# In Reflex 0.10 a prod run serves both on one port, which would put UI pages on the API's paths,
# so the backend and the frontend run separately (as in Reflex's self-hosting guide).
# Both are supervised (scripts/supervise.sh): when either dies the other is stopped too and this script exits 1,
# naming the one that died; Ctrl+C stops both and exits 130.
set -euo pipefail
cd "$(dirname "$0")/.."

# A setting from the environment, else from .env (as the app's Settings reads them), else the default.
setting() {
  local name="$1" default="$2" value
  if [[ -n "${!name+x}" ]]; then echo "${!name}"; return; fi
  value=$(grep -E "^[[:space:]]*(export[[:space:]]+)?$name=" .env 2>/dev/null | tail -n 1 | cut -d= -f2- \
    | sed -E "s/^[[:space:]]*['\"]?//; s/['\"]?[[:space:]]*$//") || true
  echo "${value:-$default}"
}

API_PORT="$(setting BQLITE_API_PORT 8000)"
UI_PORT="$(setting BQLITE_UI_PORT 3000)"
HOST="$(setting BQLITE_HOST 127.0.0.1)"
AUTH="$(setting BQLITE_AUTH off)"
ENVIRONMENT="${ENVIRONMENT:-production}"

# With auth off every request acts as the admin: serving that beyond this machine would hand the admin role to the
# whole network. Refuse before building or starting anything (the core refuses too, for starts outside make run).
case "$HOST" in
  127.*|localhost|::1|"[::1]") ;;
  *)
    if [[ "${AUTH,,}" != "on" ]]; then
      echo "Refusing to start: BQLITE_HOST=$HOST is reachable from other machines and BQLITE_AUTH is off," \
        "so anyone could act as the admin." >&2
      echo "Turn auth on: BQLITE_AUTH=on make run (set BQLITE_ADMIN_PASSWORD, or read the generated one from" \
        "the data dir's initial-admin-password), or serve locally with BQLITE_HOST=127.0.0.1." >&2
      exit 2
    fi ;;
esac
if [[ "${1:-}" == "--check-only" ]]; then exit 0; fi

source scripts/supervise.sh

if [[ "$ENVIRONMENT" == "development" ]]; then
  # Dev mode: auto-reload on code changes, debug logs.
  export LOG_LEVEL="${LOG_LEVEL:-DEBUG}"
  supervise_start "the app (reflex dev)" reflex run --env dev --loglevel debug \
    --backend-port "$API_PORT" --frontend-port "$UI_PORT"
else
  supervise_start "the API backend (reflex, port $API_PORT)" \
    reflex run --env prod --backend-only --backend-port "$API_PORT"
  # Build the UI only when its sources (or the API address baked into it) changed since the last build, so a
  # second `make run` starts in seconds.
  ui_hash=$( (echo "$HOST:$API_PORT:$UI_PORT"; cat rxconfig.py pyproject.toml uv.lock \
    $(find bqlite_app assets -type f -not -name '*.pyc' | sort)) | sha256sum | cut -c1-16)
  web_dir="${REFLEX_WEB_WORKDIR:-.web}"   # Reflex builds there; a second app (the tests') may use its own
  if [[ ! -f "$web_dir/build/client/index.html" || "$(cat "$web_dir/.bqlite-ui-hash" 2>/dev/null)" != "$ui_hash" ]]
  then
    echo "Building the web UI (first run or changed sources)..."
    reflex export --frontend-only --no-zip --env prod >/dev/null
    echo "$ui_hash" > "$web_dir/.bqlite-ui-hash"
  fi
  supervise_alive_or_exit  # a backend that died during the build is reported now, not after the UI starts
  supervise_start "the web UI (port $UI_PORT)" python scripts/serve_ui.py "$HOST" "$UI_PORT"
fi

# Report when the API answers (the first start also loads the sample data into both engines).
for _ in $(seq 1 600); do
  if curl -fsS "http://$HOST:$API_PORT/health" >/dev/null 2>&1; then
    echo "BigQuery-Lite API: http://$HOST:$API_PORT  (docs: http://$HOST:$API_PORT/docs)"
    break
  fi
  supervise_alive_or_exit
  sleep 0.5
done
for _ in $(seq 1 600); do
  if curl -fsS "http://$HOST:$UI_PORT/" >/dev/null 2>&1; then
    echo "BigQuery-Lite UI:  http://$HOST:$UI_PORT"
    break
  fi
  supervise_alive_or_exit
  sleep 0.5
done

# From here on, run until one of them dies (then stop the other and exit 1) or Ctrl+C (stop both, exit 130).
supervise_wait
