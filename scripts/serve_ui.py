"""Serve the already-built web UI (static files) the way `reflex run --env prod --frontend-only` does,
without rebuilding it on every start. `scripts/run.sh` rebuilds only when the UI's sources change."""

import sys

from reflex.utils import exec as reflex_exec

if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    reflex_exec.run_frontend_prod(host, port)
