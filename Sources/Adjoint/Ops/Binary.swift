/// Elementwise functions of two tensors with numpy broadcasting, each followed by its
/// derivative. Broadcast inputs are strided views (stride 0), never materialized; the
/// engine sums each cotangent back to its input's shape. Batching rule (vmap): batched
/// operands get unit axes after the batch axis up to the result's rank, unbatched ones
/// broadcast along it.
extension Tensor {
    /// The shape two shapes broadcast to (numpy rules), or nil when incompatible.
    public static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = Swift.max(a.count, b.count)
        var result = [Int](repeating: 1, count: rank)
        for axis in 0..<rank {
            let x = axis < rank - a.count ? 1 : a[axis - (rank - a.count)]
            let y = axis < rank - b.count ? 1 : b[axis - (rank - b.count)]
            if x == y || y == 1 { result[axis] = x } else if x == 1 { result[axis] = y } else { return nil }
        }
        return result
    }

    /// A stride-0 view of this tensor's data at a broadcast `shape` (no autodiff).
    func broadcastLayout(to shape: [Int]) -> Layout {
        let lead = shape.count - rank
        var strides = [Int](repeating: 0, count: shape.count)
        for axis in 0..<rank where layout.shape[axis] != 1 || shape[axis + lead] == 1 {
            strides[axis + lead] = layout.strides[axis]
        }
        return Layout(shape: shape, strides: strides, offset: layout.offset)
    }

    /// When every operand holds one value broadcast over `shape` (a gradient seeded by
    /// `sum` or `mean`, a scalar constant) and `shape` has more than one element, the
    /// operands as rank-0 views of that value: the unary or binary op then runs once and
    /// its result is broadcast, instead of writing the same value `shape.count` times.
    static func uniformBroadcast(_ operands: [Tensor], to shape: [Int]) -> [Tensor]? {
        guard shape.reduce(1, *) > 1 else { return nil }
        var scalars: [Tensor] = []
        for operand in operands {
            let layout = operand.broadcastLayout(to: shape)
            guard zip(layout.shape, layout.strides).allSatisfy({ $0.0 == 1 || $0.1 == 0 }) else { return nil }
            scalars.append(Tensor(storage: operand.storage, layout: Layout(shape: [], strides: [], offset: layout.offset)))
        }
        return scalars
    }

    /// Runs a binary primitive with broadcasting and records `pullback`.
    static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor, _ name: String, file: StaticString, line: UInt, pullback: @escaping Pullback) -> Tensor {
        check(a.device == b.device, name.lowercased(), "operands on different devices: \(a.device) and \(b.device) (shapes \(a.shape) and \(b.shape)); move one with to(_:)", file: file, line: line)
        check(a.dtype == b.dtype, name.lowercased(), "operands have different dtypes: \(a.dtype) and \(b.dtype) (shapes \(a.shape) and \(b.shape)); cast one with cast(to:)", file: file, line: line)
        guard let shape = broadcastShape(a.shape, b.shape) else {
            fatalError("Adjoint.\(name.lowercased()): shapes \(a.shape) and \(b.shape) cannot be broadcast together (at \(file):\(line))")
        }
        let outputDType: DType = op.isComparison || op == .logicalAnd || op == .logicalOr ? .bool : a.dtype
        if a.batch != nil || b.batch != nil, let (level, _) = batchLevel([a, b]) {
            let physical = binary(op, a.aligned(at: level, rank: shape.count), b.aligned(at: level, rank: shape.count), name, file: file, line: line, pullback: pullback)
            let output = batched(physical, level: level)
            if outputDType == .bool { return output }
            return record(name, [a, b], output: output, file: file, line: line, pullback: pullback)
        }
        if let folded = foldedConstants(op, a, b, shape: shape) { return folded }
        let output: Tensor
        if let uniform = uniformBroadcast([a, b], to: shape) {
            output = Tensor(storage: Dispatch.run(.binary(op), uniform, shape: [], dtype: outputDType, device: a.device), layout: Layout(shape: shape, strides: Array(repeating: 0, count: shape.count)))
        } else {
            let left = Tensor(storage: a.storage, layout: a.broadcastLayout(to: shape))
            let right = Tensor(storage: b.storage, layout: b.broadcastLayout(to: shape))
            output = Tensor(storage: Dispatch.run(.binary(op), [left, right], shape: shape, dtype: outputDType, device: a.device), layout: Layout(contiguous: shape))
        }
        if outputDType == .bool { return output }
        return record(name, [a, b], output: output, file: file, line: line, pullback: pullback)
    }

    /// A rank-0 constant with this tensor's dtype and device.
    func scalar(_ value: Double) -> Tensor { Tensor.constant(value, dtype: dtype, on: device) }

    /// `op` on two cached scalar constants (views of them included) without history,
    /// computed on the host in the dtype's arithmetic and returned as another cached
    /// constant viewed in `shape`: the mean's pullback dividing the seed 1 by the count
    /// launched a kernel for one number each backward pass. Arithmetic only (+ − × ÷),
    /// float32 and float64, outside traces.
    private static func foldedConstants(_ op: BinaryOp, _ a: Tensor, _ b: Tensor, shape: [Int]) -> Tensor? {
        guard Tracer.current == nil, a.node == nil, b.node == nil, a.dtype == .float32 || a.dtype == .float64,
              let x = a.storage.constantValue, let y = b.storage.constantValue else { return nil }
        let value: Double
        if a.dtype == .float32 {
            let (p, q) = (Float(x), Float(y))
            switch op {
            case .add: value = Double(p + q)
            case .sub: value = Double(p - q)
            case .mul: value = Double(p * q)
            case .div: value = Double(p / q)
            default: return nil
            }
        } else {
            switch op {
            case .add: value = x + y
            case .sub: value = x - y
            case .mul: value = x * y
            case .div: value = x / y
            default: return nil
            }
        }
        return Tensor.constant(value, dtype: a.dtype, on: a.device).reshaped(Array(repeating: 1, count: shape.count)).expanded(to: shape)
    }

    // MARK: Arithmetic

    /// Elementwise sum with broadcasting.
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        binary(.add, a, b, "Add", file: #fileID, line: #line) { g, _, _ in [g, g] }
    }

    /// Elementwise difference with broadcasting.
    public static func - (a: Tensor, b: Tensor) -> Tensor {
        binary(.sub, a, b, "Sub", file: #fileID, line: #line) { g, x, _ in [g, x[1].requiresGrad ? -g : nil] }
    }

    /// Elementwise product with broadcasting.
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        binary(.mul, a, b, "Mul", file: #fileID, line: #line) { g, x, _ in
            [x[0].requiresGrad ? g * x[1] : nil, x[1].requiresGrad ? g * x[0] : nil]
        }
    }

    /// Elementwise quotient with broadcasting (int32 truncates toward zero).
    public static func / (a: Tensor, b: Tensor) -> Tensor {
        binary(.div, a, b, "Div", file: #fileID, line: #line) { g, x, y in
            [x[0].requiresGrad ? g / x[1] : nil, x[1].requiresGrad ? -(g * y / x[1]) : nil]
        }
    }

    /// `self` raised to `exponent`, elementwise with broadcasting.
    /// d/da = b·a^(b-1); d/db = a^b·log a (taken as 0 where a <= 0).
    public func pow(_ exponent: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        Tensor.binary(.pow, self, exponent, "Pow", file: file, line: line) { g, x, y in
            let base = x[0], power = x[1]
            let dBase = base.requiresGrad ? g * power * base.pow(power - 1) : nil
            let dPower: Tensor? = power.requiresGrad
                ? Tensor.where(base .> 0, g * y * Tensor.where(base .> 0, base, base.scalar(1)).log(), g * 0) : nil
            return [dBase, dPower]
        }
    }

    /// `self` raised to a constant power.
    public func pow(_ exponent: Double, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        pow(scalar(exponent), file: file, line: line)
    }

    /// Elementwise maximum with broadcasting; at ties each side gets half the gradient.
    public func maximum(_ other: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        Tensor.binary(.maximum, self, other, "Maximum", file: file, line: line) { g, x, _ in
            let share = (x[0] .> x[1]).cast(to: g.dtype) + (x[0] .== x[1]).cast(to: g.dtype) * 0.5
            return [x[0].requiresGrad ? g * share : nil, x[1].requiresGrad ? g * (1 - share) : nil]
        }
    }

    /// Elementwise minimum with broadcasting; at ties each side gets half the gradient.
    public func minimum(_ other: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        Tensor.binary(.minimum, self, other, "Minimum", file: file, line: line) { g, x, _ in
            let share = (x[0] .< x[1]).cast(to: g.dtype) + (x[0] .== x[1]).cast(to: g.dtype) * 0.5
            return [x[0].requiresGrad ? g * share : nil, x[1].requiresGrad ? g * (1 - share) : nil]
        }
    }

    /// Elementwise maximum with a constant.
    public func maximum(_ other: Double) -> Tensor { maximum(scalar(other)) }
    /// Elementwise minimum with a constant.
    public func minimum(_ other: Double) -> Tensor { minimum(scalar(other)) }

    // MARK: Scalars on either side

    /// Adds a constant.
    public static func + (a: Tensor, b: Double) -> Tensor { a + a.scalar(b) }
    /// Adds to a constant.
    public static func + (a: Double, b: Tensor) -> Tensor { b.scalar(a) + b }
    /// Subtracts a constant.
    public static func - (a: Tensor, b: Double) -> Tensor { a - a.scalar(b) }
    /// Subtracts from a constant.
    public static func - (a: Double, b: Tensor) -> Tensor { b.scalar(a) - b }
    /// Multiplies by a constant.
    public static func * (a: Tensor, b: Double) -> Tensor { a * a.scalar(b) }
    /// Multiplies a constant.
    public static func * (a: Double, b: Tensor) -> Tensor { b.scalar(a) * b }
    /// Divides by a constant.
    public static func / (a: Tensor, b: Double) -> Tensor { a / a.scalar(b) }
    /// Divides a constant.
    public static func / (a: Double, b: Tensor) -> Tensor { b.scalar(a) / b }

    /// `a = a + b`.
    public static func += (a: inout Tensor, b: Tensor) { a = a + b }
    /// `a = a - b`.
    public static func -= (a: inout Tensor, b: Tensor) { a = a - b }
    /// `a = a * b`.
    public static func *= (a: inout Tensor, b: Tensor) { a = a * b }
    /// `a = a / b`.
    public static func /= (a: inout Tensor, b: Tensor) { a = a / b }
    /// `a = a + b`.
    public static func += (a: inout Tensor, b: Double) { a = a + b }
    /// `a = a - b`.
    public static func -= (a: inout Tensor, b: Double) { a = a - b }
    /// `a = a * b`.
    public static func *= (a: inout Tensor, b: Double) { a = a * b }
    /// `a = a / b`.
    public static func /= (a: inout Tensor, b: Double) { a = a / b }

    // MARK: Comparisons (bool masks, no gradient)

    /// Elementwise `a < b` as a bool mask.
    public static func .< (a: Tensor, b: Tensor) -> Tensor { binary(.lt, a, b, "Lt", file: #fileID, line: #line) { _, _, _ in [] } }
    /// Elementwise `a <= b` as a bool mask.
    public static func .<= (a: Tensor, b: Tensor) -> Tensor { binary(.le, a, b, "Le", file: #fileID, line: #line) { _, _, _ in [] } }
    /// Elementwise `a > b` as a bool mask.
    public static func .> (a: Tensor, b: Tensor) -> Tensor { binary(.gt, a, b, "Gt", file: #fileID, line: #line) { _, _, _ in [] } }
    /// Elementwise `a >= b` as a bool mask.
    public static func .>= (a: Tensor, b: Tensor) -> Tensor { binary(.ge, a, b, "Ge", file: #fileID, line: #line) { _, _, _ in [] } }
    /// Elementwise `a == b` as a bool mask.
    public static func .== (a: Tensor, b: Tensor) -> Tensor { binary(.eq, a, b, "Eq", file: #fileID, line: #line) { _, _, _ in [] } }
    /// Elementwise `a != b` as a bool mask.
    public static func .!= (a: Tensor, b: Tensor) -> Tensor { binary(.ne, a, b, "Ne", file: #fileID, line: #line) { _, _, _ in [] } }
    /// Elementwise `a < b` against a constant.
    public static func .< (a: Tensor, b: Double) -> Tensor { a .< a.scalar(b) }
    /// Elementwise `a <= b` against a constant.
    public static func .<= (a: Tensor, b: Double) -> Tensor { a .<= a.scalar(b) }
    /// Elementwise `a > b` against a constant.
    public static func .> (a: Tensor, b: Double) -> Tensor { a .> a.scalar(b) }
    /// Elementwise `a >= b` against a constant.
    public static func .>= (a: Tensor, b: Double) -> Tensor { a .>= a.scalar(b) }
    /// Elementwise `a == b` against a constant.
    public static func .== (a: Tensor, b: Double) -> Tensor { a .== a.scalar(b) }
    /// Elementwise `a != b` against a constant.
    public static func .!= (a: Tensor, b: Double) -> Tensor { a .!= a.scalar(b) }
    /// Elementwise logical and of bool masks.
    public static func .& (a: Tensor, b: Tensor) -> Tensor { binary(.logicalAnd, a, b, "And", file: #fileID, line: #line) { _, _, _ in [] } }
    /// Elementwise logical or of bool masks.
    public static func .| (a: Tensor, b: Tensor) -> Tensor { binary(.logicalOr, a, b, "Or", file: #fileID, line: #line) { _, _, _ in [] } }
}

/// Elementwise maximum with broadcasting.
public func maximum(_ a: Tensor, _ b: Tensor) -> Tensor { a.maximum(b) }
/// Elementwise minimum with broadcasting.
public func minimum(_ a: Tensor, _ b: Tensor) -> Tensor { a.minimum(b) }
/// `a^b` elementwise with broadcasting.
public func pow(_ a: Tensor, _ b: Tensor) -> Tensor { a.pow(b) }
/// `a^b` elementwise with a constant exponent.
public func pow(_ a: Tensor, _ b: Double) -> Tensor { a.pow(b) }

extension OpRegistry {
    static let binaryShapes: [[[Int]]] = [[[], []], [[5], [5]], [[2, 3], [3]], [[2, 1, 3], [4, 1]], [[3, 4], []]]

    /// The binary ops.
    public static let binary: [OpInfo] = [
        OpInfo("add", shapes: binaryShapes) { $0[0] + $0[1] },
        OpInfo("sub", shapes: binaryShapes) { $0[0] - $0[1] },
        OpInfo("mul", shapes: binaryShapes) { $0[0] * $0[1] },
        OpInfo("div", shapes: binaryShapes, domain: .awayFromKinks) { $0[0] / $0[1] },
        OpInfo("pow", shapes: binaryShapes, domain: .positive) { $0[0].pow($0[1]) },
        OpInfo("maximum", shapes: binaryShapes, domain: .awayFromKinks, smooth: false) { $0[0].maximum($0[1]) },
        OpInfo("minimum", shapes: binaryShapes, domain: .awayFromKinks, smooth: false) { $0[0].minimum($0[1]) },
    ]
}
