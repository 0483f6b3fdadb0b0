/// Which inputs an op's tests may draw, so gradient checks stay away from poles and kinks.
public enum InputDomain: Sendable {
    /// Any real value (normal draws).
    case any
    /// Strictly positive values (log, sqrt, pow bases).
    case positive
    /// Values in (-0.9, 0.9).
    case unit
    /// Values at least 0.1 away from 0 (abs, relu, sign-like kinks), and inputs of binary
    /// ops that compare (maximum, minimum) kept apart.
    case awayFromKinks
}

/// One differentiable op as the test suites and benchmarks see it.
public struct OpInfo: Sendable, CustomStringConvertible {
    /// The op's name, e.g. `exp` or `matmul`.
    public let name: String
    /// The op applied to its inputs (all floating point, of the sample shapes).
    public let apply: @Sendable ([Tensor]) -> Tensor
    /// Input shape sets to test, e.g. `[[2, 3], [3]]` for a broadcasting binary op.
    public let shapes: [[[Int]]]
    /// Where the inputs are drawn from.
    public let domain: InputDomain
    /// Whether second derivatives exist and are checked (false for piecewise-linear ops).
    public let smooth: Bool
    /// Whether the gradient is identically zero (round, floor, sign).
    public let zeroGradient: Bool

    /// Describes an op for the registry.
    public init(_ name: String, shapes: [[[Int]]], domain: InputDomain = .any, smooth: Bool = true, zeroGradient: Bool = false, apply: @escaping @Sendable ([Tensor]) -> Tensor) {
        self.name = name
        self.apply = apply
        self.shapes = shapes
        self.domain = domain
        self.smooth = smooth
        self.zeroGradient = zeroGradient
    }

    public var description: String { name }
}

extension OpInfo {
    /// The op's output and the VJP of every input, as doubles, for float32 inputs `values`
    /// of `shapes` on `device`; the cotangent is a ramp from -1 to 1 over the output
    /// (`comparedWithCPU` sets these side by side for two devices).
    public func forwardAndGradients(_ values: [[Double]], shapes: [[Int]], on device: Device) throws -> [[Double]] {
        let inputs = zip(values, shapes).map { Tensor(doubles: $0, shape: $1, dtype: .float32, on: device).requiringGrad() }
        let output = apply(inputs)
        let seed = Tensor.linspace(-1, 1, count: output.count, on: device).reshaped(output.shape)
        return try [output.doubles()] + gradients(of: output, wrt: inputs, seed: seed).map { try $0.doubles() }
    }

    /// One value `forwardAndGradients` gives on a device, next to the CPU backend's.
    public struct CPUComparison {
        /// The input shapes.
        public var shapes: [[Int]]
        /// "forward", or "VJP of input i".
        public var what: String
        /// On the device.
        public var actual: [Double]
        /// On the CPU backend.
        public var expected: [Double]
    }

    /// The op's output and every input's VJP on `device` and on the CPU backend, for each
    /// of its shape sets with inputs drawn from `sampler`: what the backend-agreement tests
    /// and `adjoint check` compare.
    public func comparedWithCPU(on device: Device, sampler: inout InputSampler) throws -> [CPUComparison] {
        var comparisons: [CPUComparison] = []
        for shapes in self.shapes {
            let values = shapes.map { sampler.values($0.reduce(1, *), domain: domain) }
            let cpu = try forwardAndGradients(values, shapes: shapes, on: .cpu)
            let other = try forwardAndGradients(values, shapes: shapes, on: device)
            for (index, (actual, expected)) in zip(other, cpu).enumerated() {
                comparisons.append(CPUComparison(shapes: shapes, what: index == 0 ? "forward" : "VJP of input \(index - 1)", actual: actual, expected: expected))
            }
        }
        return comparisons
    }
}

/// Every differentiable op, gathered from the op files (each file lists its own ops next
/// to their definitions), so tests and benchmarks check a new op without new code.
public enum OpRegistry {
    /// All registered ops.
    public static var all: [OpInfo] {
        unary + binary + reduction + movement + indexing + linearAlgebra + convolution + composite
    }

    /// Looks an op up by name.
    public static func op(named name: String) -> OpInfo? { all.first { $0.name == name } }
}

/// Reproducible inputs for an op's checks (tests, `adjoint check`): a xorshift stream of
/// doubles placed in an `InputDomain`, identical on every machine.
public struct InputSampler: Sendable {
    private var state: UInt64

    /// A sampler seeded with `seed`.
    public init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }

    /// The next value in [0, 1).
    public mutating func uniform() -> Double {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return Double(state >> 11) / Double(1 << 53)
    }

    /// `count` values for `domain`.
    public mutating func values(_ count: Int, domain: InputDomain) -> [Double] {
        (0..<count).map { _ in
            let u = uniform()
            switch domain {
            case .any: return (u * 4 - 2)
            case .positive: return 0.2 + u * 2
            case .unit: return u * 1.8 - 0.9
            case .awayFromKinks:
                let magnitude = 0.15 + uniform() * 1.7
                return (u < 0.5 ? -1 : 1) * (magnitude.rounded() == magnitude ? magnitude + 0.3 : magnitude) + 0.0
            }
        }
    }
}
