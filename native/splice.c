/*
 * switchyard's splice(2) passthrough for Linux: one epoll worker thread moves the bytes of handed-over TCP
 * connections between their two sockets through pipes, without copying them into user space.
 *
 * Ownership: add() dup()s both socket fds in the caller's thread; the worker owns the dups (and its pipes) and
 * closes them before it reports a connection done, so JS closing its own fds afterwards is what really closes the
 * sockets (a FIN, or an RST with resetAndDestroy()), and a reused fd number can never receive another
 * connection's bytes. JS never closes its sockets while the worker holds a connection: to stop early it calls
 * abort(id) and waits for the connection's DONE record.
 *
 * Two drivers for the same connection state machine, chosen at init():
 * - worker: one thread waits on the epoll set; add() and abort() reach it through a queue and an eventfd, and its
 *   records reach JS through a thread-safe function. On more than one CPU the bytes move beside the JS thread.
 * - loop: no thread. The epoll set's own fd is watched by the JS thread's libuv loop (uv_poll_t), add() registers
 *   the fds at once, abort() finishes the connection at once, and records reach JS at the end of the callback that
 *   produced them. On one CPU this saves the wake-ups and context switches a thread costs per connection.
 *
 * Per connection: no thread, no pipe while idle. A direction takes a pipe from a capped pool while it has bytes in
 * flight and gives it back when the pipe is empty; with the pool spent it copies through a 64 KiB buffer instead.
 * Idle timeouts and byte counters live here; completions, FINs and counters reach JS in batches through one
 * thread-safe function (records of 10 doubles).
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define SPLICE_LEN (1 << 20)
#define COPY_BUF (64 * 1024)
#define TICK_MS 250
#define POOL_KEEP 64
#define MAX_EVENTS 256

/* record kinds */
enum { K_PROGRESS = 1, K_FIN = 2, K_DONE = 3 };
/* DONE reasons */
enum { R_CLOSED = 0, R_ERROR = 1, R_IDLE = 2, R_ABORTED = 3 };

typedef struct pipe_s {
  int r, w;
  struct pipe_s *next;
} pipe_t;

typedef struct {
  int src, dst; /* 0 = client, 1 = upstream */
  pipe_t *pipe;
  char *buf;
  uint32_t off, len;
  size_t pending;
  uint8_t eof, fin, wait_out;
  uint64_t bytes;
  uint64_t reads; /* reads that moved bytes (the JS path's chunks: the passthrough framer's frames) */
} dir_t;

struct conn;
typedef struct {
  struct conn *c;
  int side;
} fdref_t;

typedef struct conn {
  uint64_t id;
  uint32_t slot;
  int fd[2];
  fdref_t ref[2];
  dir_t d[2];
  uint64_t idle_ms, last_active;
  uint64_t reported[2];
  uint8_t active, closed, registered;
  struct conn *prev, *next; /* live list (worker) */
  struct conn *dead_next;
} conn_t;

#define REC 10

typedef struct {
  double rec[REC]; /* id, kind, up, down, reason, side, errno, flags, reads up, reads down */
  char *pend[2];
  size_t pend_len[2];
} event_t;

typedef struct req {
  int abort;
  uint64_t id;
  conn_t *c;
  struct req *next;
} req_t;

/* ---- shared state ------------------------------------------------------------------------------------ */

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_started = 0;
/* loop driver (see the top): everything below runs on the JS thread */
static int g_loop = 0;
static napi_env g_env = NULL;
static napi_ref g_cb = NULL;
static napi_async_context g_actx = NULL;
static uv_poll_t g_poll;
static uv_timer_t g_timer;
static uv_idle_t g_idle;
static int g_in_poll = 0; /* records emitted now are flushed when the poll callback ends */
static void on_idle(uv_idle_t *h);
static int g_epfd = -1, g_evfd = -1;
static napi_threadsafe_function g_tsfn;
static uint32_t g_max_pipes = 1024;
/* test hook (SWITCHYARD_SPLICE_TEST_ADD_STALL_MS, read at init): add() stalls this long after handing a connection
   to the worker, as a descheduled JS thread would on a busy machine (test/net/splice-race.test.ts) */
