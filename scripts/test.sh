#!/usr/bin/env bash
# Runs vitest under catatonit (podman's init, installed with podman) as a subreaper: conmon
# double-forks, and this host's PID 1 does not reap orphans, so without a subreaper every
# container the tests run would leave a zombie behind.
set -euo pipefail
reaper=/usr/libexec/podman/catatonit
if [ -x "$reaper" ]; then
  exec "$reaper" -- vitest run "$@"
fi
echo "catatonit not found at $reaper: running without a subreaper" >&2
exec vitest run "$@"
