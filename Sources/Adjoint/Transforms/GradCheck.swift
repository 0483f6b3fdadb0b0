import Foundation

/// The outcome of `gradCheck`: the largest disagreement found and where.
public struct GradCheckReport: Sendable, CustomStringConvertible {
    /// Whether every comparison stayed within tolerance.
    public var passed: Bool
    /// Largest scaled error `|a - b| / (1 + |b|)` of the VJP against finite differences.
    public var worstVJPError: Double
    /// Largest scaled error of the JVP against finite differences.
    public var worstJVPError: Double
    /// Largest scaled error between devices (value and gradients), 0 without a second device.
    public var worstDeviceError: Double
    /// The input and flat element index of the worst error, and which check found it.
    public var worstInput: Int
    /// The flat element index within `worstInput`.
    public var worstElement: Int
    /// Which comparison produced the worst error ("vjp", "jvp" or "device").
    public var worstCheck: String

    public var description: String {
        (passed ? "gradCheck passed" : "gradCheck FAILED")
            + String(format: ": vjp %.3g, jvp %.3g, device %.3g; worst: %@ at input %d element %d",
                     worstVJPError, worstJVPError, worstDeviceError, worstCheck, worstInput, worstElement)
    }
}

/// Checks `function`'s derivatives like PyTorch's `gradcheck`, and across devices.
///
/// The VJP (every input's gradient of `⟨v, f(x)⟩` for a fixed random `v`) and the JVP
/// (along a random tangent) are compared in float64 with central finite differences on
/// `device`; given `reference`, the float32 value and gradients are also compared between
/// the two devices.
///
/// ```swift
/// let report = gradCheck({ $0[0].sin() * $0[1] }, at: [x, y], on: .cpu, reference: .opencl(0))
/// #expect(report.passed)
/// ```
public func gradCheck(
    _ function: @escaping ([Tensor]) -> Tensor, at inputs: [Tensor], on device: Device = .cpu,
    reference: Device? = nil, epsilon: Double = 1e-6, tolerance: Double = 1e-5, deviceTolerance: Double = 1e-4, seed: UInt64 = 0
) throws -> GradCheckReport {
    let values = try inputs.map { try $0.doubles() }
    let shapes = inputs.map(\.shape)
    func make(_ values: [[Double]], _ dtype: DType, _ device: Device) -> [Tensor] {
        zip(values, shapes).map { Tensor(doubles: $0, shape: $1, dtype: dtype, on: device) }
    }
    let output = noGrad { function(make(values, .float64, device)) }
    let cotangent = try Tensor.randomNormal(output.shape, dtype: .float64, seed: seed, on: device).doubles()
    let tangents = try shapes.enumerated().map { try Tensor.randomNormal($0.element, dtype: .float64, seed: seed + 1 + UInt64($0.offset), on: device).doubles() }
    func pairing(_ values: [[Double]]) throws -> Double {
        try zip(noGrad { function(make(values, .float64, device)) }.doubles(), cotangent).map(*).reduce(0, +)
    }
    var report = GradCheckReport(passed: true, worstVJPError: 0, worstJVPError: 0, worstDeviceError: 0, worstInput: -1, worstElement: -1, worstCheck: "none")
    var worstOverall = 0.0
    func note(_ error: Double, _ check: String, _ input: Int, _ element: Int) {
        let scaled = error
        switch check {
        case "vjp": report.worstVJPError = max(report.worstVJPError, scaled)
        case "jvp": report.worstJVPError = max(report.worstJVPError, scaled)
        default: report.worstDeviceError = max(report.worstDeviceError, scaled)
        }
        if scaled > worstOverall {
            worstOverall = scaled
            report.worstInput = input
            report.worstElement = element
            report.worstCheck = check
        }
    }
    func scaledError(_ a: Double, _ b: Double) -> Double { a.isNaN != b.isNaN ? .infinity : (a.isNaN ? 0 : abs(a - b) / (1 + abs(b))) }

    let lifted = make(values, .float64, device).map { $0.requiringGrad() }
    let analytic = try gradients(of: function(lifted), wrt: lifted, seed: Tensor(doubles: cotangent, shape: output.shape, dtype: .float64, on: device)).map { try $0.doubles() }
    for input in values.indices {
        for element in values[input].indices {
            var plus = values, minus = values
            plus[input][element] += epsilon
            minus[input][element] -= epsilon
            let numeric = (try pairing(plus) - pairing(minus)) / (2 * epsilon)
            note(scaledError(analytic[input][element], numeric), "vjp", input, element)
        }
    }
    let forward = try jvp({ (tensors: [Tensor]) in function(tensors) }, primal: make(values, .float64, device), tangent: make(tangents, .float64, device)).tangent.doubles()
    let stepPlus = zip(values, tangents).map { zip($0, $1).map { $0 + epsilon * $1 } }
    let stepMinus = zip(values, tangents).map { zip($0, $1).map { $0 - epsilon * $1 } }
    let outputPlus = try noGrad { function(make(stepPlus, .float64, device)) }.doubles()
    let outputMinus = try noGrad { function(make(stepMinus, .float64, device)) }.doubles()
    for element in forward.indices {
        note(scaledError(forward[element], (outputPlus[element] - outputMinus[element]) / (2 * epsilon)), "jvp", -1, element)
    }
    if let reference {
        func valueAndGradients(_ device: Device) throws -> [[Double]] {
            let tensors = make(values, .float32, device).map { $0.requiringGrad() }
            let result = function(tensors)
            let found = gradients(of: result, wrt: tensors, seed: Tensor(doubles: cotangent, shape: result.shape, dtype: .float32, on: device))
            return try [result.doubles()] + found.map { try $0.doubles() }
        }
        let here = try valueAndGradients(device), there = try valueAndGradients(reference)
        for (index, (a, b)) in zip(here, there).enumerated() {
            for element in a.indices { note(scaledError(a[element], b[element]), "device", index - 1, element) }
        }
    }
    report.passed = report.worstVJPError <= tolerance && report.worstJVPError <= tolerance && report.worstDeviceError <= deviceTolerance
    return report
}