static unsigned g_test_add_stall_ms = 0;
/* inbox (JS → worker) */
static req_t *g_in_head = NULL, *g_in_tail = NULL;
/* outbox (worker → JS) */
static event_t *g_out = NULL;
static size_t g_out_len = 0, g_out_cap = 0;
static int g_out_posted = 0;
/* slots: id → conn */
static conn_t **g_slots = NULL;
static uint32_t *g_gen = NULL;
static uint32_t g_nslots = 0;
static uint32_t *g_free = NULL;
static uint32_t g_nfree = 0;
/* JS-thread only */
static uint32_t g_js_live = 0;
/* worker only */
static conn_t *g_live = NULL;
static conn_t *g_dead = NULL;
static uint32_t g_live_count = 0;
static pipe_t *g_pool = NULL;
static uint32_t g_pool_free = 0, g_pipes_total = 0;
/* read by info(): approximate, no lock needed for a report */
static volatile uint32_t g_copy_dirs = 0;
static volatile double g_copy_total = 0;

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- worker → JS ----------------------------------------------------------------------------------- */

static event_t *emit_begin(void) {
  /* g_mu held */
  if (g_out_len == g_out_cap) {
    size_t cap = g_out_cap ? g_out_cap * 2 : 64;
    event_t *n = realloc(g_out, cap * sizeof(event_t));
    if (!n) return NULL;
    g_out = n;
    g_out_cap = cap;
  }
  event_t *e = &g_out[g_out_len++];
  memset(e, 0, sizeof *e);
  return e;
}

static void emit_end(void) {
  /* g_mu held */
  if (!g_out_posted) {
    g_out_posted = 1;
    if (!g_loop) napi_call_threadsafe_function(g_tsfn, NULL, napi_tsfn_nonblocking);
    else if (!g_in_poll) uv_idle_start(&g_idle, on_idle); /* records from add()/abort() go out on the loop's next turn */
  }
}

static void emit_simple(conn_t *c, int kind, double a, double b, double e2, double flags) {
  pthread_mutex_lock(&g_mu);
  event_t *e = emit_begin();
  if (e) {
    e->rec[0] = (double)c->id;
    e->rec[1] = kind;
    e->rec[2] = (double)c->d[0].bytes;
    e->rec[3] = (double)c->d[1].bytes;
    e->rec[4] = a;
    e->rec[5] = b;
    e->rec[6] = e2;
    e->rec[7] = flags;
    e->rec[8] = (double)c->d[0].reads;
    e->rec[9] = (double)c->d[1].reads;
    emit_end();
  }
  pthread_mutex_unlock(&g_mu);
}

/* ---- pipes ---------------------------------------------------------------------------------------------- */

static int acquire(dir_t *d) {
  if (g_pool) {
    d->pipe = g_pool;
    g_pool = g_pool->next;
    g_pool_free--;
    return 0;
  }
  if (g_pipes_total < g_max_pipes) {
    int p[2];
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0) {
      pipe_t *pp = malloc(sizeof *pp);
      if (pp) {
        pp->r = p[0];
        pp->w = p[1];
        d->pipe = pp;
        g_pipes_total++;
        return 0;
      }
      close(p[0]);
      close(p[1]);
    }
  }
  d->buf = malloc(COPY_BUF);
  if (!d->buf) return ENOMEM;
  d->off = d->len = 0;
  g_copy_dirs++;
  g_copy_total++;
  return 0;
}

static void drop_pipe(pipe_t *p) {
  close(p->r);
  close(p->w);
  free(p);
  g_pipes_total--;
}

/* Give an empty direction's pipe or buffer back. */
static void release(dir_t *d) {
  if (d->pipe) {
    if (d->pending == 0 && g_pool_free < POOL_KEEP) {
      d->pipe->next = g_pool;
      g_pool = d->pipe;
      g_pool_free++;
    } else {
      drop_pipe(d->pipe);
    }
    d->pipe = NULL;
  }
  if (d->buf) {
    free(d->buf);
    d->buf = NULL;
    d->off = d->len = 0;
    g_copy_dirs--;
  }
}

