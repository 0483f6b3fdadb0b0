import Adjoint
import Foundation

/// Timing and reporting shared by the workloads: warm-up, repetitions, a device
/// synchronization before each clock read, median and min, one JSON line per result.
struct Harness {
    /// The device measured.
    let device: Device
    /// Timed repetitions (at least this many).
    let repetitions: Int
    /// Untimed warm-up runs.
    let warmup: Int

    /// Median and min milliseconds of `body` over the repetitions.
    func time(repetitions override: Int? = nil, _ body: () throws -> Void) throws -> (median: Double, min: Double) {
        try timeWithLedger(repetitions: override, body).timing
    }

    /// Timing plus what the device's ledger saw per call: primitive launches, and the
    /// fraction of allocations served by the buffer pool.
    func timeWithLedger(repetitions override: Int? = nil, _ body: () throws -> Void) throws -> (timing: (median: Double, min: Double), ledger: [String: Any]) {
        for _ in 0..<warmup { try body() }
        try device.synchronize()
        let before = device.ledger
        let profileBefore = device.kernelProfile
        let count = override ?? repetitions
        var samples: [Double] = []
        for _ in 0..<count {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            try device.synchronize()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        samples.sort()
        let after = device.ledger
        let allocations = (after.poolHits - before.poolHits) + (after.poolMisses - before.poolMisses)
        var ledger: [String: Any] = [
            "launches_per_call": (after.launches - before.launches) / Swift.max(count, 1),
            "pool_hit_rate": allocations == 0 ? 1.0 : (Double(after.poolHits - before.poolHits) / Double(allocations) * 1000).rounded() / 1000,
            "cpu_fallbacks": after.cpuFallbacks - before.cpuFallbacks,
        ]
        if after.recordedReplays > before.recordedReplays {
            ledger["recorded_replays_per_call"] = Double(after.recordedReplays - before.recordedReplays) / Double(Swift.max(count, 1))
        }
        if let profileBefore, let profileAfter = device.kernelProfile {
            for (key, value) in Harness.profileFields(profileAfter - profileBefore, calls: count) { ledger[key] = value }
        }
        return ((samples[samples.count / 2], samples[0]), ledger)
    }

    /// `ADJOINT_PROFILE=1`: device milliseconds per call in which some kernel ran, and the
    /// ten kernels with the most device time ("name ×launches µs", per call).
    static func profileFields(_ profile: KernelProfile, calls: Int) -> [String: Any] {
        let calls = Double(Swift.max(calls, 1))
        let top = profile.kernels.sorted { $0.value.nanoseconds > $1.value.nanoseconds }.prefix(10).map { name, entry in
            "\(name) ×\(Double(entry.launches) / calls) \((Double(entry.nanoseconds) / calls / 1e3).rounded())µs"
        }
        return ["device_busy_ms": (profile.busySeconds * 1e3 / calls * 1000).rounded() / 1000, "top_kernels": top]
    }

    /// Prints one JSON line in the shared format.
    func emit(workload: String, impl: String, size: Any, median: Double? = nil, min: Double? = nil, extra: [String: Any] = [:]) {
        var record: [String: Any] = ["workload": workload, "impl": impl, "device": deviceName, "size": size]
        if let median { record["median_ms"] = (median * 1000).rounded() / 1000 }
        if let min { record["min_ms"] = (min * 1000).rounded() / 1000 }
        for (key, value) in extra { record[key] = value }
        let data = try! JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
        fflush(nil)
    }

    /// The device's name as the JSON lines report it.
    var deviceName: String {
        let info = Device.available.first { $0.device == device }
        return "\(device) \(info?.name ?? "")".trimmingCharacters(in: .whitespaces)
    }

    /// The implementation label: adjoint-<backend>-eager.
    var impl: String {
        switch device {
        case .cpu: return "adjoint-cpu-eager"
        case .opencl: return "adjoint-opencl-eager"
        }
    }
}

/// A correctness check failed: a fast wrong answer is a bug.
struct CheckFailure: Error, CustomStringConvertible {
    let description: String
}

/// Compares two arrays with a scaled tolerance; throws naming the workload.
func requireClose(_ actual: [Double], _ expected: [Double], tolerance: Double, _ what: String) throws {
    guard actual.count == expected.count else { throw CheckFailure(description: "\(what): \(actual.count) values vs \(expected.count)") }
    for (index, (a, e)) in zip(actual, expected).enumerated() where !(abs(a - e) <= tolerance * (1 + abs(e))) {
        throw CheckFailure(description: "\(what): element \(index) is \(a) on the device but \(e) on the CPU")
    }
}
