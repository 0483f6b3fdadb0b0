import Foundation

/// The math the float kernels need, bound to the C library per precision so every loop
/// is specialized for one type.
protocol CPUFloatingPoint: BinaryFloatingPoint {
    static func exponential(_ x: Self) -> Self
    static func logarithm(_ x: Self) -> Self
    static func sine(_ x: Self) -> Self
    static func cosine(_ x: Self) -> Self
    static func hyperbolicTangent(_ x: Self) -> Self
    static func power(_ base: Self, _ exponent: Self) -> Self
}

extension Float: CPUFloatingPoint {
    @inline(__always) static func exponential(_ x: Float) -> Float { exp(x) }
    @inline(__always) static func logarithm(_ x: Float) -> Float { log(x) }
    @inline(__always) static func sine(_ x: Float) -> Float { sin(x) }
    @inline(__always) static func cosine(_ x: Float) -> Float { cos(x) }
    @inline(__always) static func hyperbolicTangent(_ x: Float) -> Float { tanh(x) }
    @inline(__always) static func power(_ base: Float, _ exponent: Float) -> Float { pow(base, exponent) }
}

extension Double: CPUFloatingPoint {
    @inline(__always) static func exponential(_ x: Double) -> Double { exp(x) }
    @inline(__always) static func logarithm(_ x: Double) -> Double { log(x) }
    @inline(__always) static func sine(_ x: Double) -> Double { sin(x) }
    @inline(__always) static func cosine(_ x: Double) -> Double { cos(x) }
    @inline(__always) static func hyperbolicTangent(_ x: Double) -> Double { tanh(x) }
    @inline(__always) static func power(_ base: Double, _ exponent: Double) -> Double { pow(base, exponent) }
}

// MARK: - Run kernels

/// `y[i] = op(x[i])` over one run; straight loops for the contiguous and scalar cases.
@inline(__always)
func mapRun<X, Y>(
    _ count: Int, _ x: UnsafeMutablePointer<X>, _ xStride: Int, _ y: UnsafeMutablePointer<Y>, _ yStride: Int,
    _ op: (X) -> Y
) {
    if yStride == 1 && xStride == 1 {
        for i in 0..<count { y[i] = op(x[i]) }
    } else if yStride == 1 && xStride == 0 {
        let value = op(x[0])
        for i in 0..<count { y[i] = value }
    } else {
        for i in 0..<count { y[i * yStride] = op(x[i * xStride]) }
    }
}

/// `y[i] = op(a[i], b[i])` over one run.
@inline(__always)
func zipRun<A, B, Y>(
    _ count: Int, _ a: UnsafeMutablePointer<A>, _ aStride: Int, _ b: UnsafeMutablePointer<B>, _ bStride: Int,
    _ y: UnsafeMutablePointer<Y>, _ yStride: Int, _ op: (A, B) -> Y
) {
    if yStride == 1 && aStride == 1 && bStride == 1 {
        for i in 0..<count { y[i] = op(a[i], b[i]) }
    } else if yStride == 1 && aStride == 1 && bStride == 0 {
        let right = b[0]
        for i in 0..<count { y[i] = op(a[i], right) }
    } else if yStride == 1 && aStride == 0 && bStride == 1 {
        let left = a[0]
        for i in 0..<count { y[i] = op(left, b[i]) }
    } else {
        for i in 0..<count { y[i * yStride] = op(a[i * aStride], b[i * bStride]) }
    }
}

/// Elementwise `output = op(input)` over any views of one shape.
@inline(__always)
func mapViews<X, Y>(_ input: BufferView, _ x: X.Type, _ output: BufferView, _ y: Y.Type, _ op: (X) -> Y) {
    let plan = StridedPlan(output.layout, input.layout)
    let source = input.base(X.self)
    let target = output.base(Y.self)
    if let tiling = TransposeTiling(plan) {
        tiling.forEachTile { outputOffset, inputOffset, rows, columns in
            let tileTarget = target + outputOffset
            let tileSource = source + inputOffset
            for row in 0..<rows {
                let targetRow = tileTarget + row * tiling.outputRowStride
                let sourceRow = tileSource + row
                for column in 0..<columns { targetRow[column] = op(sourceRow[column * tiling.inputColumnStride]) }
            }
        }
        return
    }
    let strides = plan.innerStrides
    plan.forEachRun { offsets, count in
        mapRun(count, source + offsets[1], strides[1], target + offsets[0], strides[0], op)
    }
}

