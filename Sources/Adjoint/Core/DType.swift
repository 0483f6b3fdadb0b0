/// The element type of a tensor.
///
/// `float32` is the default for floating-point data; `float64` serves gradient checks
/// (on devices that report fp64); `int32` holds indices and labels; `bool` holds masks
/// (stored as one byte per element, 0 or 1).
public enum DType: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case float32
    case float64
    case int32
    case bool

    /// Bytes one element occupies in device memory.
    public var byteSize: Int {
        switch self {
        case .float32, .int32: return 4
        case .float64: return 8
        case .bool: return 1
        }
    }

    /// Whether values of this type are real numbers that can carry gradients.
    public var isFloatingPoint: Bool { self == .float32 || self == .float64 }

    /// The name as it appears in printouts and error messages.
    public var description: String { rawValue }
}

/// A Swift type that can be the element of a tensor: `Float`, `Double`, `Int32`, `Bool`.
public protocol TensorScalar: Sendable, Equatable {
    /// The tensor dtype that stores this type.
    static var dtype: DType { get }
    /// Converts from the common double representation (rounding toward zero for integers).
    init(adjointDouble value: Double)
    /// The value as a double.
    var adjointDouble: Double { get }
}

/// `Float` elements: see `TensorScalar`.
extension Float: TensorScalar {
    public static var dtype: DType { .float32 }
    public init(adjointDouble value: Double) { self = Float(value) }
    public var adjointDouble: Double { Double(self) }
}

/// `Double` elements: see `TensorScalar`.
extension Double: TensorScalar {
    public static var dtype: DType { .float64 }
    public init(adjointDouble value: Double) { self = value }
    public var adjointDouble: Double { self }
}

/// `Int32` elements: see `TensorScalar`.
extension Int32: TensorScalar {
    public static var dtype: DType { .int32 }
    public init(adjointDouble value: Double) { self = Int32(value) }
    public var adjointDouble: Double { Double(self) }
}

/// `Bool` elements: see `TensorScalar`.
extension Bool: TensorScalar {
    public static var dtype: DType { .bool }
    public init(adjointDouble value: Double) { self = value != 0 }
    public var adjointDouble: Double { self ? 1 : 0 }
}
