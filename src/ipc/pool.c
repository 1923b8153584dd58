#include "ipc/pool.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "ipc/wire.h"

/* ---------------------------------------------------------------- links and regions */

static hw_worker_link* link_new(int sock) {
  hw_worker_link* link = calloc(1, sizeof *link);
  if (!link) return NULL;
  atomic_init(&link->refs, 1);
  pthread_mutex_init(&link->mu, NULL);
  link->sock = sock;
  return link;
}

void hw_link_unref(hw_worker_link* link) {
  if (!link || atomic_fetch_sub(&link->refs, 1) != 1) return;
  pthread_mutex_destroy(&link->mu);
  free(link);
}

int hw_link_send(hw_worker_link* link, hw_msg_type type, const hw_wbuf* payload, int pass_fd, hw_error* err) {
  pthread_mutex_lock(&link->mu);
  int rc = link->sock >= 0 ? hw_wire_send(link->sock, type, payload, pass_fd, err)
                           : hw_error_set(err, "HW_WORKER_LOST", "the worker is gone");
  pthread_mutex_unlock(&link->mu);
  return rc;
}

/* Marks the link dead (no more sends) and closes the socket. */
static void link_close(hw_worker_link* link) {
  pthread_mutex_lock(&link->mu);
  if (link->sock >= 0) close(link->sock);
  link->sock = -1;
  pthread_mutex_unlock(&link->mu);
}

void hw_host_region_unref(hw_host_region* r) {
  if (!r || atomic_fetch_sub(&r->refs, 1) != 1) return;
  hw_region_destroy(&r->region);
  hw_link_unref(r->link);
  free(r);
}

int hw_worker_add_region(hw_worker* w, int32_t id, int fd, size_t capacity, hw_error* err) {
  if (id != w->n_regions) {
    close(fd);
    return hw_error_set(err, "HW_MALFORMED_MESSAGE", "a worker announced region %d out of order", id);
  }
  hw_host_region** grown = realloc(w->regions, sizeof *grown * (size_t)(id + 1));
  hw_host_region* r = calloc(1, sizeof *r);
  if (!grown || !r) {
    if (grown) w->regions = grown;
    free(r);
    close(fd);
    return hw_error_oom(err);
  }
  w->regions = grown;
  if (hw_region_attach(&r->region, id, fd, capacity, err) != 0) {
    free(r);
    return -1;
  }
  atomic_init(&r->refs, 1);
  atomic_fetch_add(&w->link->refs, 1);
  r->link = w->link;
  w->regions[id] = r;
  w->n_regions = id + 1;
  return 0;
}

/* ---------------------------------------------------------------- spawning */

static void describe_status(int status, char* how, size_t size);
static void drop_worker(hw_worker* w);

/* Ends process pid (a worker only the caller signals and reaps) and reaps it: SIGKILL at once if
 * kill_now, else after wait_ms for it to exit by itself. Says how it ended. No lock needed. */