/* ---- connections ------------------------------------------------------------------------------------------ */

static void finish(conn_t *c, int reason, int side, int err) {
  if (c->closed) return;
  c->closed = 1;
  event_t ev;
  memset(&ev, 0, sizeof ev);
  for (int i = 0; i < 2; i++) {
    dir_t *d = &c->d[i];
    if (reason == R_ABORTED && d->pending > 0) {
      /* hand the bytes in flight back to JS, which writes them before anything else */
      char *b = malloc(d->pending);
      size_t got = 0;
      if (b) {
        if (d->pipe) {
          while (got < d->pending) {
            ssize_t n = read(d->pipe->r, b + got, d->pending - got);
            if (n > 0) got += (size_t)n;
            else if (n < 0 && errno == EINTR) continue;
            else break;
          }
        } else {
          memcpy(b, d->buf + d->off, d->pending);
          got = d->pending;
        }
        ev.pend[i] = b;
        ev.pend_len[i] = got;
      }
      d->pending -= got; /* anything left (no memory) makes release() close the pipe instead of pooling it */
    }
    release(d);
  }
  if (c->registered) {
    epoll_ctl(g_epfd, EPOLL_CTL_DEL, c->fd[0], NULL);
    epoll_ctl(g_epfd, EPOLL_CTL_DEL, c->fd[1], NULL);
  }
  close(c->fd[0]);
  close(c->fd[1]);
  if (c->registered) {
    if (c->prev) c->prev->next = c->next;
    else g_live = c->next;
    if (c->next) c->next->prev = c->prev;
    g_live_count--;
  }
  c->dead_next = g_dead;
  g_dead = c;
  int flags = (c->d[0].eof ? 1 : 0) | (c->d[1].eof ? 2 : 0) | (c->d[0].fin ? 4 : 0) | (c->d[1].fin ? 8 : 0);
  pthread_mutex_lock(&g_mu);
  g_slots[c->slot] = NULL;
  g_gen[c->slot]++;
  g_free[g_nfree++] = c->slot;
  event_t *e = emit_begin();
  if (e) {
    e->rec[0] = (double)c->id;
    e->rec[1] = K_DONE;
    e->rec[2] = (double)c->d[0].bytes;
    e->rec[3] = (double)c->d[1].bytes;
    e->rec[4] = reason;
    e->rec[5] = side;
    e->rec[6] = err;
    e->rec[7] = flags;
    e->rec[8] = (double)c->d[0].reads;
    e->rec[9] = (double)c->d[1].reads;
    e->pend[0] = ev.pend[0];
    e->pend[1] = ev.pend[1];
    e->pend_len[0] = ev.pend_len[0];
    e->pend_len[1] = ev.pend_len[1];
    emit_end();
  } else {
    free(ev.pend[0]);
    free(ev.pend[1]);
  }
  pthread_mutex_unlock(&g_mu);
}

