#!/usr/bin/env bash
# Sample a proxy's CPU with `perf record -g` under wrk load, in the pinned bench's layout (proxy on CPU 1, nginx and
# wrk on CPU 0), for bench/study/perf-compare.js. JS frames get names when the proxy's node runs with
# --perf-basic-prof.
#
#   bench/study/perf-record.sh NAME close|ka SECONDS -- PROXY COMMAND...
#   bench/study/perf-record.sh http ka 5 -- node --initial-heap-size=64 --single-threaded-gc --perf-basic-prof \
#     bin/switchyard.js run -c CONFIG.yaml --log-level warn
#
# The proxy must listen on 127.0.0.1:24090 and forward to the nginx this script starts on 127.0.0.1:24080 (GET /1k,
# 1 KiB). `close` sends `Connection: close` (a new connection per request), `ka` keeps 64 connections alive. After a
# 3 s warm-up, perf samples the proxy at 4,999 Hz for SECONDS while wrk runs. Writes /tmp/perf-NAME.data and
# /tmp/perf-NAME.rps (wrk's requests per second, and SECONDS). Needs perf, nginx, wrk and taskset.
set -euo pipefail
. "$(dirname "$0")/nginx-backend.sh"
start_study "$@"
measured_load
perf record -F 4999 -g -p "$pid" -o "/tmp/perf-$name.data" -- sleep "$secs" > /dev/null 2>&1
wait "$wrk_pid"
rps=$(awk '/Requests\/sec/ { print $2 }' "$dir/wrk.out")
echo "$rps $secs" > "/tmp/perf-$name.rps"
echo "$name $mode rps=$rps -> /tmp/perf-$name.data"
