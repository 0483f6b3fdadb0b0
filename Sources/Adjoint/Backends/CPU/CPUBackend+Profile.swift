import Foundation

/// `ADJOINT_PROFILE=1` on the CPU: each launch (primitive or fused kernel) timed on the
/// calling thread into the device's `KernelProfile`, named by what it runs and its output
/// shape (`matmul [128, 256]`, `fused(4 ops + reduce.sum) [128, 10]`), so a step's time
/// splits by kernel as it does on OpenCL.
extension CPUBackend {
    /// The device's profile (nil unless profiling).
    public var kernelProfile: KernelProfile? { profiling ? pool.withProfile { $0 } : nil }

    /// Runs `body`, timing it as a launch of `name()` when profiling.
    func timed<T>(_ name: @autoclosure () -> String, _ body: () throws -> T) rethrows -> T {
        guard profiling else { return try body() }
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            let end = DispatchTime.now().uptimeNanoseconds
            let label = name()
            pool.withProfile { profile in
                profile.record(label, start: start, end: end)
                profile.busyNanoseconds += end - start
            }
        }
        return try body()
    }

}