/* Move what can move in direction `di` now. Returns 1 when the connection finished (do not touch it again). */
static int pump(conn_t *c, int di) {
  dir_t *d = &c->d[di];
  int src = c->fd[d->src], dst = c->fd[d->dst];
  for (;;) {
    int progressed = 0;
    if (d->pending > 0) {
      ssize_t n = d->pipe ? splice(d->pipe->r, NULL, dst, NULL, d->pending, SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
                          : write(dst, d->buf + d->off, d->pending);
      if (n > 0) {
        d->pending -= (size_t)n;
        if (!d->pipe) d->off += (uint32_t)n;
        d->wait_out = 0;
        progressed = 1;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        d->wait_out = 1;
        return 0;
      } else {
        finish(c, R_ERROR, d->dst, n < 0 ? errno : EPIPE);
        return 1;
      }
      if (d->pending > 0) continue; /* a copy buffer is written out before it is filled again */
    }
    /* nothing in flight */
    if (d->eof) {
      release(d);
      if (!d->fin) {
        d->fin = 1;
        shutdown(dst, SHUT_WR);
        emit_simple(c, K_FIN, di, 0, 0, 0);
      }
      return 0;
    }
    if (!d->pipe && !d->buf) {
      int e = acquire(d);
      if (e) {
        finish(c, R_ERROR, -1, e);
        return 1;
      }
    }
    ssize_t n;
    if (d->pipe) {
      n = splice(src, NULL, d->pipe->w, NULL, SPLICE_LEN, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    } else {
      d->off = 0;
      n = read(src, d->buf, COPY_BUF);
    }
    if (n > 0) {
      d->pending += (size_t)n;
      d->bytes += (uint64_t)n;
      d->reads++;
      c->active = 1;
      progressed = 1;
    } else if (n == 0) {
      d->eof = 1;
      progressed = 1;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      /* no input (or a pipe that reports full): wait for the next edge */
      if (d->pending == 0) release(d);
      return 0;
    } else {
      finish(c, R_ERROR, d->src, errno);
      return 1;
    }
    if (!progressed) return 0;
  }
}

static void on_event(fdref_t *ref, uint32_t ev) {
  conn_t *c = ref->c;
  if (c->closed) return;
  int side = ref->side;
  if (ev & EPOLLERR) {
    int e = 0;
    socklen_t l = sizeof e;
    if (getsockopt(c->fd[side], SOL_SOCKET, SO_ERROR, &e, &l) == 0 && e != 0) {
      finish(c, R_ERROR, side, e);
      return;
    }
  }
  dir_t *in = &c->d[side];      /* this socket is its source */
  dir_t *out = &c->d[1 - side]; /* this socket is its destination */
  if ((ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && !in->eof && !in->wait_out) {
    if (pump(c, side)) return;
  }
  if ((ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && out->wait_out) {
    if (pump(c, 1 - side)) return;
  }
  if (c->d[0].fin && c->d[1].fin) finish(c, R_CLOSED, -1, 0);
}

static void on_timer(uv_timer_t *t);

static void register_conn(conn_t *c) {
  c->last_active = now_ms();
  for (int i = 0; i < 2; i++) {
    struct epoll_event ev;
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = &c->ref[i];
    if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, c->fd[i], &ev) != 0) {
      int e = errno;
      if (i == 1) epoll_ctl(g_epfd, EPOLL_CTL_DEL, c->fd[0], NULL);
      finish(c, R_ERROR, -1, e);
      return;
    }
  }
  c->registered = 1;
  c->prev = NULL;
  c->next = g_live;
  if (g_live) g_live->prev = c;
  g_live = c;
  if (g_live_count++ == 0 && g_loop) uv_timer_start(&g_timer, on_timer, TICK_MS, TICK_MS);
}

static void process_inbox(void) {
  uint64_t v;
  while (read(g_evfd, &v, sizeof v) < 0 && errno == EINTR) {
  }
  pthread_mutex_lock(&g_mu);
  req_t *r = g_in_head;
  g_in_head = g_in_tail = NULL;
  pthread_mutex_unlock(&g_mu);
  while (r) {
    req_t *next = r->next;
    if (!r->abort) {
      register_conn(r->c);
    } else {
      conn_t *c = NULL;
      uint32_t slot = (uint32_t)(r->id & 0xffffffu);
      pthread_mutex_lock(&g_mu);
      if (slot < g_nslots && g_slots[slot] && g_slots[slot]->id == r->id) c = g_slots[slot];
      pthread_mutex_unlock(&g_mu);
      if (c && !c->closed) finish(c, R_ABORTED, -1, 0);
    }
    free(r);
    r = next;
  }
}

static void tick(uint64_t now) {
  conn_t *c = g_live;
  while (c) {
    conn_t *next = c->next;
    if (c->reported[0] != c->d[0].bytes || c->reported[1] != c->d[1].bytes) {
      c->reported[0] = c->d[0].bytes;
      c->reported[1] = c->d[1].bytes;
      emit_simple(c, K_PROGRESS, 0, 0, 0, 0);
    }
    if (c->active) {
      c->active = 0;
      c->last_active = now;
    } else if (c->idle_ms > 0 && now - c->last_active >= c->idle_ms) {
      finish(c, R_IDLE, -1, 0);
    }
    c = next;
  }
}

/* Connections finished during the last batch of events: no event of that batch can reach them any more. */
static void free_dead(void) {
  while (g_dead) {
    conn_t *d = g_dead;
    g_dead = d->dead_next;
    free(d);
  }
}

static void *worker_main(void *arg) {
  (void)arg;
  struct epoll_event evs[MAX_EVENTS];
  uint64_t next_tick = now_ms() + TICK_MS;
  for (;;) {
    int timeout = -1;
    if (g_live_count > 0) {
      uint64_t now = now_ms();
      timeout = now >= next_tick ? 0 : (int)(next_tick - now);
    }
    int n = epoll_wait(g_epfd, evs, MAX_EVENTS, timeout);
    for (int i = 0; i < n; i++) {
      if (evs[i].data.ptr == NULL) process_inbox();
      else on_event((fdref_t *)evs[i].data.ptr, evs[i].events);
    }
    uint64_t now = now_ms();
    if (g_live_count > 0 && now >= next_tick) {
      tick(now);
      next_tick = now + TICK_MS;
    } else if (g_live_count == 0) {
      next_tick = now + TICK_MS;
    }
    free_dead();
  }
  return NULL;
}

/* ---- JS side ---------------------------------------------------------------------------------------------- */

static void free_buf(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

/* The callback's two arguments from the outbox (JS thread): 0 when there is nothing to deliver (or no env). */
static int build_args(napi_env env, napi_value argv[2]) {
  pthread_mutex_lock(&g_mu);
  event_t *evs = g_out;
  size_t n = g_out_len;
  g_out = NULL;
  g_out_len = g_out_cap = 0;
  g_out_posted = 0;
  pthread_mutex_unlock(&g_mu);
  if (env == NULL || n == 0) {
    for (size_t i = 0; i < n; i++) {
      free(evs[i].pend[0]);
      free(evs[i].pend[1]);
    }
    free(evs);
    return 0;
  }
  napi_value ab, arr, bufs, undef;
  void *raw;
  napi_get_undefined(env, &undef);
  napi_create_arraybuffer(env, n * REC * sizeof(double), &raw, &ab);
  double *out = raw;
  int any = 0;
  uint32_t done = 0;
  for (size_t i = 0; i < n; i++) {
    memcpy(out + i * REC, evs[i].rec, REC * sizeof(double));
    if (evs[i].pend[0] || evs[i].pend[1]) any = 1;
    if (evs[i].rec[1] == K_DONE) done++;
  }
  napi_create_typedarray(env, napi_float64_array, n * REC, ab, 0, &arr);
  bufs = undef;
  if (any) {
    napi_create_array_with_length(env, n * 2, &bufs);
    for (size_t i = 0; i < n; i++) {
      for (int k = 0; k < 2; k++) {
        if (!evs[i].pend[k]) continue;
        napi_value b;
        if (napi_create_external_buffer(env, evs[i].pend_len[k], evs[i].pend[k], free_buf, NULL, &b) != napi_ok) {
          napi_create_buffer_copy(env, evs[i].pend_len[k], evs[i].pend[k], NULL, &b);
          free(evs[i].pend[k]);
        }
        napi_set_element(env, bufs, (uint32_t)(i * 2 + k), b);
      }
    }
  }
  free(evs);
  g_js_live -= done;
  if (g_js_live == 0) {
    /* nothing handed over is pending: the addon no longer keeps the process alive */
    if (g_loop) uv_unref((uv_handle_t *)&g_poll);
    else napi_unref_threadsafe_function(env, g_tsfn);
  }
  argv[0] = arr;
  argv[1] = bufs;
  return 1;
}

/* worker driver: the thread-safe function's call on the JS thread */
static void call_js(napi_env env, napi_value cb, void *context, void *data) {
  (void)context;
  (void)data;
  napi_value argv[2], global;
  if (!build_args(env, argv)) return;
  napi_get_global(env, &global);
  napi_call_function(env, global, cb, 2, argv, NULL);
}

/* loop driver: deliver the outbox from a libuv callback (no JS on the stack), as a top-level callback */
static void flush_js(void) {
  free_dead();
  if (g_out_len == 0 || g_env == NULL) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(g_env, &scope) != napi_ok) return;
  napi_value argv[2], cb, global;
  if (build_args(g_env, argv) && napi_get_reference_value(g_env, g_cb, &cb) == napi_ok) {
    napi_get_global(g_env, &global);
    if (napi_make_callback(g_env, g_actx, global, cb, 2, argv, NULL) == napi_pending_exception) {
      napi_value err;
      if (napi_get_and_clear_last_exception(g_env, &err) == napi_ok) napi_fatal_exception(g_env, err);
    }
  }
  napi_close_handle_scope(g_env, scope);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)h;
  (void)status;
  (void)events;
  struct epoll_event evs[MAX_EVENTS];
  g_in_poll = 1;
  int n = epoll_wait(g_epfd, evs, MAX_EVENTS, 0);
  for (int i = 0; i < n; i++) on_event((fdref_t *)evs[i].data.ptr, evs[i].events);
  g_in_poll = 0;
  flush_js();
}

static void on_timer(uv_timer_t *t) {
  (void)t;
  g_in_poll = 1;
  if (g_live_count > 0) tick(now_ms());
  g_in_poll = 0;
  if (g_live_count == 0) uv_timer_stop(&g_timer);
  flush_js();
}

static void on_idle(uv_idle_t *h) {
  uv_idle_stop(h);
  flush_js();
}

/* The JS environment goes away (process exit, a worker thread ending): stop watching from its loop. */
static void loop_cleanup(void *arg) {
  (void)arg;
  uv_poll_stop(&g_poll);
  uv_timer_stop(&g_timer);
  uv_idle_stop(&g_idle);
  uv_close((uv_handle_t *)&g_poll, NULL);
  uv_close((uv_handle_t *)&g_timer, NULL);
  uv_close((uv_handle_t *)&g_idle, NULL);
  g_env = NULL;
}

static napi_value throw_errno(napi_env env, const char *what, int e) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(e));
  napi_throw_error(env, "SWY_SPLICE", msg);
  return NULL;
}

