#ifndef ADJOINT_CPARALLEL_H
#define ADJOINT_CPARALLEL_H

/// One iteration of a parallel loop: `context` is the caller's, `iteration` in 0..<count.
typedef void (*adjoint_iteration_fn)(void *context, long iteration);

/// CPUs this process may run on (its affinity mask; at least 1).
int adjoint_available_cpus(void);

/// Runs `fn(context, i)` for every i in 0..<count on the calling thread and the pool's
/// workers (one per other available CPU, started on first use), returning when all have
/// finished. Returns 0, or -1 without running anything when the pool is busy with another
/// caller's loop or has no workers: the caller then runs the iterations itself.
int adjoint_parallel_run(adjoint_iteration_fn fn, void *context, long count);

#endif