static void reap_process(pid_t pid, bool kill_now, int wait_ms, char* how, size_t how_size) {
  int status = 0;
  pid_t got = 0;
  bool killed = kill_now;
  if (kill_now) kill(pid, SIGKILL);
  for (int waited = 0; !killed; waited += 10) {
    got = waitpid(pid, &status, WNOHANG);
    if (got != 0 && !(got < 0 && errno == EINTR)) break;
    if (waited >= wait_ms) {
      kill(pid, SIGKILL); /* a stopped process dies of it too */
      killed = true;
      break;
    }
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  if (killed) {
    do {
      got = waitpid(pid, &status, 0);
    } while (got < 0 && errno == EINTR);
  }
  if (got == pid) describe_status(status, how, how_size);
  else snprintf(how, how_size, "ended");
}

static int spawn(hw_pool* pool, hw_worker* w, hw_error* err) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    return hw_error_set(err, "HW_WORKER_START", "socketpair failed: %s", strerror(errno));
  char ppid[32];
  snprintf(ppid, sizeof ppid, "%d", (int)getpid());
  char* argv[] = {pool->python, "-m", "headwater.exec._worker", "3", ppid, NULL};
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 3); /* dup2 clears close-on-exec on fd 3 */
  /* and nothing else of the host's reaches the worker (other workers' sockets, descriptors a library
   * opened without close-on-exec): a source that writes to every descriptor can reach only its own
   * socket */
  posix_spawn_file_actions_addclosefrom_np(&actions, 4);
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid;
  int rc = posix_spawn(&pid, pool->python, &actions, &attr, argv, pool->env);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return hw_error_set(err, "HW_WORKER_START", "cannot start worker %s: %s", pool->python, strerror(rc));
  }
  bool claimed = w->claimed; /* a lease outlives the process in the slot */
  memset(w, 0, sizeof *w);
  w->claimed = claimed;
  w->pid = pid;
  w->sock = fds[0];
  w->link = link_new(fds[0]);
  if (!w->link) {
    close(fds[0]);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    w->pid = 0;
    return hw_error_oom(err);
  }
  /* wait for READY */
  hw_msg_type type;
  uint8_t* payload;
  size_t len;
  int fd;
  int got = hw_wire_recv(w->sock, &type, &payload, &len, &fd, NULL, err);
  free(payload);
  if (fd >= 0) close(fd);
  if (got != 0 || type != HW_MSG_READY) {
    char how[128];
    /* one that sent anything but READY is killed, not waited for */
    reap_process(w->pid, got != 1, atomic_load(&pool->cancel_grace_ms), how, sizeof how);
    drop_worker(w);
    return hw_error_set(err, "HW_WORKER_START", "a worker process failed to start: it %s", how);
  }
  return 0;
}

int hw_pool_new(hw_pool** out, int32_t n, const char* python, char* const* env, hw_error* err) {
  hw_pool* pool = calloc(1, sizeof *pool);
  if (!pool) return hw_error_oom(err);
  atomic_init(&pool->refs, 1);
  atomic_init(&pool->cancel_grace_ms, HW_CANCEL_GRACE_MS_DEFAULT);
  pthread_mutex_init(&pool->mu, NULL);
  pthread_cond_init(&pool->freed, NULL);
  pool->n = n;
  pool->workers = calloc((size_t)(n > 0 ? n : 1), sizeof *pool->workers);
  pool->python = strdup(python);
  int n_env = 0;
  while (env && env[n_env]) n_env++;
  pool->env = calloc((size_t)n_env + 1, sizeof *pool->env);
  if (!pool->workers || !pool->python || !pool->env) {
    hw_pool_free(pool);
    return hw_error_oom(err);
  }
  for (int i = 0; i < n_env; i++) {
    pool->env[i] = strdup(env[i]);
    if (!pool->env[i]) {
      hw_pool_free(pool);
      return hw_error_oom(err);
    }
  }
  for (int32_t i = 0; i < n; i++) {
    if (spawn(pool, &pool->workers[i], err) != 0) {
      hw_pool_free(pool);
      return -1;
    }
  }
  *out = pool;
  return 0;
}

int hw_pool_respawn(hw_pool* pool, int32_t i, hw_error* err) {
  if (pool->stopped) return hw_error_set(err, "HW_WORKER_LOST", "the worker pool was stopped");
  if (pool->workers[i].pid) {
    char how[128];
    kill(pool->workers[i].pid, SIGKILL);
    hw_pool_bury(pool, i, how, sizeof how);
  }
  return spawn(pool, &pool->workers[i], err);
}