/* init(callback, maxPipes, driver): driver 0 starts the worker thread, 1 watches the epoll set from the caller's
   libuv loop (see the top). Once per process. */
static napi_value js_init(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (g_started) {
    napi_throw_error(env, "SWY_SPLICE", "splice worker already started");
    return NULL;
  }
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "init(callback, maxPipes, driver)");
    return NULL;
  }
  if (argc > 1) {
    uint32_t m;
    if (napi_get_value_uint32(env, argv[1], &m) == napi_ok) g_max_pipes = m;
  }
  uint32_t driver = 0;
  if (argc > 2 && napi_get_value_uint32(env, argv[2], &driver) != napi_ok) driver = 0;
  const char *stall = getenv("SWITCHYARD_SPLICE_TEST_ADD_STALL_MS");
  if (stall != NULL) g_test_add_stall_ms = (unsigned)strtoul(stall, NULL, 10);
  g_epfd = epoll_create1(EPOLL_CLOEXEC);
  if (g_epfd < 0) return throw_errno(env, "epoll_create1", errno);
  if (driver == 1) {
    uv_loop_t *loop;
    napi_value resource, name;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || napi_create_reference(env, argv[0], 1, &g_cb) != napi_ok) {
      close(g_epfd);
      napi_throw_error(env, "SWY_SPLICE", "cannot reach the event loop");
      return NULL;
    }
    napi_create_object(env, &resource);
    napi_create_string_utf8(env, "switchyard-splice", NAPI_AUTO_LENGTH, &name);
    napi_async_init(env, resource, name, &g_actx);
    int e = uv_poll_init(loop, &g_poll, g_epfd);
    if (e == 0) e = uv_poll_start(&g_poll, UV_READABLE, on_poll);
    if (e != 0) {
      close(g_epfd);
      napi_throw_error(env, "SWY_SPLICE", uv_strerror(e));
      return NULL;
    }
    uv_unref((uv_handle_t *)&g_poll);
    uv_timer_init(loop, &g_timer);
    uv_unref((uv_handle_t *)&g_timer);
    uv_idle_init(loop, &g_idle);
    g_env = env;
    g_loop = 1;
    napi_add_env_cleanup_hook(env, loop_cleanup, NULL);
    g_started = 1;
    return NULL;
  }
  g_evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (g_evfd < 0) {
    close(g_epfd);
    return throw_errno(env, "eventfd", errno);
  }
  struct epoll_event ev;
  ev.events = EPOLLIN;
  ev.data.ptr = NULL;
  if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, g_evfd, &ev) != 0) return throw_errno(env, "epoll_ctl", errno);
  napi_value name;
  napi_create_string_utf8(env, "switchyard-splice", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &g_tsfn) != napi_ok) {
    napi_throw_error(env, "SWY_SPLICE", "cannot create the completion function");
    return NULL;
  }
  napi_unref_threadsafe_function(env, g_tsfn);
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int e = pthread_create(&t, &attr, worker_main, NULL);
  pthread_attr_destroy(&attr);
  if (e != 0) return throw_errno(env, "pthread_create", e);
  g_started = 1;
  return NULL;
}