/// A permuted copy (or map) whose output runs along an axis the input crosses with a long
/// stride, while the input is dense along the output's row axis: the transpose pattern.
/// Walking it in square tiles keeps both sides' cache lines in use instead of touching
/// one element per line of the input.
struct TransposeTiling {
    static let tileSize = 32

    /// Extents and `(output, input)` steps of the axes outside the transposed pair.
    var batchShape: [Int]
    var batchStrides: [SIMD4<Int>]
    var rows: Int
    var columns: Int
    var outputRowStride: Int
    var inputColumnStride: Int

    /// Operand 0 is the output, operand 1 the input; nil when the plan is not a transpose.
    init?(_ plan: StridedPlan) {
        guard let rowStrides = plan.outerStrides.last, let rowCount = plan.outerShape.last else { return nil }
        guard plan.innerStrides[0] == 1, plan.innerStrides[1] != 1, plan.innerStrides[1] != 0, rowStrides[1] == 1,
              rowCount >= TransposeTiling.tileSize, plan.innerCount >= TransposeTiling.tileSize
        else { return nil }
        batchShape = Array(plan.outerShape.dropLast())
        batchStrides = Array(plan.outerStrides.dropLast())
        rows = rowCount
        columns = plan.innerCount
        outputRowStride = rowStrides[0]
        inputColumnStride = plan.innerStrides[1]
    }

    /// Calls `body(outputOffset, inputOffset, rows, columns)` for every tile, tiles spread
    /// across cores.
    @inline(__always)
    func forEachTile(_ body: (Int, Int, Int, Int) -> Void) {
        let size = TransposeTiling.tileSize
        let rowTiles = (rows + size - 1) / size
        let columnTiles = (columns + size - 1) / size
        let batchCount = batchShape.reduce(1, *)
        let tilesPerBatch = rowTiles * columnTiles
        CPUParallel.forEachRange(count: batchCount * tilesPerBatch, grain: Swift.max(1, CPUParallel.elementGrain / (size * size))) { tiles in
            for tile in tiles {
                var batch = tile / tilesPerBatch
                var offsets = SIMD4<Int>(repeating: 0)
                for axis in stride(from: batchShape.count - 1, through: 0, by: -1) {
                    offsets &+= batchStrides[axis] &* SIMD4(repeating: batch % batchShape[axis])
                    batch /= batchShape[axis]
                }
                let rowStart = (tile % tilesPerBatch) / columnTiles * size
                let columnStart = (tile % columnTiles) * size
                body(
                    offsets[0] + rowStart * outputRowStride + columnStart,
                    offsets[1] + rowStart + columnStart * inputColumnStride,
                    Swift.min(size, rows - rowStart), Swift.min(size, columns - columnStart))
            }
        }
    }
}

/// Elementwise `output = op(left, right)` over any views of one shape.
@inline(__always)
func zipViews<A, B, Y>(
    _ left: BufferView, _ a: A.Type, _ right: BufferView, _ b: B.Type, _ output: BufferView, _ y: Y.Type,
    _ op: (A, B) -> Y
) {
    let plan = StridedPlan(output.layout, left.layout, right.layout)
    let first = left.base(A.self)
    let second = right.base(B.self)
    let target = output.base(Y.self)
    let strides = plan.innerStrides
    plan.forEachRun { offsets, count in
        zipRun(count, first + offsets[1], strides[1], second + offsets[2], strides[2], target + offsets[0], strides[0], op)
    }
}

/// Float to int32, truncating toward zero; NaN gives 0 and out-of-range values saturate
/// (C leaves both undefined, Swift traps).
@inline(__always)
func truncatingToInt32<T: BinaryFloatingPoint>(_ value: T) -> Int32 {
    if value.isNaN { return 0 }
    if value >= 2_147_483_647 { return .max }
    if value <= -2_147_483_648 { return .min }
    return Int32(value)
}

