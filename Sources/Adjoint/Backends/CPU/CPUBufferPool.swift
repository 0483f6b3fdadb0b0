import Foundation

/// A size-bucketed free list of host memory, and the CPU backend's ledger.
///
/// Both live behind one lock: every allocation and release updates the statistics, and
/// buffers die on arbitrary threads.
final class CPUBufferPool: @unchecked Sendable {
    /// Memory is aligned for the widest vector loads (AVX-512) and cache lines.
    static let alignment = 64
    /// Requests below this are served from the smallest bucket.
    static let minimumBucketBytes = 256

    /// The most bytes kept parked for reuse; memory released beyond it is freed.
    let capacityBytes: Int

    private let lock = NSLock()
    private var freeLists: [Int: [UnsafeMutableRawPointer]] = [:]
    private var statistics = Ledger()

    /// A pool that keeps at most `capacityBytes` parked (default: 2 GiB or a quarter of
    /// physical memory, whichever is smaller).
    init(capacityBytes: Int? = nil) {
        let quarterOfMemory = Int(clamping: ProcessInfo.processInfo.physicalMemory / 4)
        self.capacityBytes = capacityBytes ?? min(2 << 30, quarterOfMemory)
    }

    deinit {
        for pointers in freeLists.values {
            for pointer in pointers { free(pointer) }
        }
    }

    /// The bucket a request of `byteCount` bytes is rounded up to: powers of two with
    /// three steps between them (at most 25% waste), never below `minimumBucketBytes`.
    static func bucketBytes(for byteCount: Int) -> Int {
        if byteCount <= minimumBucketBytes { return minimumBucketBytes }
        let previousPowerOfTwo = 1 << (Int.bitWidth - 1 - (byteCount - 1).leadingZeroBitCount)
        let step = previousPowerOfTwo / 4
        return (byteCount + step - 1) / step * step
    }

    /// A buffer of at least `byteCount` bytes, from the pool when one is parked; nil when
    /// the system has no memory left even after the pool was emptied.
    func makeBuffer(byteCount: Int) -> CPUBuffer? {
        precondition(byteCount >= 0, "CPU allocate: negative byte count \(byteCount)")
        let bucket = CPUBufferPool.bucketBytes(for: byteCount)
        lock.lock()
        if let pointer = freeLists[bucket]?.popLast() {
            statistics.poolHits += 1
            statistics.pooledBytes -= bucket
            recordLive(bucket)
            lock.unlock()
            return CPUBuffer(pointer: pointer, byteCount: bucket, pool: self)
        }
        statistics.poolMisses += 1
        lock.unlock()

        guard let pointer = CPUBufferPool.systemAllocate(bucket) ?? retryAfterEmptying(bucket) else { return nil }
        lock.lock()
        recordLive(bucket)
        lock.unlock()
        return CPUBuffer(pointer: pointer, byteCount: bucket, pool: self)
    }

    private func retryAfterEmptying(_ bucket: Int) -> UnsafeMutableRawPointer? {
        empty()
        return CPUBufferPool.systemAllocate(bucket)
    }

    private static func systemAllocate(_ byteCount: Int) -> UnsafeMutableRawPointer? {
        var pointer: UnsafeMutableRawPointer?
        guard posix_memalign(&pointer, alignment, byteCount) == 0 else { return nil }
        return pointer
    }

    /// Must be called with the lock held.
    private func recordLive(_ bucket: Int) {
        statistics.liveBytes += bucket
        statistics.liveBuffers += 1
        statistics.peakBytes = max(statistics.peakBytes, statistics.liveBytes)
    }

    /// Takes back the memory of a dead buffer: parks it, or frees it when the pool is full.
    func recycle(_ pointer: UnsafeMutableRawPointer, bucketBytes bucket: Int) {
        lock.lock()
        statistics.liveBytes -= bucket
        statistics.liveBuffers -= 1
        let keep = statistics.pooledBytes + bucket <= capacityBytes
        if keep {
            freeLists[bucket, default: []].append(pointer)
            statistics.pooledBytes += bucket
        }
        lock.unlock()
        if !keep { free(pointer) }
    }

    /// Frees every parked buffer.
    func empty() {
        lock.lock()
        let parked = freeLists
        freeLists.removeAll()
        statistics.pooledBytes = 0
        lock.unlock()
        for pointers in parked.values {
            for pointer in pointers { free(pointer) }
        }
    }

    /// A copy of the statistics.
    var ledger: Ledger {
        lock.lock()
        defer { lock.unlock() }
        return statistics
    }

    /// Applies `update` to the statistics under the lock.
    func record(_ update: (inout Ledger) -> Void) {
        lock.lock()
        update(&statistics)
        lock.unlock()
    }

    /// The CPU backend's kernel profile (`ADJOINT_PROFILE=1`), under the same lock.
    private var profile = KernelProfile()

    func withProfile<T>(_ body: (inout KernelProfile) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&profile)
    }
}
