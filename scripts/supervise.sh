# Process supervision for scripts/run.sh (sourced, not run): start commands in their own process groups, stop all
# of them as soon as one dies, and stop them all on Ctrl+C or TERM.
#
# Why process groups: `reflex run` forks its server worker; killing only the `reflex` process it leaves the worker
# serving on the port with nobody watching it. Each command runs under `setsid`, so its pid is its group id and one
# `kill -- -pid` reaches every process it started. A new session also keeps the terminal's Ctrl+C away from the
# children: this script alone decides how they stop, in order, and reports it.
#
#   supervise_start NAME CMD...   start CMD in its own process group, known as NAME in messages
#   supervise_alive_or_exit       exit 1 (stopping the rest) if a supervised command has died; for startup loops
#   supervise_wait                block until one command dies or a signal comes; never returns

SUPERVISE_GRACE_S="${SUPERVISE_GRACE_S:-15}"  # how long a stopped group may take to shut down before SIGKILL
_supervised_pids=()
_supervised_names=()

supervise_start() {
  local name="$1"
  shift
  # A background job of a non-interactive shell is never a group leader, so setsid does not fork: $! is the new
  # session's (and group's) id.
  setsid "$@" &
  _supervised_pids+=("$!")
  _supervised_names+=("$name")
}

_supervise_name_of() {
  local i
  for i in "${!_supervised_pids[@]}"; do
    if [[ "${_supervised_pids[$i]}" == "$1" ]]; then
      echo "${_supervised_names[$i]}"
      return
    fi
  done
  echo "process $1"
}

# True while any process of the group is alive. Zombies do not count: an orphaned worker may wait to be reaped by
# an init that never reaps, and it serves nothing.
_supervise_group_alive() {
  ps -e -o pgid=,stat= | awk -v group="$1" '$1 == group && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

_supervise_others() {
  local pid others=""
  for pid in "${_supervised_pids[@]}"; do
    if [[ "$pid" != "$1" ]]; then others+="${others:+ and }$(_supervise_name_of "$pid")"; fi
  done
  echo "${others:-nothing else}"
}

# Stop every group: TERM first (servers shut down cleanly: the backend records its running jobs as stopped), KILL
# whatever is still there after the grace period.
supervise_stop() {
  trap - EXIT INT TERM
  local pid waited=0
  for pid in "${_supervised_pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  while (( waited < SUPERVISE_GRACE_S * 10 )); do
    local alive=0
    for pid in "${_supervised_pids[@]}"; do
      if _supervise_group_alive "$pid"; then alive=1; fi
    done
    if (( ! alive )); then break; fi
    sleep 0.1
    waited=$((waited + 1))
  done
  for pid in "${_supervised_pids[@]}"; do
    if _supervise_group_alive "$pid"; then
      echo "$(_supervise_name_of "$pid") did not stop within ${SUPERVISE_GRACE_S} s; killing it" >&2
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
  done
  wait 2>/dev/null || true
}

_supervise_died() {
  local pid="$1" status="$2"
  trap - INT TERM
  echo "BigQuery-Lite: $(_supervise_name_of "$pid") (pid $pid) exited unexpectedly with status $status;" \
    "stopping $(_supervise_others "$pid")." >&2
  supervise_stop
  exit 1
}

_supervise_signalled() {
  echo "BigQuery-Lite: stopping." >&2
  supervise_stop
  exit "$1"
}

supervise_alive_or_exit() {
  local pid status
  for pid in "${_supervised_pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      status=0
      wait "$pid" 2>/dev/null || status=$?
      _supervise_died "$pid" "$status"
    fi
  done
}

supervise_wait() {
  local died status
  while true; do
    status=0
    wait -n -p died "${_supervised_pids[@]}" || status=$?
    # No pid: wait was interrupted (a trapped signal runs its handler, which exits), or nothing is left to wait for.
    if [[ -n "${died:-}" ]]; then _supervise_died "$died" "$status"; fi
    supervise_alive_or_exit
  done
}

trap supervise_stop EXIT
trap '_supervise_signalled 130' INT
trap '_supervise_signalled 143' TERM
