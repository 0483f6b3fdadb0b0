// A fixed pool of worker threads for the CPU backend's parallel loops. Workers spin on
// a generation counter for 300 us after each loop (a training step runs a parallel loop
// every few microseconds, and waking a parked thread costs tens of them; the main job's
// MLP step took 0.86-1.16 ms spinning 10-50 us, 0.63-0.65 ms at 300 us to 1 ms), then park
// on a condition variable; ADJOINT_CPU_SPIN_US overrides the spin. Iterations are claimed from an atomic counter, so a caller
// never waits for a worker that has not started.
#define _GNU_SOURCE
#include "CParallel.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    adjoint_iteration_fn fn;
    void *context;
    long count;
    atomic_long next;
    atomic_long finished;
} job_t;

static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
static atomic_long generation;
static atomic_int parked;
static atomic_int attached;
static _Atomic(job_t *) current;
static pthread_once_t start_once = PTHREAD_ONCE_INIT;
static int workers;
static long spin_ns = 300000;

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

int adjoint_available_cpus(void) {
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        int count = CPU_COUNT(&set);
        if (count > 0) return count;
    }
#endif
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

static void run_iterations(job_t *job) {
    for (;;) {
        long i = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed);
        if (i >= job->count) return;
        job->fn(job->context, i);
        atomic_fetch_add_explicit(&job->finished, 1, memory_order_release);
    }
}

static void *worker(void *unused) {
    (void)unused;
    long seen = atomic_load(&generation);
    for (;;) {
        long started = now_ns();
        int spins = 0;
        while (atomic_load_explicit(&generation, memory_order_acquire) == seen) {
            relax();
            if (++spins % 64 != 0 || now_ns() - started < spin_ns) continue;
            pthread_mutex_lock(&park_lock);
            atomic_fetch_add(&parked, 1);
            while (atomic_load(&generation) == seen) pthread_cond_wait(&park_cond, &park_lock);
            atomic_fetch_sub(&parked, 1);
            pthread_mutex_unlock(&park_lock);
        }
        seen = atomic_load(&generation);
        // Attached before reading the job: the caller clears it, then waits for every
        // attached worker to leave, so a job is never read after its caller returns.
        atomic_fetch_add(&attached, 1);
        job_t *job = atomic_load(&current);
        if (job) run_iterations(job);
        atomic_fetch_sub(&attached, 1);
    }
    return NULL;
}

// A forked child has none of the workers (and may have copied a held lock): its loops
// run on the calling thread.
static void forget_workers_after_fork(void) {
    workers = 0;
    atomic_store(&parked, 0);
    atomic_store(&attached, 0);
    atomic_store(&current, NULL);
    pthread_mutex_init(&run_lock, NULL);
    pthread_mutex_init(&park_lock, NULL);
    pthread_cond_init(&park_cond, NULL);
}

static void start_workers(void) {
    pthread_atfork(NULL, NULL, forget_workers_after_fork);
    const char *spin = getenv("ADJOINT_CPU_SPIN_US");
    if (spin) spin_ns = atol(spin) * 1000L;
    int count = adjoint_available_cpus() - 1;
    for (int i = 0; i < count; i++) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&thread, &attributes, worker, NULL) == 0) workers++;
        pthread_attr_destroy(&attributes);
    }
}

int adjoint_parallel_run(adjoint_iteration_fn fn, void *context, long count) {
    pthread_once(&start_once, start_workers);
    if (workers == 0 || pthread_mutex_trylock(&run_lock) != 0) return -1;
    job_t job = {fn, context, count, 0, 0};
    atomic_store(&current, &job);
    atomic_fetch_add(&generation, 1);
    if (atomic_load(&parked) > 0) {
        pthread_mutex_lock(&park_lock);
        pthread_cond_broadcast(&park_cond);
        pthread_mutex_unlock(&park_lock);
    }
    run_iterations(&job);
    while (atomic_load_explicit(&job.finished, memory_order_acquire) < count) relax();
    atomic_store(&current, NULL);
    while (atomic_load(&attached) > 0) relax();
    pthread_mutex_unlock(&run_lock);
    return 0;
}