static void describe_status(int status, char* how, size_t size) {
  if (WIFSIGNALED(status))
    snprintf(how, size, "was killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
  else if (WIFEXITED(status))
    snprintf(how, size, "exited with code %d", WEXITSTATUS(status));
  else
    snprintf(how, size, "ended (status %d)", status);
}

/* Forgets the worker's regions (batches still alive keep their mappings) and its link. */
static void drop_worker(hw_worker* w) {
  for (int32_t k = 0; k < w->n_regions; k++) hw_host_region_unref(w->regions[k]);
  free(w->regions);
  if (w->link) {
    link_close(w->link);
    hw_link_unref(w->link);
  }
  bool claimed = w->claimed; /* a lease outlives the process in the slot */
  memset(w, 0, sizeof *w);
  w->claimed = claimed;
  w->sock = -1;
}

void hw_pool_bury(hw_pool* pool, int32_t i, char* how, size_t how_size) {
  hw_worker* w = &pool->workers[i];
  int status = 0;
  pid_t got;
  do {
    got = waitpid(w->pid, &status, 0);
  } while (got < 0 && errno == EINTR);
  if (got == w->pid) describe_status(status, how, how_size);
  else snprintf(how, how_size, "ended");
  drop_worker(w);
}

void hw_pool_end_worker(hw_pool* pool, int32_t i, pthread_mutex_t* outer, bool kill_now, char* how,
                        size_t how_size) {
  hw_worker* w = &pool->workers[i];
  if (outer) pthread_mutex_lock(outer);
  pthread_mutex_lock(&pool->mu);
  bool stopped = pool->stopped; /* a stopping pool tears the slots down itself */
  pid_t pid = stopped ? 0 : w->pid;
  w->pid = 0; /* ours now: nobody else signals or reaps it */
  pthread_mutex_unlock(&pool->mu);
  if (outer) pthread_mutex_unlock(outer);
  if (stopped || !pid) {
    snprintf(how, how_size, stopped ? "was stopped with its session" : "ended");
    if (stopped) return;
  } else {
    reap_process(pid, kill_now, atomic_load(&pool->cancel_grace_ms), how, how_size);
  }
  if (outer) pthread_mutex_lock(outer);
  pthread_mutex_lock(&pool->mu);
  drop_worker(w); /* (a pool stopped meanwhile skipped this slot: its pid was 0) */
  pthread_mutex_unlock(&pool->mu);
  if (outer) pthread_mutex_unlock(outer);
}

bool hw_wire_garbage(int got, const hw_error* err) {
  return got < 0 && strstr(err->message, "malformed") != NULL;
}

bool hw_pool_alive(hw_pool* pool, int32_t i) {
  hw_worker* w = &pool->workers[i];
  if (!w->pid) return false;
  int status;
  if (waitpid(w->pid, &status, WNOHANG) == w->pid) {
    drop_worker(w);
    return false;
  }
  return true;
}

void hw_pool_ref(hw_pool* pool) { atomic_fetch_add(&pool->refs, 1); }

static void pool_release_memory(hw_pool* pool) {
  free(pool->workers);
  free(pool->python);
  for (int i = 0; pool->env && pool->env[i]; i++) free(pool->env[i]);
  free(pool->env);
  pthread_mutex_destroy(&pool->mu);
  pthread_cond_destroy(&pool->freed);
  free(pool);
}

void hw_pool_unref(hw_pool* pool) {
  if (pool && atomic_fetch_sub(&pool->refs, 1) == 1) pool_release_memory(pool);
}

void hw_pool_free(hw_pool* pool) {
  if (!pool) return;
  pthread_mutex_lock(&pool->mu); /* a scan's proxy that sees a worker die waits for this */
  pool->stopped = true;
  pthread_cond_broadcast(&pool->freed); /* queries waiting for a worker give up */
  hw_error ignored;
  for (int32_t i = 0; pool->workers && i < pool->n; i++)
    if (pool->workers[i].pid) hw_link_send(pool->workers[i].link, HW_MSG_SHUTDOWN, NULL, -1, &ignored);
  /* a grace period to exit, then SIGKILL: every worker is reaped either way */
  for (int32_t i = 0; pool->workers && i < pool->n; i++) {
    hw_worker* w = &pool->workers[i];
    if (!w->pid) continue;
    int status;
    pid_t got = 0;
    for (int tries = 0; tries < 200 && (got = waitpid(w->pid, &status, WNOHANG)) == 0; tries++) {
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
    if (got == 0) {
      kill(w->pid, SIGKILL);
      while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
    drop_worker(w);
  }
  pthread_mutex_unlock(&pool->mu);
  hw_pool_unref(pool);
}
