#!/bin/bash
# The failover test (failover.sh, the same code) against the Docker testbed
# of docker/: one container per node, lb1 killed with `docker kill`, in both
# HA modes. Installs and starts Docker if need be (docker/cluster.sh); exit
# 77 (skipped) if Docker cannot be started on this machine.
# Environment: as failover.sh (XLB_FAILOVER_MODES, _CONNS, _S).
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
XLB_FAILOVER_TARGET=docker exec "$HERE/failover.sh" "$@"
