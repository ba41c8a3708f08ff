# Sourced by the bench/study shell scripts that load a proxy the way the pinned bench does (threads.sh,
# perf-record.sh, probe-cost.sh): a scratch directory and nginx on CPU 0 serving GET /1k (1 KiB) on 127.0.0.1:24080,
# keep-alive, one worker. After sourcing: $dir (the scratch directory; put other files there), $nginx_pid, and
# start_proxy CMD... (the proxy on CPU 1, its pid in $pid, returns once it listens on 127.0.0.1:24090),
# wrk_load MODE SECONDS [WRK ARGS...] (the load, on CPU 0), start_study and measured_load (below). Everything started
# here is stopped on exit.
# NGINX_SENDFILE=off makes nginx write the answer's head and body in one write instead of sendfile(2).
dir=$(mktemp -d /tmp/sy-study.XXXXXX)
chmod 755 "$dir"
mkdir -p "$dir/www" "$dir/tmp"
head -c 1024 /dev/zero | tr '\0' a > "$dir/www/1k"
cat > "$dir/nginx.conf" <<CFG
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 16384; }
http {
  access_log off; sendfile ${NGINX_SENDFILE:-on}; tcp_nodelay on; keepalive_requests 10000000; keepalive_timeout 120s;
  default_type application/octet-stream;
  client_body_temp_path $dir/tmp; proxy_temp_path $dir/tmp; fastcgi_temp_path $dir/tmp; uwsgi_temp_path $dir/tmp; scgi_temp_path $dir/tmp;
  server { listen 127.0.0.1:24080 backlog=4096; root $dir/www; }
}
CFG
taskset -c 0 nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" > /dev/null 2>&1 &
nginx_pid=$!
pid=''
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2> /dev/null || true # the proxy may have exited already: nginx must still be stopped
  kill "$nginx_pid" 2> /dev/null || true
  wait 2> /dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

# Wait until the proxy listens on 127.0.0.1:24090; else print its output ($dir/proxy.log) and exit 1.
wait_proxy() {
  local _
  for _ in $(seq 100); do (exec 3<> /dev/tcp/127.0.0.1/24090) 2> /dev/null && return 0; sleep 0.1; done
  echo "$(basename "$0"): nothing listens on 127.0.0.1:24090 after 10 s; the proxy printed:" >&2
  cat "$dir/proxy.log" >&2
  exit 1
}

start_proxy() {
  taskset -c 1 "$@" > "$dir/proxy.log" 2>&1 &
  pid=$!
  wait_proxy
}

# wrk on CPU 0 through the proxy: 2 threads, 64 connections, GET /1k for SECONDS. MODE close sends
# `Connection: close` (a new connection per request), ka keeps the connections alive. Prints wrk's report.
wrk_load() {
  local mode=$1 secs=$2
  shift 2
  local hdr=()
  [ "$mode" = close ] && hdr=(-H 'Connection: close')
  taskset -c 0 wrk -t2 -c64 -d"${secs}s" "${hdr[@]}" "$@" http://127.0.0.1:24090/1k
}

# The scripts' common arguments, NAME MODE SECONDS [--] PROXY COMMAND...: sets $name, $mode and $secs, starts the
# proxy and warms it up with WARMUP seconds (default 3) of wrk_load MODE.
start_study() {
  name=$1 mode=$2 secs=$3
  shift 3
  [ "${1:-}" = -- ] && shift
  start_proxy "$@"
  wrk_load "$mode" "${WARMUP:-3}" > /dev/null 2>&1
}

# wrk_load $mode for $secs + 1 seconds in the background, its report in $dir/wrk.out and its pid in $wrk_pid; returns
# after half a second, once the load runs at full speed, for the caller to measure $secs seconds.
measured_load() {
  wrk_load "$mode" "$((secs + 1))" "$@" > "$dir/wrk.out" 2>&1 &
  wrk_pid=$!
  sleep 0.5
}
