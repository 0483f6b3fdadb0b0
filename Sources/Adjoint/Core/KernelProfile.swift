import Foundation

/// Device time per kernel, measured by the device itself (OpenCL profiling events) or, on
/// the CPU backend, by the calling thread's clock around each launch, for finding which
/// kernels a step spends its time in and whether the device sits idle between them
/// (`busySeconds` well under the wall time: the host is the bottleneck).
///
/// Collected only when `ADJOINT_PROFILE=1` is set before a device starts (profiling makes
/// every enqueue return an event, which costs a little); read it with
/// `Device.kernelProfile`, and subtract two snapshots to profile a stretch of work:
///
/// ```swift
/// let before = device.kernelProfile
/// try step(); try device.synchronize()
/// let spent = device.kernelProfile.map { $0 - before! }
/// ```
public struct KernelProfile: Sendable, Equatable {
    /// One kernel's launches and their summed device time.
    public struct Entry: Sendable, Equatable {
        /// Launches of this kernel.
        public var launches = 0
        /// Device nanoseconds from each launch's start to its end, summed.
        public var nanoseconds: UInt64 = 0
    }

    /// Per kernel name (a generated kernel's name is `jit_<hash>`).
    public var kernels: [String: Entry] = [:]
    /// Nanoseconds in which at least one kernel ran (overlaps counted once).
    public var busyNanoseconds: UInt64 = 0

    /// An empty profile.
    public init() {}

    /// Device seconds in which a kernel ran.
    public var busySeconds: Double { Double(busyNanoseconds) / 1e9 }

    /// Adds one finished launch of `name` that ran on the device from `start` to `end`.
    mutating func record(_ name: String, start: UInt64, end: UInt64) {
        let duration = end > start ? end - start : 0
        kernels[name, default: Entry()].launches += 1
        kernels[name, default: Entry()].nanoseconds += duration
    }

    /// What `self` holds beyond `earlier` (a snapshot of the same device taken before).
    public static func - (later: KernelProfile, earlier: KernelProfile) -> KernelProfile {
        var result = KernelProfile()
        for (name, entry) in later.kernels {
            let before = earlier.kernels[name] ?? Entry()
            guard entry.launches > before.launches else { continue }
            result.kernels[name] = Entry(launches: entry.launches - before.launches, nanoseconds: entry.nanoseconds &- before.nanoseconds)
        }
        result.busyNanoseconds = later.busyNanoseconds &- earlier.busyNanoseconds
        return result
    }
}
