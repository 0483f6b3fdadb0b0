import Adjoint
import Foundation

extension Workloads {
    /// `LAUNCH`: the host's cost per launch, what bounds a step of many small kernels on
    /// a GPU. W3's step on a 16-wide MLP at batch 4 (kernels too small to keep a device
    /// busy), eager and jitted, called repeatedly without waiting: the time per call over
    /// its launches is the host's work to enqueue one (the device drains the queue at the
    /// end, outside the clock, unless it is slower than the host). `ADJOINT_LAUNCH_CALLS=N`
    /// sets the timed calls (200): two runs under callgrind that differ only in N give the
    /// instructions of one call (docs/PERFORMANCE.md, "Host instructions per launch").
    func launchOverhead() throws {
        let inputs = Tensor.randomNormal([4, 784], seed: 30, on: device)
        let targets = Tensor.randomInt([4], low: 0, high: 10, seed: 31, on: device)
        let eager = MLPStep(on: device, hidden: 16), jitted = Self.jitMLPStep(on: device, hidden: 16)
        for (impl, step) in [(harness.impl, eager.step), (jitImpl, { jitted($0, $1) })] {
            for _ in 0..<5 { _ = step(inputs, targets) }
            try device.synchronize()
            let calls = Int(ProcessInfo.processInfo.environment["ADJOINT_LAUNCH_CALLS"] ?? "") ?? 200
            let (_, launches) = LaunchCount.counting { _ = step(inputs, targets) }
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<calls { _ = step(inputs, targets) }
            let host = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e3 / Double(calls)
            try device.synchronize()
            harness.emit(workload: "LAUNCH", impl: impl, size: [4, 16], extra: [
                "launches_per_call": launches, "host_us_per_call": host.rounded(), "host_us_per_launch": (host / Double(max(launches, 1)) * 10).rounded() / 10,
            ])
        }
    }
}
