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
