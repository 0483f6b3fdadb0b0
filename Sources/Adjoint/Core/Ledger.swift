import Foundation

/// What a device has done since it was created or last reset: the dispatch ledger.
///
/// Read it with `Device.ledger`; set `ADJOINT_LOG=1` to print events as they happen.
public struct Ledger: Sendable, Equatable, CustomStringConvertible {
    /// Primitive launches (kernels enqueued, or CPU loops run).
    public var launches = 0
    /// Recorded programs replayed with one submission each (jit on devices that record;
    /// `launches` counts their kernels).
    public var recordedReplays = 0
    /// Bytes copied from the host to the device.
    public var bytesToDevice = 0
    /// Bytes copied from the device to the host.
    public var bytesFromDevice = 0
    /// Programs compiled from source.
    public var programsCompiled = 0
    /// Programs loaded from the on-disk binary cache instead of compiled.
    public var programsLoadedFromCache = 0
    /// Calls this device could not run, executed on the CPU instead.
    public var cpuFallbacks = 0
    /// Allocations served from the buffer pool.
    public var poolHits = 0
    /// Allocations that had to ask the device (or malloc) for memory.
    public var poolMisses = 0
    /// Bytes held by live buffers.
    public var liveBytes = 0
    /// The largest `liveBytes` seen.
    public var peakBytes = 0
    /// Bytes parked in the pool for reuse.
    public var pooledBytes = 0
    /// Buffers currently alive.
    public var liveBuffers = 0

    /// An empty ledger.
    public init() {}

    public var description: String {
        "launches \(launches) (\(recordedReplays) recorded replays), to device \(bytesToDevice) B, from device \(bytesFromDevice) B, "
            + "programs compiled \(programsCompiled) (cached \(programsLoadedFromCache)), "
            + "CPU fallbacks \(cpuFallbacks), pool hits \(poolHits) misses \(poolMisses), "
            + "live \(liveBytes) B in \(liveBuffers) buffers, peak \(peakBytes) B, pooled \(pooledBytes) B"
    }
}

/// The launches one task makes, whatever other tasks do meanwhile: a device's `Ledger` is
/// shared by everything that runs on it, so code that must count its own launches (tests
/// of fusion running beside other suites, say) counts them here.
///
/// ```swift
/// let (_, launches) = LaunchCount.counting { _ = try compiled(x).doubles() }
/// ```
public final class LaunchCount: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    /// Launches counted so far.
    public var launches: Int { lock.withLock { value } }

    /// The counter of the running task, if it is counting.
    @TaskLocal static var current: LaunchCount?

    /// Counts `launches` for the running task (called by the backends as they launch).
    static func record(_ launches: Int = 1) { current?.increment(launches) }

    private func increment(_ launches: Int) { lock.withLock { value += launches } }

    /// Runs `body` and returns its result and the launches it made, on any device.
    public static func counting<T>(_ body: () throws -> T) rethrows -> (result: T, launches: Int) {
        let counter = LaunchCount()
        let result = try $current.withValue(counter) { try body() }
        return (result, counter.launches)
    }
}
