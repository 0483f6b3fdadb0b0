import COpenCL
import Foundation

/// Device memory from an `OpenCLBackend`: one `cl_mem`. When the last reference goes
/// away the `cl_mem` goes back to the backend's pool for reuse.
final class OpenCLBuffer: DeviceBuffer, @unchecked Sendable {
    /// The memory object (never released while this buffer is alive).
    let mem: cl_mem
    /// The bucket size actually allocated (at least what was asked for, never 0).
    let byteCount: Int
    private let pool: OpenCLBufferPool

    init(mem: cl_mem, byteCount: Int, pool: OpenCLBufferPool) {
        self.mem = mem
        self.byteCount = byteCount
        self.pool = pool
    }

    deinit { pool.recycle(mem, byteCount: byteCount) }
}

/// A size-bucketed cache of `cl_mem` objects, plus the memory half of the ledger.
///
/// Shares the backend's lock (recursive, because a buffer may die while the backend
/// holds it). Freed buffers park here by bucket size until reused, `empty()`, or until
/// parking one would push the pool over `capacity`, in which case it is released.
final class OpenCLBufferPool: @unchecked Sendable {
    private let context: cl_context
    private let lock: NSRecursiveLock
    /// Parked memory objects per bucket size.
    private var free: [Int: [cl_mem]] = [:]
    /// Most bytes kept parked.
    let capacity: Int
    /// Memory counters (liveBytes, peakBytes, pooledBytes, liveBuffers, poolHits, poolMisses).
    var stats = Ledger()

    init(context: cl_context, lock: NSRecursiveLock, capacity: Int) {
        self.context = context
        self.lock = lock
        self.capacity = capacity
        clRetainContext(context)
    }

    /// The bucket a request of `byteCount` bytes is served from: powers of two up to 1 KiB
    /// (at least 64 bytes, so zero-byte buffers are real), then eighths of a power of two
    /// (at most 12.5% waste).
    static func bucket(for byteCount: Int) -> Int {
        if byteCount <= 64 { return 64 }
        var power = 1
        while power < byteCount { power <<= 1 }
        if power <= 1024 { return power }
        let step = power / 8
        return (byteCount + step - 1) / step * step
    }

    /// A buffer of at least `byteCount` bytes: parked memory of the same bucket, else a
    /// new `cl_mem`. On allocation failure empties the pool and retries once.
    func allocate(byteCount: Int, deviceName: @autoclosure () -> String) throws -> OpenCLBuffer {
        let size = OpenCLBufferPool.bucket(for: byteCount)
        lock.lock()
        defer { lock.unlock() }
        // Popped in place: a copy of the bucket's array would be copied again to mutate.
        if let mem = free[size]?.popLast() {
            stats.poolHits += 1
            stats.pooledBytes -= size
            return track(mem, size)
        }
        stats.poolMisses += 1
        var lastStatus: cl_int = CL_SUCCESS
        for attempt in 0..<2 {
            var status: cl_int = CL_SUCCESS
            let mem = clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE), size, nil, &status)
            if status == CL_SUCCESS, let mem { return track(mem, size) }
            lastStatus = status
            guard OpenCLBufferPool.isOutOfMemory(status) else { break }
            if attempt == 0 { emptyLocked() }
        }
        if OpenCLBufferPool.isOutOfMemory(lastStatus) {
            throw AdjointError.outOfMemory(device: deviceName(), bytes: byteCount)
        }
        throw OpenCLStatus.error(lastStatus, "clCreateBuffer(\(size) bytes)")
    }

    /// Allocation statuses that mean "no memory" (including a size over the device's
    /// largest allocation).
    static func isOutOfMemory(_ status: cl_int) -> Bool {
        status == CL_MEM_OBJECT_ALLOCATION_FAILURE || status == CL_OUT_OF_RESOURCES
            || status == CL_OUT_OF_HOST_MEMORY || status == CL_INVALID_BUFFER_SIZE
    }

    private func track(_ mem: cl_mem, _ size: Int) -> OpenCLBuffer {
        stats.liveBytes += size
        stats.liveBuffers += 1
        stats.peakBytes = max(stats.peakBytes, stats.liveBytes)
        return OpenCLBuffer(mem: mem, byteCount: size, pool: self)
    }

    /// Takes back the memory of a dead buffer. (Pending kernels that use it finish first:
    /// the queue is in order, and clReleaseMemObject defers the free until they do.)
    func recycle(_ mem: cl_mem, byteCount: Int) {
        lock.lock()
        defer { lock.unlock() }
        stats.liveBytes -= byteCount
        stats.liveBuffers -= 1
        if stats.pooledBytes + byteCount > capacity {
            clReleaseMemObject(mem)
            return
        }
        free[byteCount, default: []].append(mem)
        stats.pooledBytes += byteCount
    }

    /// Releases every parked `cl_mem`.
    func empty() {
        lock.lock()
        defer { lock.unlock() }
        emptyLocked()
    }

    private func emptyLocked() {
        for (_, list) in free { for mem in list { clReleaseMemObject(mem) } }
        free.removeAll()
        stats.pooledBytes = 0
    }

    deinit {
        emptyLocked()
        clReleaseContext(context)
    }
}
