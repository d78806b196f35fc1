#!/usr/bin/env bash
# The whole classroom stack on one machine: N Streamlit processes on 127.0.0.1, HAProxy in front with
# cookie affinity, and (with --postgres DIR) a PostgreSQL they share. Ctrl-C stops all of it.
#
#   deploy/run_local_stack.sh                   # half the cores as processes, HAProxy on 127.0.0.1:8500
#   deploy/run_local_stack.sh 4 --bind 0.0.0.0  # 4 processes, the class connects to http://THIS-HOST:8500/
#   deploy/run_local_stack.sh 4 --postgres /srv/margin-lab/pg
#
# Needs haproxy (Debian: apt-get install haproxy) and, for --postgres, PostgreSQL's initdb/pg_ctl.
# Everything else is deploy/stack.py (python deploy/stack.py --help); docs/deploy.md explains the parts.
set -euo pipefail
cd "$(dirname "$0")/.."
processes=()
if [[ $# -gt 0 && "$1" =~ ^[0-9]+$ ]]; then
    processes=(--processes "$1")
    shift
fi
exec python deploy/stack.py "${processes[@]}" "$@"
