import Adjoint
import Foundation
import Testing

/// The devices every cross-device test runs on: the CPU, and the first OpenCL device.
///
/// Under `CI=true` a missing OpenCL device is a failure (CI must exercise OpenCL through
/// PoCL), never a silent skip.
public enum TestDevices {
    /// Whether this run is in CI.
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The first OpenCL device, if any.
    public static var openCL: Device? {
        Device.available.first { if case .opencl = $0.device { return true }; return false }?.device
    }

    /// CPU plus OpenCL when present, or the devices listed in `ADJOINT_TEST_DEVICES`
    /// (e.g. `cpu` or `opencl:0`, comma-separated). Under CI a missing OpenCL device makes
    /// the tests that need one fail.
    public static var all: [Device] {
        if let listed = ProcessInfo.processInfo.environment["ADJOINT_TEST_DEVICES"], !listed.isEmpty {
            return listed.split(separator: ",").compactMap { Device(parsing: String($0)) }
        }
        if let openCL { return [.cpu, openCL] }
        return [.cpu]
    }

    /// Records a failure under CI when no OpenCL device exists; returns the device or nil.
    public static func requireOpenCL(sourceLocation: SourceLocation = #_sourceLocation) -> Device? {
        if let openCL { return openCL }
        let reason = Device.openCLUnavailableReason ?? "unknown"
        if isCI {
            Issue.record("no OpenCL device under CI=true: \(reason)", sourceLocation: sourceLocation)
        } else {
            print("note: no OpenCL device (\(reason)); OpenCL checks skipped")
        }
        return nil
    }
}

/// Checks every element of `actual` against `expected` within `tolerance` (absolute plus
/// relative to the expected magnitude).
public func expectClose(
    _ actual: Tensor, _ expected: [Double], tolerance: Double = 1e-5,
    _ comment: @autoclosure () -> String = "", sourceLocation: SourceLocation = #_sourceLocation
) {
    let values: [Double]
    do {
        values = try actual.doubles()
    } catch {
        Issue.record("reading tensor failed: \(error)", sourceLocation: sourceLocation)
        return
    }
    expectClose(values, expected, tolerance: tolerance, comment(), sourceLocation: sourceLocation)
}

/// Checks two arrays elementwise within `tolerance` (absolute plus relative).
public func expectClose(
    _ actual: [Double], _ expected: [Double], tolerance: Double = 1e-5,
    _ comment: @autoclosure () -> String = "", sourceLocation: SourceLocation = #_sourceLocation
) {
    guard actual.count == expected.count else {
        Issue.record("count \(actual.count) != expected \(expected.count) \(comment())", sourceLocation: sourceLocation)
        return
    }
    var worst = 0.0, worstIndex = -1
    for (index, (a, e)) in zip(actual, expected).enumerated() {
        if a.isNaN != e.isNaN { worst = .infinity; worstIndex = index; break }
        if a.isNaN { continue }
        if a == e { continue }
        let error = Swift.abs(a - e) / (1 + Swift.abs(e))
        if error > worst { worst = error; worstIndex = index }
    }
    if worst > tolerance {
        Issue.record("element \(worstIndex): \(actual[worstIndex]) vs expected \(expected[worstIndex]) (scaled error \(worst) > \(tolerance)) \(comment())", sourceLocation: sourceLocation)
    }
}

/// Central finite differences in float64 of `<cotangent, f(inputs)>` with respect to every
/// element of every input.
public func numericalGradients(
    of function: ([Tensor]) -> Tensor, at inputs: [[Double]], shapes: [[Int]], cotangent: [Double],
    device: Device, epsilon: Double = 1e-6
) throws -> [[Double]] {
    func evaluate(_ values: [[Double]]) throws -> Double {
        let tensors = zip(values, shapes).map { Tensor(doubles: $0, shape: $1, dtype: .float64, on: device) }
        let output = try noGrad { function(tensors) }.doubles()
        return zip(output, cotangent).map(*).reduce(0, +)
    }
    var result: [[Double]] = []
    for input in inputs.indices {
        var gradient = [Double](repeating: 0, count: inputs[input].count)
        for element in inputs[input].indices {
            var plus = inputs, minus = inputs
            plus[input][element] += epsilon
            minus[input][element] -= epsilon
            gradient[element] = (try evaluate(plus) - evaluate(minus)) / (2 * epsilon)
        }
        result.append(gradient)
    }
    return result
}

/// Reproducible op inputs (the library's `InputSampler`), for the tests.
public typealias TestData = InputSampler

/// One registry op on one device: the argument of the per-op suites (gradient checks,
/// vmap, jit), named `op@device` in test output.
public struct OpCase: CustomStringConvertible, Sendable {
    /// The op.
    public let op: OpInfo
    /// The device it runs on.
    public let device: Device

    public var description: String { "\(op.name)@\(device)" }

    /// Every registry op on every test device.
    public static var all: [OpCase] {
        TestDevices.all.flatMap { device in OpRegistry.all.map { OpCase(op: $0, device: device) } }
    }
}

/// `[batch, m, n]` products of `a` read as `[batch, m, k]` and `b` as `[batch, k, n]`
/// through `aStrides` and `bStrides` (stride 0 broadcasts), by a float64 triple loop: the
/// reference for the GEMM paths of every backend.
public func naiveMatmul(_ a: [Double], _ aStrides: [Int], _ b: [Double], _ bStrides: [Int], batch: Int, m: Int, k: Int, n: Int) -> [Double] {
    var result: [Double] = []
    for p in 0..<batch {
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for l in 0..<k {
                    sum += a[p * aStrides[0] + i * aStrides[1] + l * aStrides[2]] * b[p * bStrides[0] + l * bStrides[1] + j * bStrides[2]]
                }
                result.append(sum)
            }
        }
    }
    return result
}

/// Whether jit runs its launch-saving passes on `device` (OpenCL GPUs, or any OpenCL
/// device with ADJOINT_JIT_TOGETHER=1, as the test script's second pass sets).
public func launchSaving(_ device: Device) -> Bool { device.jitSavesLaunches }
