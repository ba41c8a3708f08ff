#!/usr/bin/env bash
# CPU time and context switches per request of a proxy, per thread, under wrk load, with the proxy pinned to CPU 1
# and nginx + wrk on CPU 0 (the pinned bench's layout). Read from /proc/PID/task/*/stat and */status over the
# measured window. Used for the splice drivers' figures in docs/benchmarks.md.
#
#   bench/study/threads.sh NAME close|ka SECONDS -- PROXY COMMAND...
#   bench/study/threads.sh loop close 5 -- bin/switchyard.js proxy --listen 127.0.0.1:24090 --upstream 127.0.0.1:24080 --log-level warn
#   SWITCHYARD_SPLICE_THREAD=worker bench/study/threads.sh worker close 5 -- bin/switchyard.js proxy ...
#
# The proxy must listen on 127.0.0.1:24090 and forward to the nginx this script starts on 127.0.0.1:24080 (GET /1k,
# 1 KiB). Needs nginx, wrk and taskset. Prints: NAME MODE rps, CPU µs per request (all threads), context switches per
# request, and the µs per request of each thread that used more than 3.
set -euo pipefail
. "$(dirname "$0")/nginx-backend.sh"
WARMUP=2 start_study "$@"
sleep 0.5
ticks() { for f in /proc/"$pid"/task/*/stat; do read -r -a a < "$f"; echo "${a[0]} $((a[13] + a[14]))"; done | sort; }
switches() { cat /proc/"$pid"/task/*/status | awk '/ctxt_switches/ { s += $2 } END { print s }'; }
ticks > "$dir/t0"
s0=$(switches)
wrk_load "$mode" "$secs" > "$dir/wrk.out" 2>&1
s1=$(switches)
ticks > "$dir/t1"
reqs=$(awk '/requests in/ { print $1 }' "$dir/wrk.out")
rps=$(awk '/Requests\/sec/ { print $2 }' "$dir/wrk.out")
tick_us=$((1000000 / $(getconf CLK_TCK)))
join "$dir/t0" "$dir/t1" | awk -v r="$reqs" -v u="$tick_us" -v n="$name" -v m="$mode" -v rps="$rps" -v cs=$((s1 - s0)) '
  { d = ($3 - $2) * u / r; all += d; if (d > 3) per = per sprintf(" %.1f", d) }
  END { printf "%s %s rps=%s cpu_us_per_req=%.1f ctxsw_per_req=%.2f threads[%s ]\n", n, m, rps, all, cs / r, per }'