static void wake(void) {
  uint64_t one = 1;
  while (write(g_evfd, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

/* add(clientFd, upstreamFd, idleMs) → id. Dups both fds now; the worker takes the connection over. */
static napi_value js_add(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fa, fb;
  double idle = 0;
  if (!g_started || argc < 3 || napi_get_value_int32(env, argv[0], &fa) != napi_ok || napi_get_value_int32(env, argv[1], &fb) != napi_ok ||
      napi_get_value_double(env, argv[2], &idle) != napi_ok || fa < 0 || fb < 0) {
    napi_throw_type_error(env, NULL, "add(clientFd, upstreamFd, idleMs) after init()");
    return NULL;
  }
  conn_t *c = calloc(1, sizeof *c);
  req_t *r = g_loop ? NULL : calloc(1, sizeof *r);
  if (!c || (!g_loop && !r)) {
    free(c);
    free(r);
    return throw_errno(env, "add", ENOMEM);
  }
  c->fd[0] = fcntl(fa, F_DUPFD_CLOEXEC, 0);
  if (c->fd[0] < 0) {
    int e = errno;
    free(c);
    free(r);
    return throw_errno(env, "dup", e);
  }
  c->fd[1] = fcntl(fb, F_DUPFD_CLOEXEC, 0);
  if (c->fd[1] < 0) {
    int e = errno;
    close(c->fd[0]);
    free(c);
    free(r);
    return throw_errno(env, "dup", e);
  }
  c->idle_ms = idle > 0 ? (uint64_t)idle : 0;
  c->d[0].src = 0;
  c->d[0].dst = 1;
  c->d[1].src = 1;
  c->d[1].dst = 0;
  c->ref[0].c = c;
  c->ref[0].side = 0;
  c->ref[1].c = c;
  c->ref[1].side = 1;
  pthread_mutex_lock(&g_mu);
  uint32_t slot;
  if (g_nfree > 0) {
    slot = g_free[--g_nfree];
  } else {
    if (g_nslots >= 0xffffffu) {
      pthread_mutex_unlock(&g_mu);
      close(c->fd[0]);
      close(c->fd[1]);
      free(c);
      free(r);
      return throw_errno(env, "add", EMFILE);
    }
    uint32_t cap = g_nslots ? g_nslots * 2 : 256;
    conn_t **ns = realloc(g_slots, cap * sizeof *ns);
    uint32_t *ng = ns ? realloc(g_gen, cap * sizeof *ng) : NULL;
    uint32_t *nf = ng ? realloc(g_free, cap * sizeof *nf) : NULL;
    if (ns) g_slots = ns;
    if (ng) g_gen = ng;
    if (nf) g_free = nf;
    if (!ns || !ng || !nf) {
      pthread_mutex_unlock(&g_mu);
      close(c->fd[0]);
      close(c->fd[1]);
      free(c);
      free(r);
      return throw_errno(env, "add", ENOMEM);
    }
    for (uint32_t i = g_nslots; i < cap; i++) {
      g_slots[i] = NULL;
      g_gen[i] = 0;
    }
    /* hand out the new slots from the lowest */
    for (uint32_t i = cap; i > g_nslots + 1; i--) g_free[g_nfree++] = i - 1;
    slot = g_nslots;
    g_nslots = cap;
  }
  c->slot = slot;
  c->id = (uint64_t)(g_gen[slot] & 0x1fffffffu) * 0x1000000u + slot;
  g_slots[slot] = c;
  /* c belongs to the worker once it is in the inbox: it may register, finish and free it before this thread runs
     again (a short connection on a busy machine), so nothing here reads c after the unlock */
  const uint64_t cid = c->id;
  if (g_loop) {
    pthread_mutex_unlock(&g_mu);
    if (g_js_live++ == 0) uv_ref((uv_handle_t *)&g_poll);
    register_conn(c); /* a failure is reported as the connection's DONE record, on the loop's next turn */
    napi_value id;
    napi_create_double(env, (double)cid, &id);
    return id;
  }
  r->c = c;
  if (g_in_tail) g_in_tail->next = r;
  else g_in_head = r;
  g_in_tail = r;
  pthread_mutex_unlock(&g_mu);
  if (g_js_live++ == 0) napi_ref_threadsafe_function(env, g_tsfn);
  wake();
  if (g_test_add_stall_ms > 0) {
    struct timespec ts = {g_test_add_stall_ms / 1000, (long)(g_test_add_stall_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
  }
  napi_value id;
  napi_create_double(env, (double)cid, &id);
  return id;
}

/* abort(id): stop moving bytes; the connection's DONE record (reason aborted) carries the bytes in flight. */
static napi_value js_abort(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  double id;
  if (!g_started || argc < 1 || napi_get_value_double(env, argv[0], &id) != napi_ok) {
    napi_throw_type_error(env, NULL, "abort(id) after init()");
    return NULL;
  }
  if (g_loop) {
    uint64_t want = (uint64_t)id;
    uint32_t slot = (uint32_t)(want & 0xffffffu);
    conn_t *c = slot < g_nslots && g_slots[slot] && g_slots[slot]->id == want ? g_slots[slot] : NULL;
    if (c && !c->closed) finish(c, R_ABORTED, -1, 0); /* its DONE record goes out on the loop's next turn */
    return NULL;
  }
  req_t *r = calloc(1, sizeof *r);
  if (!r) return throw_errno(env, "abort", ENOMEM);
  r->abort = 1;
  r->id = (uint64_t)id;
  pthread_mutex_lock(&g_mu);
  if (g_in_tail) g_in_tail->next = r;
  else g_in_head = r;
  g_in_tail = r;
  pthread_mutex_unlock(&g_mu);
  wake();
  return NULL;
}

/* info() → { connections, pipes, freePipes, maxPipes, copyDirections, copyFallbacks } (approximate; tests, debugging). */
static napi_value js_info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value o, v;
  napi_create_object(env, &o);
  napi_create_uint32(env, g_js_live, &v);
  napi_set_named_property(env, o, "connections", v);
  napi_create_uint32(env, g_pipes_total, &v);
  napi_set_named_property(env, o, "pipes", v);
  napi_create_uint32(env, g_pool_free, &v);
  napi_set_named_property(env, o, "freePipes", v);
  napi_create_uint32(env, g_max_pipes, &v);
  napi_set_named_property(env, o, "maxPipes", v);
  napi_create_uint32(env, g_copy_dirs, &v);
  napi_set_named_property(env, o, "copyDirections", v);
  napi_create_double(env, g_copy_total, &v);
  napi_set_named_property(env, o, "copyFallbacks", v);
  return o;
}

static napi_value init_module(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"init", NULL, js_init, NULL, NULL, NULL, napi_default, NULL},
      {"add", NULL, js_add, NULL, NULL, NULL, napi_default, NULL},
      {"abort", NULL, js_abort, NULL, NULL, NULL, napi_default, NULL},
      {"info", NULL, js_info, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init_module)
