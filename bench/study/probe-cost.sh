#!/usr/bin/env bash
# What the pinned bench's resource probe costs a proxy's keep-alive tail. The probe (in the pinned bench's lib)
# reads /proc/PID/status and /proc/PID/smaps_rollup of the proxy every 200 ms, on the load CPU. smaps_rollup walks
# the proxy's page tables, so each read takes time in proportion to the proxy's resident memory, and while it runs
# nginx and wrk (on the same CPU) wait.
#
#   bench/study/probe-cost.sh NAME ROUNDS -- PROXY COMMAND...
#   bench/study/probe-cost.sh http 3 -- bin/switchyard.js run -c CONFIG.yaml --log-level warn
#   LISTEN_PORT=24090 TARGET_PORT=24080 bench/study/probe-cost.sh pipe 3 -- node PINNED_BENCH/proxies/node-pipe.js
#
# The proxy must listen on 127.0.0.1:24090 and forward to the nginx this script starts on 127.0.0.1:24080 (GET /1k).
# Layout as in the pinned bench: proxy on CPU 1, nginx + wrk (-t2 -c64, keep-alive, 2 s warm-up, 5 s measured) on
# CPU 0. Each round runs the proxy twice: without a probe, then with a reader doing what the probe does, at the same
# rate, also on CPU 0. Prints per run: req/s, p50, p99, the proxy's CPU µs per request, and with the reader the
# median time of one smaps_rollup read and the proxy's peak VmRSS. Needs nginx, wrk, taskset, python3.
set -euo pipefail
name=$1 rounds=$2
shift 2
[ "${1:-}" = -- ] && shift
. "$(dirname "$0")/nginx-backend.sh"
cat > "$dir/reader.py" <<'PY'
import sys, time
pid, out, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
walks, rss, end = [], 0, time.time() + secs
while time.time() < end:
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    rss = max(rss, int(line.split()[1]))
        t = time.perf_counter()
        with open(f'/proc/{pid}/smaps_rollup') as f:
            f.read()
        walks.append((time.perf_counter() - t) * 1e3)
    except OSError:
        break
    time.sleep(0.2)
walks.sort()
with open(out, 'w') as f:
    f.write(f'walk_ms={walks[len(walks) // 2]:.2f} peak_rss_mb={rss // 1024}\n' if walks else 'walk_ms=? peak_rss_mb=?\n')
PY
one() { # LABEL READER(0|1)
  start_proxy "${cmd[@]}"
  wrk_load ka 2 > /dev/null 2>&1
  local r=''
  if [ "$2" = 1 ]; then
    taskset -c 0 python3 "$dir/reader.py" "$pid" "$dir/reader.out" 5 &
    r=$!
  fi
  local c0 c1
  c0=$(awk '{ print $14 + $15 }' /proc/"$pid"/stat)
  wrk_load ka 5 --latency > "$dir/wrk.out" 2>&1
  c1=$(awk '{ print $14 + $15 }' /proc/"$pid"/stat)
  [ -n "$r" ] && wait "$r"
  kill "$pid"
  wait "$pid" 2> /dev/null || true
  pid=''
  local reqs extra=''
  reqs=$(awk '/requests in/ { print $1 }' "$dir/wrk.out")
  [ "$2" = 1 ] && extra=$(cat "$dir/reader.out")
  awk -v n="$name" -v l="$1" -v cpu=$(((c1 - c0) * tick_us / reqs)) -v x="$extra" '
    /Requests\/sec/ { rps = $2 } /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
    END { printf "%s %-9s rps=%s p50=%s p99=%s cpu_us_per_req=%s %s\n", n, l, rps, p50, p99, cpu, x }' "$dir/wrk.out"
}
cmd=("$@")
tick_us=$((1000000 / $(getconf CLK_TCK)))
for _ in $(seq "$rounds"); do
  one no-probe 0
  one probe 1
done