@inline(__always)
func flag(_ condition: Bool) -> UInt8 { condition ? 1 : 0 }

extension CPUBackend {
    // MARK: - Unary

    func runUnary(_ op: UnaryOp, input: BufferView, output: BufferView) throws {
        switch input.dtype {
        case .float32:
            if CPUBackend.fastUnaryFloat32(op, input: input, output: output) { return }
            try CPUBackend.unaryFloat(op, Float.self, input: input, output: output)
        case .float64: try CPUBackend.unaryFloat(op, Double.self, input: input, output: output)
        case .int32:
            switch op {
            case .neg: mapViews(input, Int32.self, output, Int32.self) { 0 &- $0 }
            case .abs: mapViews(input, Int32.self, output, Int32.self) { $0 < 0 ? 0 &- $0 : $0 }
            case .sign: mapViews(input, Int32.self, output, Int32.self) { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
            default: throw CPUBackend.unsupported(.unary(op), input.dtype)
            }
        case .bool:
            guard op == .logicalNot else { throw CPUBackend.unsupported(.unary(op), input.dtype) }
            mapViews(input, UInt8.self, output, UInt8.self) { flag($0 == 0) }
        }
    }

    @inline(__always)
    private static func unaryFloat<T: CPUFloatingPoint>(_ op: UnaryOp, _ type: T.Type, input: BufferView, output: BufferView) throws {
        switch op {
        case .neg: mapViews(input, T.self, output, T.self) { -$0 }
        case .exp: mapViews(input, T.self, output, T.self) { T.exponential($0) }
        case .log: mapViews(input, T.self, output, T.self) { T.logarithm($0) }
        case .sin: mapViews(input, T.self, output, T.self) { T.sine($0) }
        case .cos: mapViews(input, T.self, output, T.self) { T.cosine($0) }
        case .tanh: mapViews(input, T.self, output, T.self) { T.hyperbolicTangent($0) }
        case .sqrt: mapViews(input, T.self, output, T.self) { $0.squareRoot() }
        case .abs: mapViews(input, T.self, output, T.self) { $0.magnitude }
        case .sign: mapViews(input, T.self, output, T.self) { $0 > 0 ? 1 : ($0 < 0 ? -1 : $0) }
        case .floor: mapViews(input, T.self, output, T.self) { $0.rounded(.down) }
        case .round: mapViews(input, T.self, output, T.self) { $0.rounded(.toNearestOrAwayFromZero) }
        case .sigmoid:
            // e^-|x| never overflows; the two branches are the same function.
            mapViews(input, T.self, output, T.self) { x in
                let decay = T.exponential(-x.magnitude)
                return x >= 0 ? 1 / (1 + decay) : decay / (1 + decay)
            }
        case .logicalNot:
            throw CPUBackend.unsupported(.unary(op), input.dtype)
        }
    }

    // MARK: - Binary

    func runBinary(_ op: BinaryOp, left: BufferView, right: BufferView, output: BufferView) throws {
        precondition(left.dtype == right.dtype, "CPU binary.\(op): dtypes \(left.dtype) and \(right.dtype) differ")
        if op.isComparison {
            switch left.dtype {
            case .float32: CPUBackend.compare(op, Float.self, left, right, output)
            case .float64: CPUBackend.compare(op, Double.self, left, right, output)
            case .int32: CPUBackend.compare(op, Int32.self, left, right, output)
            case .bool: CPUBackend.compare(op, UInt8.self, left, right, output)
            }
            return
        }
        switch left.dtype {
        case .float32: try CPUBackend.binaryFloat(op, Float.self, left, right, output)
        case .float64: try CPUBackend.binaryFloat(op, Double.self, left, right, output)
        case .int32: try CPUBackend.binaryInteger(op, left, right, output)
        case .bool:
            switch op {
            case .logicalAnd: zipViews(left, UInt8.self, right, UInt8.self, output, UInt8.self) { flag($0 != 0 && $1 != 0) }
            case .logicalOr: zipViews(left, UInt8.self, right, UInt8.self, output, UInt8.self) { flag($0 != 0 || $1 != 0) }
            default: throw CPUBackend.unsupported(.binary(op), left.dtype)
            }
        }
    }

    @inline(__always)
    private static func compare<T: Comparable>(_ op: BinaryOp, _ type: T.Type, _ left: BufferView, _ right: BufferView, _ output: BufferView) {
        switch op {
        case .lt: zipViews(left, T.self, right, T.self, output, UInt8.self) { flag($0 < $1) }
        case .le: zipViews(left, T.self, right, T.self, output, UInt8.self) { flag($0 <= $1) }
        case .gt: zipViews(left, T.self, right, T.self, output, UInt8.self) { flag($0 > $1) }
        case .ge: zipViews(left, T.self, right, T.self, output, UInt8.self) { flag($0 >= $1) }
        case .eq: zipViews(left, T.self, right, T.self, output, UInt8.self) { flag($0 == $1) }
        default: zipViews(left, T.self, right, T.self, output, UInt8.self) { flag($0 != $1) }
        }
    }

    @inline(__always)
    private static func binaryFloat<T: CPUFloatingPoint>(_ op: BinaryOp, _ type: T.Type, _ left: BufferView, _ right: BufferView, _ output: BufferView) throws {
        switch op {
        case .add: zipViews(left, T.self, right, T.self, output, T.self) { $0 + $1 }
        case .sub: zipViews(left, T.self, right, T.self, output, T.self) { $0 - $1 }
        case .mul: zipViews(left, T.self, right, T.self, output, T.self) { $0 * $1 }
        case .div: zipViews(left, T.self, right, T.self, output, T.self) { $0 / $1 }
        case .pow: zipViews(left, T.self, right, T.self, output, T.self) { T.power($0, $1) }
        // NaN in either argument wins, as in numpy (`a != a` is the branch-free isNaN).
        case .maximum: zipViews(left, T.self, right, T.self, output, T.self) { ($0 > $1 || $0 != $0) ? $0 : $1 }
        case .minimum: zipViews(left, T.self, right, T.self, output, T.self) { ($0 < $1 || $0 != $0) ? $0 : $1 }
        default: throw CPUBackend.unsupported(.binary(op), left.dtype)
        }
    }

    private static func binaryInteger(_ op: BinaryOp, _ left: BufferView, _ right: BufferView, _ output: BufferView) throws {
        switch op {
        case .add: zipViews(left, Int32.self, right, Int32.self, output, Int32.self) { $0 &+ $1 }
        case .sub: zipViews(left, Int32.self, right, Int32.self, output, Int32.self) { $0 &- $1 }
        case .mul: zipViews(left, Int32.self, right, Int32.self, output, Int32.self) { $0 &* $1 }
        case .div:
            // Division by zero is defined as 0, and Int32.min / -1 wraps, instead of trapping.
            zipViews(left, Int32.self, right, Int32.self, output, Int32.self) { numerator, denominator in
                if denominator == 0 { return 0 }
                if denominator == -1 { return 0 &- numerator }
                return numerator / denominator
            }
        case .maximum: zipViews(left, Int32.self, right, Int32.self, output, Int32.self) { Swift.max($0, $1) }
        case .minimum: zipViews(left, Int32.self, right, Int32.self, output, Int32.self) { Swift.min($0, $1) }
        default: throw CPUBackend.unsupported(.binary(op), left.dtype)
        }
    }

    // MARK: - Select

    func runSelect(condition: BufferView, whenTrue: BufferView, whenFalse: BufferView, output: BufferView) {
        precondition(whenTrue.dtype == whenFalse.dtype, "CPU select: branch dtypes \(whenTrue.dtype) and \(whenFalse.dtype) differ")
        switch whenTrue.dtype.byteSize {
        case 1: CPUBackend.select(UInt8.self, condition, whenTrue, whenFalse, output)
        case 4: CPUBackend.select(UInt32.self, condition, whenTrue, whenFalse, output)
        default: CPUBackend.select(UInt64.self, condition, whenTrue, whenFalse, output)
        }
    }

    /// Selection only moves bits, so it runs on same-sized unsigned words.
    @inline(__always)
    private static func select<T>(_ type: T.Type, _ condition: BufferView, _ whenTrue: BufferView, _ whenFalse: BufferView, _ output: BufferView) {
        let plan = StridedPlan(output.layout, condition.layout, whenTrue.layout, whenFalse.layout)
        let mask = condition.base(UInt8.self)
        let first = whenTrue.base(T.self)
        let second = whenFalse.base(T.self)
        let target = output.base(T.self)
        let strides = plan.innerStrides
        plan.forEachRun { offsets, count in
            let maskRun = mask + offsets[1]
            let firstRun = first + offsets[2]
            let secondRun = second + offsets[3]
            let targetRun = target + offsets[0]
            if strides == SIMD4(1, 1, 1, 1) {
                for i in 0..<count { targetRun[i] = maskRun[i] != 0 ? firstRun[i] : secondRun[i] }
            } else {
                for i in 0..<count {
                    targetRun[i * strides[0]] = maskRun[i * strides[1]] != 0 ? firstRun[i * strides[2]] : secondRun[i * strides[3]]
                }
            }
        }
    }

    // MARK: - Cast, copy, fill

    func runCast(input: BufferView, output: BufferView) {
        switch (input.dtype, output.dtype) {
        case (.float32, .float64): mapViews(input, Float.self, output, Double.self) { Double($0) }
        case (.float64, .float32): mapViews(input, Double.self, output, Float.self) { Float($0) }
        case (.float32, .int32): mapViews(input, Float.self, output, Int32.self) { truncatingToInt32($0) }
        case (.float64, .int32): mapViews(input, Double.self, output, Int32.self) { truncatingToInt32($0) }
        case (.float32, .bool): mapViews(input, Float.self, output, UInt8.self) { flag($0 != 0) }
        case (.float64, .bool): mapViews(input, Double.self, output, UInt8.self) { flag($0 != 0) }
        case (.int32, .float32): mapViews(input, Int32.self, output, Float.self) { Float($0) }
        case (.int32, .float64): mapViews(input, Int32.self, output, Double.self) { Double($0) }
        case (.int32, .bool): mapViews(input, Int32.self, output, UInt8.self) { flag($0 != 0) }
        case (.bool, .float32): mapViews(input, UInt8.self, output, Float.self) { $0 != 0 ? 1 : 0 }
        case (.bool, .float64): mapViews(input, UInt8.self, output, Double.self) { $0 != 0 ? 1 : 0 }
        case (.bool, .int32): mapViews(input, UInt8.self, output, Int32.self) { $0 != 0 ? 1 : 0 }
        case (.bool, .bool): mapViews(input, UInt8.self, output, UInt8.self) { flag($0 != 0) }
        case (.float32, .float32), (.float64, .float64), (.int32, .int32):
            runCopy(input: input, output: output)
        }
    }

    func runCopy(input: BufferView, output: BufferView) {
        precondition(input.dtype.byteSize == output.dtype.byteSize, "CPU copy: dtypes \(input.dtype) and \(output.dtype) differ")
        switch output.dtype.byteSize {
        case 1: mapViews(input, UInt8.self, output, UInt8.self) { $0 }
        case 4: mapViews(input, UInt32.self, output, UInt32.self) { $0 }
        default: mapViews(input, UInt64.self, output, UInt64.self) { $0 }
        }
    }

    func runFill(_ value: Double, output: BufferView) {
        switch output.dtype {
        case .float32: CPUBackend.fill(Float(value), output)
        case .float64: CPUBackend.fill(value, output)
        case .int32: CPUBackend.fill(truncatingToInt32(value), output)
        case .bool: CPUBackend.fill(flag(value != 0), output)
        }
    }

    @inline(__always)
    private static func fill<T>(_ value: T, _ output: BufferView) {
        let plan = StridedPlan(shape: output.layout.shape, strides: [output.layout.strides])
        let target = output.base(T.self)
        let step = plan.innerStrides[0]
        plan.forEachRun { offsets, count in
            let run = target + offsets[0]
            if step == 1 {
                run.update(repeating: value, count: count)
            } else {
                for i in 0..<count { run[i * step] = value }
            }
        }
    }
}
