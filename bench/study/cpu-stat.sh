#!/usr/bin/env bash
# What each CPU does per request while wrk loads a proxy in the pinned bench's layout (proxy on CPU 1, nginx and wrk
# on CPU 0): counted by `perf stat` per CPU (system calls by name, context switches, reschedule IPIs), /proc/stat
# (idle share of each CPU) and nstat (TCP segments on loopback), all divided by the requests wrk completed.
#
#   bench/study/cpu-stat.sh NAME close|ka SECONDS -- PROXY COMMAND...
#   bench/study/cpu-stat.sh pass ka 5 -- bin/switchyard.js proxy --listen 127.0.0.1:24090 --upstream 127.0.0.1:24080
#
# The proxy must listen on 127.0.0.1:24090 and forward to the nginx that nginx-backend.sh starts on 127.0.0.1:24080.
# Prints one line per figure: `NAME figure value`. Needs perf (with the syscalls and irq_vectors tracepoints), nstat
# (iproute2), nginx, wrk and taskset. Run nothing else meanwhile: perf stat and nstat count the whole machine.
set -euo pipefail
. "$(dirname "$0")/nginx-backend.sh"
start_study "$@"
measured_load --latency
events=context-switches,irq_vectors:reschedule_entry
for s in epoll_wait epoll_pwait read write writev sendfile64 splice recvfrom sendto; do events+=",syscalls:sys_enter_$s"; done
nstat -n
cpu0=$(grep '^cpu0 ' /proc/stat)
cpu1=$(grep '^cpu1 ' /proc/stat)
perf stat -a -A -C 0,1 -x, -e "$events" -- sleep "$secs" 2> "$dir/perf.out"
cpu0="$cpu0 $(grep '^cpu0 ' /proc/stat)"
cpu1="$cpu1 $(grep '^cpu1 ' /proc/stat)"
nstat > "$dir/nstat.out"
wait "$wrk_pid"
rps=$(awk '/Requests\/sec/ { print $2 }' "$dir/wrk.out")
reqs=$(awk -v r="$rps" -v s="$secs" 'BEGIN { print r * s }')
echo "$name rps $rps"
echo "$name p99 $(awk '$1 == "99%" { print $2 }' "$dir/wrk.out")"
# /proc/stat: user nice system idle iowait irq softirq steal ...; idle share = (idle + iowait) / all
for c in 0 1; do
  v=cpu$c
  echo "${!v}" | awk -v n="$name" -v c="$c" '{ h = NF / 2; for (i = 2; i <= h; i++) { d = $(i + h) - $i; t += d; if (i == 5 || i == 6) id += d } printf "%s CPU%s-idle-%% %.1f\n", n, c, 100 * id / t }'
done
# perf stat -x, -A: CPUn,count,unit,event,...
awk -F, -v n="$name" -v q="$reqs" '$2 ~ /^[0-9]+$/ { e = $4; sub(/^syscalls:sys_enter_/, "", e); sub(/^irq_vectors:/, "", e); printf "%s %s-%s/req %.3f\n", n, $1, e, $2 / q }' "$dir/perf.out"
awk -v n="$name" -v q="$reqs" '$1 == "TcpInSegs" || $1 == "TcpOutSegs" || $1 == "TcpExtTCPHPHits" || $1 == "TcpExtDelayedACKs" { printf "%s %s/req %.3f\n", n, $1, $2 / q }' "$dir/nstat.out"
