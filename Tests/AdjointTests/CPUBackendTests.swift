import Foundation
import AdjointTestSupport
import Testing
@testable import Adjoint

// MARK: - Helpers

/// Bytes of `values` as the backend stores them (bools as one byte, 0 or 1).
private func encode<T: TensorScalar>(_ values: [T]) -> [UInt8] {
    if let flags = values as? [Bool] { return flags.map { $0 ? 1 : 0 } }
    return values.withUnsafeBytes { Array($0) }
}

private func decode<T: TensorScalar>(_ bytes: [UInt8], as type: T.Type) -> [T] {
    if T.self == Bool.self { return bytes.map { $0 != 0 } as! [T] }
    let size = T.dtype.byteSize
    return bytes.withUnsafeBytes { raw in
        (0..<(bytes.count / size)).map { raw.loadUnaligned(fromByteOffset: $0 * size, as: T.self) }
    }
}

/// A buffer holding `values`, seen through `layout` (contiguous `[values.count]` by default).
private func makeView<T: TensorScalar>(_ backend: CPUBackend, _ values: [T], layout: Layout? = nil) throws -> BufferView {
    let bytes = encode(values)
    let buffer = try backend.allocate(byteCount: bytes.count)
    try bytes.withUnsafeBytes { try backend.write($0, to: buffer) }
    return BufferView(buffer: buffer, layout: layout ?? Layout(contiguous: [values.count]), dtype: T.dtype)
}

/// A fresh output buffer of `elements` elements (filled with a sentinel so stale values show).
private func makeOutput(_ backend: CPUBackend, _ dtype: DType, shape: [Int], elements: Int? = nil) throws -> BufferView {
    let count = elements ?? shape.reduce(1, *)
    let buffer = try backend.allocate(byteCount: count * dtype.byteSize)
    let sentinel = [UInt8](repeating: 0x7F, count: count * dtype.byteSize)
    try sentinel.withUnsafeBytes { try backend.write($0, to: buffer) }
    return BufferView(buffer: buffer, layout: Layout(contiguous: shape), dtype: dtype)
}

/// The first `count` elements of the view's buffer (from element 0, ignoring the layout).
private func readBack<T: TensorScalar>(_ backend: CPUBackend, _ view: BufferView, count: Int? = nil, as type: T.Type) throws -> [T] {
    let elements = count ?? (view.layout.offset + view.layout.count)
    var bytes = [UInt8](repeating: 0, count: elements * T.dtype.byteSize)
    try bytes.withUnsafeMutableBytes { try backend.read(view.buffer, into: $0) }
    return decode(bytes, as: T.self)
}

/// Runs `call` into a new contiguous output of `shape` and returns its elements.
private func run<T: TensorScalar>(
    _ backend: CPUBackend, _ call: Primitive, _ inputs: [BufferView], shape: [Int], as type: T.Type
) throws -> [T] {
    let output = try makeOutput(backend, T.dtype, shape: shape)
    try backend.execute(call, inputs: inputs, output: output)
    return try readBack(backend, output, count: shape.reduce(1, *), as: T.self)
}

private func close(_ actual: [Double], _ expected: [Double], tolerance: Double = 1e-6) -> Bool {
    guard actual.count == expected.count else { return false }
    for (a, e) in zip(actual, expected) {
        if a.isNaN != e.isNaN { return false }
        if !a.isNaN && Swift.abs(a - e) > tolerance * Swift.max(1, Swift.abs(e)) { return false }
    }
    return true
}

private func close(_ actual: [Float], _ expected: [Double], tolerance: Double = 1e-5) -> Bool {
    close(actual.map(Double.init), expected, tolerance: tolerance)
}

// MARK: - Tests

@Suite struct CPUBackendTests {
    let backend = CPUBackend()

    // MARK: Random

    @Test func profilingTimesEachLaunchByKernelAndShape() throws {
        // A backend of its own with profiling on (the shared one follows ADJOINT_PROFILE).
        let backend = CPUBackend(profiling: true)
        let a = try backend.allocate(byteCount: 6 * 4), b = try backend.allocate(byteCount: 6 * 4), c = try backend.allocate(byteCount: 4 * 4)
        let ones = [Float](repeating: 1, count: 6)
        try ones.withUnsafeBytes { try backend.write($0, to: a) }
        try ones.withUnsafeBytes { try backend.write($0, to: b) }
        let left = BufferView(buffer: a, layout: Layout(contiguous: [1, 2, 3]), dtype: .float32)
        let right = BufferView(buffer: b, layout: Layout(contiguous: [1, 3, 2]), dtype: .float32)
        let product = BufferView(buffer: c, layout: Layout(contiguous: [1, 2, 2]), dtype: .float32)
        for _ in 0..<3 { try backend.execute(.matmul, inputs: [left, right], output: product) }
        try backend.execute(.unary(.exp), inputs: [left], output: BufferView(buffer: b, layout: Layout(contiguous: [1, 2, 3]), dtype: .float32))
        let profile = try #require(backend.kernelProfile)
        #expect(profile.kernels["matmul [1, 2, 2]"]?.launches == 3, "\(profile.kernels.keys.sorted())")
        #expect(profile.kernels["unary.exp [1, 2, 3]"]?.launches == 1, "\(profile.kernels.keys.sorted())")
        #expect(profile.busyNanoseconds >= profile.kernels.values.map(\.nanoseconds).max()!)
        #expect(CPUBackend(profiling: false).kernelProfile == nil)
    }

    @Test func philoxKnownAnswerVectors() {
        let zero = Philox4x32.block(counter: (0, 0, 0, 0), key: (0, 0))
        #expect([zero.0, zero.1, zero.2, zero.3] == [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8])
        let ones = Philox4x32.block(counter: (.max, .max, .max, .max), key: (.max, .max))
        #expect([ones.0, ones.1, ones.2, ones.3] == [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd])
        // Block n/4 of offset 0xffffffff_ffffffff under seed all-ones is the same counter.
        let generator = Philox4x32(seed: .max)
        let block = generator.block(index: 0xFFFF_FFFF_FFFF_FFFF, offset: .max)
        #expect(block.0 == 0x408f_276d && block.3 == 0x6d54_51fd)
        #expect(generator.word(6, offset: .max) == generator.block(index: 1, offset: .max).2)
    }

    @Test func randomFollowsTheContractFormulas() throws {
        let words: [UInt32] = [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
        let bits = try run(backend, .random(.bits, seed: 0, offset: 0), [], shape: [2, 3], as: Int32.self)
        #expect(Array(bits.prefix(4)) == words.map { Int32(bitPattern: $0) })

        let uniformExpected = words.map { Double($0 >> 8) / 16_777_216 }
        let uniform32 = try run(backend, .random(.uniform, seed: 0, offset: 0), [], shape: [4], as: Float.self)
        let uniform64 = try run(backend, .random(.uniform, seed: 0, offset: 0), [], shape: [4], as: Double.self)
        #expect(uniform64 == uniformExpected)
        #expect(uniform32.map(Double.init) == uniformExpected)

        var normalExpected: [Double] = []
        for pair in 0..<2 {
            let u1 = (Double(words[2 * pair] >> 8) + 1) / 16_777_216
            let u2 = Double(words[2 * pair + 1] >> 8) / 16_777_216
            let radius = (-2 * Foundation.log(u1)).squareRoot()
            normalExpected += [radius * Foundation.cos(2 * Double.pi * u2), radius * Foundation.sin(2 * Double.pi * u2)]
        }
        let normal64 = try run(backend, .random(.normal, seed: 0, offset: 0), [], shape: [3], as: Double.self)
        #expect(close(normal64, Array(normalExpected.prefix(3)), tolerance: 1e-12))
        let normal32 = try run(backend, .random(.normal, seed: 0, offset: 0), [], shape: [4], as: Float.self)
        #expect(close(normal32, normalExpected, tolerance: 1e-5))

        // A different offset selects a different stream; the same arguments repeat exactly.
        let shifted = try run(backend, .random(.bits, seed: 0, offset: 1), [], shape: [4], as: Int32.self)
        #expect(shifted != Array(bits.prefix(4)))
        let again = try run(backend, .random(.bits, seed: 0, offset: 0), [], shape: [6], as: Int32.self)
        #expect(again == bits)
    }

    @Test func randomLargeDrawMatchesScalarPhilox() throws {
        let count = 1_100_003
        let seed: UInt64 = 0x1234_5678_9ABC_DEF0, offset: UInt64 = 42
        let bits = try run(backend, .random(.bits, seed: seed, offset: offset), [], shape: [count], as: Int32.self)
        let generator = Philox4x32(seed: seed)
        for index in [0, 1, 2, 3, 4, 777_777, count - 1] {
            #expect(UInt32(bitPattern: bits[index]) == generator.word(UInt64(index), offset: offset))
        }
        let uniform = try run(backend, .random(.uniform, seed: seed, offset: offset), [], shape: [count], as: Float.self)
        #expect(uniform.allSatisfy { $0 >= 0 && $0 < 1 })
        let mean = uniform.reduce(0.0) { $0 + Double($1) } / Double(count)
        #expect(Swift.abs(mean - 0.5) < 0.002)
    }

    // MARK: Unary

    @Test func unaryFloatOperations() throws {
        let values: [Double] = [-2.5, -0.5, 0, 0.5, 1, 2.5]
        let cases: [(UnaryOp, (Double) -> Double)] = [
            (.neg, { -$0 }), (.exp, { Foundation.exp($0) }), (.sin, { Foundation.sin($0) }), (.cos, { Foundation.cos($0) }),
            (.tanh, { Foundation.tanh($0) }), (.abs, { Swift.abs($0) }), (.sign, { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }),
            (.floor, { Foundation.floor($0) }), (.round, { Foundation.round($0) }), (.sigmoid, { 1 / (1 + Foundation.exp(-$0)) }),
        ]
        for (op, reference) in cases {
            let expected = values.map(reference)
            let input64 = try makeView(backend, values)
            #expect(close(try run(backend, .unary(op), [input64], shape: [6], as: Double.self), expected, tolerance: 1e-12), "\(op)")
            let input32 = try makeView(backend, values.map { Float($0) })
            #expect(close(try run(backend, .unary(op), [input32], shape: [6], as: Float.self), expected), "\(op)")
        }
        let positive = try makeView(backend, [Float(1), 4, 0.25])
        #expect(try run(backend, .unary(.sqrt), [positive], shape: [3], as: Float.self) == [1, 2, 0.5])
        #expect(close(try run(backend, .unary(.log), [positive], shape: [3], as: Float.self), [0, Foundation.log(4), Foundation.log(0.25)]))
        // Halves round away from zero; sigmoid stays finite far out.
        let halves = try makeView(backend, [-1.5, 0.5, 2.5, -1000, 1000] as [Double])
        #expect(try run(backend, .unary(.round), [halves], shape: [5], as: Double.self) == [-2, 1, 3, -1000, 1000])
        #expect(try run(backend, .unary(.sigmoid), [halves], shape: [5], as: Double.self).suffix(2) == [0, 1])
    }

    @Test func unaryIntegerAndBoolOperations() throws {
        let integers = try makeView(backend, [Int32(-3), 0, 7, Int32.min])
        #expect(try run(backend, .unary(.neg), [integers], shape: [4], as: Int32.self) == [3, 0, -7, Int32.min])
        #expect(try run(backend, .unary(.abs), [integers], shape: [4], as: Int32.self) == [3, 0, 7, Int32.min])
        #expect(try run(backend, .unary(.sign), [integers], shape: [4], as: Int32.self) == [-1, 0, 1, -1])
        let flags = try makeView(backend, [true, false, true])
        #expect(try run(backend, .unary(.logicalNot), [flags], shape: [3], as: Bool.self) == [false, true, false])
        #expect(throws: AdjointError.self) { try run(backend, .unary(.exp), [integers], shape: [4], as: Int32.self) }
        #expect(backend.supports(.unary(.exp), inputs: [.int32], output: .int32) == false)
    }

    @Test func unaryReadsAPermutedView() throws {
        // Storage [[1, 2, 3], [4, 5, 6]] read transposed as [[1, 4], [2, 5], [3, 6]].
        let transposed = try makeView(backend, [Float(1), 2, 3, 4, 5, 6], layout: Layout(shape: [3, 2], strides: [1, 3]))
        #expect(try run(backend, .unary(.neg), [transposed], shape: [3, 2], as: Float.self) == [-1, -4, -2, -5, -3, -6])
        // A reversed view (negative stride, offset at the end).
        let reversed = try makeView(backend, [Int32(1), 2, 3, 4], layout: Layout(shape: [4], strides: [-1], offset: 3))
        #expect(try run(backend, .unary(.neg), [reversed], shape: [4], as: Int32.self) == [-4, -3, -2, -1])
    }

    // MARK: Binary

    @Test func binaryBroadcastsStrideZeroViews() throws {
        let matrix = try makeView(backend, [Float(1), 2, 3, 4, 5, 6], layout: Layout(contiguous: [2, 3]))
        let row = try makeView(backend, [Float(10), 20, 30], layout: Layout(shape: [2, 3], strides: [0, 1]))
        let column = try makeView(backend, [Float(100), 200], layout: Layout(shape: [2, 3], strides: [1, 0]))
        let scalar = try makeView(backend, [Float(2)], layout: Layout(shape: [2, 3], strides: [0, 0]))
        #expect(try run(backend, .binary(.add), [matrix, row], shape: [2, 3], as: Float.self) == [11, 22, 33, 14, 25, 36])
        #expect(try run(backend, .binary(.sub), [column, matrix], shape: [2, 3], as: Float.self) == [99, 98, 97, 196, 195, 194])
        #expect(try run(backend, .binary(.mul), [matrix, scalar], shape: [2, 3], as: Float.self) == [2, 4, 6, 8, 10, 12])
        #expect(try run(backend, .binary(.div), [scalar, matrix], shape: [2, 3], as: Float.self) == [2, 1, 2 / Float(3), 0.5, 0.4, 2 / Float(6)])
        #expect(try run(backend, .binary(.pow), [matrix, scalar], shape: [2, 3], as: Float.self) == [1, 4, 9, 16, 25, 36])
        #expect(try run(backend, .binary(.add), [row, column], shape: [2, 3], as: Float.self) == [110, 120, 130, 210, 220, 230])
    }

    @Test func binaryMaximumMinimumPropagateNaN() throws {
        let left = try makeView(backend, [1.0, .nan, 5, -1])
        let right = try makeView(backend, [2.0, 3, .nan, -2])
        let maximum = try run(backend, .binary(.maximum), [left, right], shape: [4], as: Double.self)
        #expect(maximum[0] == 2 && maximum[1].isNaN && maximum[2].isNaN && maximum[3] == -1)
        let minimum = try run(backend, .binary(.minimum), [left, right], shape: [4], as: Double.self)
        #expect(minimum[0] == 1 && minimum[1].isNaN && minimum[2].isNaN && minimum[3] == -2)
    }

    @Test func binaryInt32Arithmetic() throws {
        let left = try makeView(backend, [Int32(7), -7, 7, -7, 5, Int32.min, Int32.max])
        let right = try makeView(backend, [Int32(2), 2, -2, -2, 0, -1, 1])
        #expect(try run(backend, .binary(.div), [left, right], shape: [7], as: Int32.self) == [3, -3, -3, 3, 0, Int32.min, Int32.max])
        #expect(try run(backend, .binary(.add), [left, right], shape: [7], as: Int32.self) == [9, -5, 5, -9, 5, Int32.max, Int32.min])
        #expect(try run(backend, .binary(.mul), [left, right], shape: [7], as: Int32.self) == [14, -14, -14, 14, 0, Int32.min, Int32.max])
        #expect(try run(backend, .binary(.maximum), [left, right], shape: [7], as: Int32.self) == [7, 2, 7, -2, 5, -1, Int32.max])
        #expect(try run(backend, .binary(.minimum), [left, right], shape: [7], as: Int32.self) == [2, -7, -2, -7, 0, Int32.min, 1])
        #expect(throws: AdjointError.self) { try run(backend, .binary(.pow), [left, right], shape: [7], as: Int32.self) }
    }

    @Test func comparisonsOnEveryDtype() throws {
        let expectations: [(BinaryOp, [Bool])] = [
            (.lt, [true, false, false]), (.le, [true, true, false]), (.gt, [false, false, true]),
            (.ge, [false, true, true]), (.eq, [false, true, false]), (.ne, [true, false, true]),
        ]
        let pairs: [(BufferView, BufferView)] = [
            (try makeView(backend, [Float(1), 2, 3]), try makeView(backend, [Float(2), 2, 2])),
            (try makeView(backend, [1.0, 2, 3]), try makeView(backend, [2.0, 2, 2])),
            (try makeView(backend, [Int32(1), 2, 3]), try makeView(backend, [Int32(2), 2, 2])),
            (try makeView(backend, [false, true, true]), try makeView(backend, [true, true, false])),
        ]
        for (left, right) in pairs {
            for (op, expected) in expectations {
                #expect(try run(backend, .binary(op), [left, right], shape: [3], as: Bool.self) == expected, "\(op) \(left.dtype)")
            }
        }
        let left = try makeView(backend, [false, false, true, true])
        let right = try makeView(backend, [false, true, false, true])
        #expect(try run(backend, .binary(.logicalAnd), [left, right], shape: [4], as: Bool.self) == [false, false, false, true])
        #expect(try run(backend, .binary(.logicalOr), [left, right], shape: [4], as: Bool.self) == [false, true, true, true])
    }

    // MARK: Select, cast, copy, fill

    @Test func selectBroadcastsEveryOperand() throws {
        let condition = try makeView(backend, [true, false, true], layout: Layout(shape: [2, 3], strides: [0, 1]))
        let whenTrue = try makeView(backend, [Int32(1), 2, 3, 4, 5, 6], layout: Layout(contiguous: [2, 3]))
        let whenFalse = try makeView(backend, [Int32(-1)], layout: Layout(shape: [2, 3], strides: [0, 0]))
        #expect(try run(backend, .select, [condition, whenTrue, whenFalse], shape: [2, 3], as: Int32.self) == [1, -1, 3, 4, -1, 6])
        let doubles = try makeView(backend, [1.5, 2.5, 3.5, 4.5, 5.5, 6.5], layout: Layout(contiguous: [2, 3]))
        let zero = try makeView(backend, [0.0], layout: Layout(shape: [2, 3], strides: [0, 0]))
        #expect(try run(backend, .select, [condition, zero, doubles], shape: [2, 3], as: Double.self) == [0, 2.5, 0, 0, 5.5, 0])
        let flags = try makeView(backend, [true, true, false], layout: Layout(shape: [2, 3], strides: [0, 1]))
        let falseFlags = try makeView(backend, [false], layout: Layout(shape: [2, 3], strides: [0, 0]))
        #expect(try run(backend, .select, [condition, flags, falseFlags], shape: [2, 3], as: Bool.self) == [true, false, false, true, false, false])
    }

    @Test func castBetweenEveryPairOfDtypes() throws {
        let floats = try makeView(backend, [Float(-2.7), 0, 3.9, 0.25])
        #expect(try run(backend, .cast, [floats], shape: [4], as: Int32.self) == [-2, 0, 3, 0])
        #expect(try run(backend, .cast, [floats], shape: [4], as: Bool.self) == [true, false, true, true])
        #expect(try run(backend, .cast, [floats], shape: [4], as: Double.self) == [Double(Float(-2.7)), 0, Double(Float(3.9)), 0.25])
        #expect(try run(backend, .cast, [floats], shape: [4], as: Float.self) == [-2.7, 0, 3.9, 0.25])
        let doubles = try makeView(backend, [-2.7, 0, 1e10, .nan])
        #expect(try run(backend, .cast, [doubles], shape: [4], as: Int32.self) == [-2, 0, Int32.max, 0])
        #expect(try run(backend, .cast, [doubles], shape: [4], as: Float.self).prefix(3) == [-2.7, 0, 1e10])
        #expect(try run(backend, .cast, [doubles], shape: [4], as: Bool.self) == [true, false, true, true])
        let integers = try makeView(backend, [Int32(-5), 0, 16_777_217])
        #expect(try run(backend, .cast, [integers], shape: [3], as: Float.self) == [-5, 0, 16_777_216])
        #expect(try run(backend, .cast, [integers], shape: [3], as: Double.self) == [-5, 0, 16_777_217])
        #expect(try run(backend, .cast, [integers], shape: [3], as: Bool.self) == [true, false, true])
        #expect(try run(backend, .cast, [integers], shape: [3], as: Int32.self) == [-5, 0, 16_777_217])
        let flags = try makeView(backend, [true, false])
        #expect(try run(backend, .cast, [flags], shape: [2], as: Float.self) == [1, 0])
        #expect(try run(backend, .cast, [flags], shape: [2], as: Double.self) == [1, 0])
        #expect(try run(backend, .cast, [flags], shape: [2], as: Int32.self) == [1, 0])
        #expect(try run(backend, .cast, [flags], shape: [2], as: Bool.self) == [true, false])
    }

    @Test func copyWritesIntoAStridedOutputView() throws {
        // A 4x4 zero buffer; the transposed 2x2 input lands in its centre.
        let target = try makeView(backend, [Float](repeating: 0, count: 16))
        let window = BufferView(buffer: target.buffer, layout: Layout(shape: [2, 2], strides: [4, 1], offset: 5), dtype: .float32)
        let input = try makeView(backend, [Float(1), 2, 3, 4], layout: Layout(shape: [2, 2], strides: [1, 2]))
        try backend.execute(.copy, inputs: [input], output: window)
        #expect(try readBack(backend, target, count: 16, as: Float.self) == [0, 0, 0, 0, 0, 1, 3, 0, 0, 2, 4, 0, 0, 0, 0, 0])
        // Every other element of a bool buffer, from a broadcast scalar.
        let flags = try makeView(backend, [Bool](repeating: false, count: 6))
        let everyOther = BufferView(buffer: flags.buffer, layout: Layout(shape: [3], strides: [2], offset: 1), dtype: .bool)
        let scalar = try makeView(backend, [true], layout: Layout(shape: [3], strides: [0]))
        try backend.execute(.copy, inputs: [scalar], output: everyOther)
        #expect(try readBack(backend, flags, count: 6, as: Bool.self) == [false, true, false, true, false, true])
    }

    @Test func fillWritesEveryDtypeThroughStridedViews() throws {
        let target = try makeView(backend, [Double](repeating: 0, count: 12))
        let column = BufferView(buffer: target.buffer, layout: Layout(shape: [3, 1], strides: [4, 1], offset: 2), dtype: .float64)
        try backend.execute(.fill(7.5), inputs: [], output: column)
        #expect(try readBack(backend, target, count: 12, as: Double.self) == [0, 0, 7.5, 0, 0, 0, 7.5, 0, 0, 0, 7.5, 0])
        #expect(try run(backend, .fill(-2.9), [], shape: [3], as: Int32.self) == [-2, -2, -2])
        #expect(try run(backend, .fill(0.5), [], shape: [2], as: Float.self) == [0.5, 0.5])
        #expect(try run(backend, .fill(3), [], shape: [2], as: Bool.self) == [true, true])
        #expect(try run(backend, .fill(0), [], shape: [2], as: Bool.self) == [false, false])
    }

    @Test func rankZeroAndEmptyTensors() throws {
        let scalar = try makeView(backend, [Float(-3)], layout: Layout(contiguous: []))
        #expect(try run(backend, .unary(.abs), [scalar], shape: [], as: Float.self) == [3])
        #expect(try run(backend, .binary(.mul), [scalar, scalar], shape: [], as: Float.self) == [9])
        #expect(try run(backend, .fill(4), [], shape: [], as: Int32.self) == [4])
        let empty = try makeView(backend, [Float](), layout: Layout(contiguous: [0, 3]))
        let output = try makeOutput(backend, .float32, shape: [0, 3])
        try backend.execute(.unary(.exp), inputs: [empty], output: output)
        try backend.execute(.binary(.add), inputs: [empty, empty], output: output)
        try backend.execute(.copy, inputs: [empty], output: output)
        try backend.execute(.random(.normal, seed: 1, offset: 0), inputs: [], output: output)
        let reduced = try makeOutput(backend, .float32, shape: [0])
        try backend.execute(.reduce(.sum, outer: 0, length: 3, inner: 1), inputs: [empty], output: reduced)
        #expect(try backend.allocate(byteCount: 0).byteCount >= 0)
    }

    // MARK: Reduce

    @Test func reduceOverInnerMiddleAndOuterAxes() throws {
        // x[a][b][c] = 100a + 10b + c, shape [2, 3, 4].
        var values: [Float] = []
        for a in 0..<2 { for b in 0..<3 { for c in 0..<4 { values.append(Float(100 * a + 10 * b + c)) } } }
        let x = try makeView(backend, values, layout: Layout(contiguous: [2, 3, 4]))
        // Last axis: [outer 6, length 4, inner 1].
        #expect(try run(backend, .reduce(.sum, outer: 6, length: 4, inner: 1), [x], shape: [6], as: Float.self) == [6, 46, 86, 406, 446, 486])
        #expect(try run(backend, .reduce(.max, outer: 6, length: 4, inner: 1), [x], shape: [6], as: Float.self) == [3, 13, 23, 103, 113, 123])
        #expect(try run(backend, .reduce(.argmin, outer: 6, length: 4, inner: 1), [x], shape: [6], as: Int32.self) == [0, 0, 0, 0, 0, 0])
        // Middle axis: [2, 3, 4].
        #expect(try run(backend, .reduce(.sum, outer: 2, length: 3, inner: 4), [x], shape: [8], as: Float.self) == [30, 33, 36, 39, 330, 333, 336, 339])
        #expect(try run(backend, .reduce(.min, outer: 2, length: 3, inner: 4), [x], shape: [8], as: Float.self) == [0, 1, 2, 3, 100, 101, 102, 103])
        #expect(try run(backend, .reduce(.argmax, outer: 2, length: 3, inner: 4), [x], shape: [8], as: Int32.self) == [2, 2, 2, 2, 2, 2, 2, 2])
        // First axis: [1, 2, 12].
        let firstAxisSum = try run(backend, .reduce(.sum, outer: 1, length: 2, inner: 12), [x], shape: [12], as: Float.self)
        #expect(firstAxisSum == [100, 102, 104, 106, 120, 122, 124, 126, 140, 142, 144, 146])
        // Everything: [1, 24, 1].
        #expect(try run(backend, .reduce(.sum, outer: 1, length: 24, inner: 1), [x], shape: [1], as: Float.self) == [2 * 138 + 2400 / 2 * 1])
    }

    @Test func reduceEveryDtypeWithTiesAndNaN() throws {
        let integers = try makeView(backend, [Int32(3), 9, -1, 9, -1, 2])
        #expect(try run(backend, .reduce(.sum, outer: 2, length: 3, inner: 1), [integers], shape: [2], as: Int32.self) == [11, 10])
        #expect(try run(backend, .reduce(.argmax, outer: 1, length: 6, inner: 1), [integers], shape: [1], as: Int32.self) == [1])
        #expect(try run(backend, .reduce(.argmin, outer: 1, length: 6, inner: 1), [integers], shape: [1], as: Int32.self) == [2])
        #expect(try run(backend, .reduce(.argmax, outer: 1, length: 3, inner: 2), [integers], shape: [2], as: Int32.self) == [0, 0])
        #expect(try run(backend, .reduce(.argmin, outer: 1, length: 3, inner: 2), [integers], shape: [2], as: Int32.self) == [1, 2])
        #expect(try run(backend, .reduce(.min, outer: 1, length: 3, inner: 2), [integers], shape: [2], as: Int32.self) == [-1, 2])

        let withNaN = try makeView(backend, [1.0, .nan, 7, .nan, 2, 3])
        let maximum = try run(backend, .reduce(.max, outer: 2, length: 3, inner: 1), [withNaN], shape: [2], as: Double.self)
        #expect(maximum[0].isNaN && maximum[1].isNaN)
        #expect(try run(backend, .reduce(.argmax, outer: 2, length: 3, inner: 1), [withNaN], shape: [2], as: Int32.self) == [1, 0])
        #expect(try run(backend, .reduce(.argmin, outer: 1, length: 3, inner: 2), [withNaN], shape: [2], as: Int32.self) == [0, 0])
        let columnMinimum = try run(backend, .reduce(.min, outer: 1, length: 3, inner: 2), [withNaN], shape: [2], as: Double.self)
        #expect(columnMinimum[0] == 1 && columnMinimum[1].isNaN)
    }

    @Test func reduceOfAnEmptyAxis() throws {
        let empty = try makeView(backend, [Float]())
        #expect(try run(backend, .reduce(.sum, outer: 2, length: 0, inner: 1), [empty], shape: [2], as: Float.self) == [0, 0])
        #expect(try run(backend, .reduce(.max, outer: 2, length: 0, inner: 1), [empty], shape: [2], as: Float.self) == [-.infinity, -.infinity])
        #expect(try run(backend, .reduce(.min, outer: 1, length: 0, inner: 2), [empty], shape: [2], as: Float.self) == [.infinity, .infinity])
        #expect(try run(backend, .reduce(.argmax, outer: 1, length: 0, inner: 2), [empty], shape: [2], as: Int32.self) == [0, 0])
        #expect(try run(backend, .reduce(.argmin, outer: 2, length: 0, inner: 1), [empty], shape: [2], as: Int32.self) == [0, 0])
        let noIntegers = try makeView(backend, [Int32]())
        #expect(try run(backend, .reduce(.max, outer: 1, length: 0, inner: 1), [noIntegers], shape: [1], as: Int32.self) == [Int32.min])
        #expect(try run(backend, .reduce(.min, outer: 1, length: 0, inner: 1), [noIntegers], shape: [1], as: Int32.self) == [Int32.max])
        #expect(try run(backend, .reduce(.sum, outer: 1, length: 0, inner: 3), [noIntegers], shape: [3], as: Int32.self) == [0, 0, 0])
    }

    @Test func largeFloat32SumIsAccurateAndMultithreaded() throws {
        let count = 1 << 21
        var values = [Float](repeating: 0, count: count)
        var reference = 0.0
        for index in 0..<count {
            values[index] = Float(index % 1000) * 0.001 + 0.1
            reference += Double(values[index])
        }
        let x = try makeView(backend, values)
        let total = try run(backend, .reduce(.sum, outer: 1, length: count, inner: 1), [x], shape: [1], as: Float.self)[0]
        #expect(Swift.abs(Double(total) - reference) / reference < 1e-6)
        // The same data as [2048, 1024] summed over the first axis (columns).
        let columns = try run(backend, .reduce(.sum, outer: 1, length: 2048, inner: 1024), [x], shape: [1024], as: Float.self)
        #expect(Swift.abs(Double(columns.reduce(0, +)) - reference) / reference < 1e-5)
        let maximum = try run(backend, .reduce(.argmax, outer: 1, length: count, inner: 1), [x], shape: [1], as: Int32.self)
        #expect(maximum == [999])
    }

    // MARK: Matmul

    @Test(arguments: [
        // (batch, m, k, n, A strides, B strides): row-major, transposed A, transposed B,
        // B broadcast over the batch (one folded GEMM), A broadcast, both transposed.
        (1, 2, 3, 4, [6, 3, 1], [12, 4, 1]),
        (2, 2, 3, 4, [6, 1, 2], [12, 4, 1]),
        (2, 3, 2, 4, [6, 2, 1], [8, 1, 2]),
        (3, 2, 3, 2, [6, 3, 1], [0, 2, 1]),
        (3, 4, 2, 3, [0, 2, 1], [6, 3, 1]),
        (2, 3, 4, 2, [12, 1, 3], [0, 1, 4]),
        (2, 1, 5, 3, [5, 5, 1], [0, 3, 1]),
        (2, 3, 2, 2, [6, 0, 1], [4, 2, 1]),
        // Matrix-vector products (BLAS GEMV): one output column from a row-major or
        // transposed A, one output row from a row-major or transposed B.
        (1, 5, 7, 1, [35, 7, 1], [7, 1, 1]),
        (2, 5, 7, 1, [35, 1, 5], [7, 1, 7]),
        (1, 1, 7, 6, [7, 7, 1], [42, 6, 1]),
        (2, 1, 7, 6, [7, 1, 1], [42, 1, 7]),
        (1, 5, 7, 1, [35, 7, 1], [21, 3, 1]),
        (1, 1, 7, 6, [14, 1, 2], [42, 6, 1]),
    ])
    func matmulMatchesANaiveTripleLoop(batch: Int, m: Int, k: Int, n: Int, aStrides: [Int], bStrides: [Int]) throws {
        let aCount = Layout(shape: [batch, m, k], strides: aStrides).requiredElements
        let bCount = Layout(shape: [batch, k, n], strides: bStrides).requiredElements
        let a = (0..<aCount).map { Double(($0 * 7) % 11) - 5 }
        let b = (0..<bCount).map { Double(($0 * 5) % 13) - 6 }
        let expected = naiveMatmul(a, aStrides, b, bStrides, batch: batch, m: m, k: k, n: n)
        let a64 = try makeView(backend, a, layout: Layout(shape: [batch, m, k], strides: aStrides))
        let b64 = try makeView(backend, b, layout: Layout(shape: [batch, k, n], strides: bStrides))
        #expect(try run(backend, .matmul, [a64, b64], shape: [batch, m, n], as: Double.self) == expected)
        let a32 = try makeView(backend, a.map { Float($0) }, layout: Layout(shape: [batch, m, k], strides: aStrides))
        let b32 = try makeView(backend, b.map { Float($0) }, layout: Layout(shape: [batch, k, n], strides: bStrides))
        #expect(try run(backend, .matmul, [a32, b32], shape: [batch, m, n], as: Float.self).map(Double.init) == expected)
    }

    @Test func matmulWithEmptyDimensions() throws {
        let a = try makeView(backend, [Float](), layout: Layout(contiguous: [2, 3, 0]))
        let b = try makeView(backend, [Float](), layout: Layout(contiguous: [2, 0, 4]))
        #expect(try run(backend, .matmul, [a, b], shape: [2, 3, 4], as: Float.self) == [Float](repeating: 0, count: 24))
        let noRows = try makeView(backend, [Float](), layout: Layout(contiguous: [1, 0, 2]))
        let other = try makeView(backend, [Float(1), 2], layout: Layout(contiguous: [1, 2, 1]))
        let output = try makeOutput(backend, .float32, shape: [1, 0, 1])
        try backend.execute(.matmul, inputs: [noRows, other], output: output)
    }

    // MARK: Gather and scatter-add

    @Test func gatherAlongTheMiddleAxis() throws {
        // x: [outer 2, length 3, inner 2]; indices [2, 2, 2].
        let x = try makeView(backend, [Float(0), 1, 10, 11, 20, 21, 100, 101, 110, 111, 120, 121])
        let indices = try makeView(backend, [Int32(2), 0, 1, 1, 0, 0, 2, 1])
        let gathered = try run(backend, .gather(outer: 2, length: 3, count: 2, inner: 2), [x, indices], shape: [8], as: Float.self)
        #expect(gathered == [20, 1, 10, 11, 100, 101, 120, 111])
        let flags = try makeView(backend, [true, false, false])
        let picks = try makeView(backend, [Int32(0), 0, 2, 1, 7])
        #expect(try run(backend, .gather(outer: 1, length: 3, count: 5, inner: 1), [flags, picks], shape: [5], as: Bool.self) == [true, true, false, false, false])
        let wide = try makeView(backend, [1.5, 2.5])
        #expect(try run(backend, .gather(outer: 1, length: 2, count: 3, inner: 1), [wide, try makeView(backend, [Int32(1), 1, 0])], shape: [3], as: Double.self) == [2.5, 2.5, 1.5])
        let integers = try makeView(backend, [Int32(4), 5])
        #expect(try run(backend, .gather(outer: 1, length: 2, count: 2, inner: 1), [integers, try makeView(backend, [Int32(1), -1])], shape: [2], as: Int32.self) == [5, 0])
    }

    @Test func scatterAddAccumulatesRepeatedIndices() throws {
        // updates [outer 1, count 3, inner 2], output [1, length 2, 2].
        let updates = try makeView(backend, [Float(1), 2, 3, 4, 5, 6])
        let indices = try makeView(backend, [Int32(1), 0, 1, 1, 0, 9])
        let result = try run(backend, .scatterAdd(outer: 1, length: 2, count: 3, inner: 2), [updates, indices], shape: [4], as: Float.self)
        #expect(result == [5, 2, 4, 4])
        let integerUpdates = try makeView(backend, [Int32(1), 2, 3, 4])
        let integerIndices = try makeView(backend, [Int32(0), 0, 2, -1])
        #expect(try run(backend, .scatterAdd(outer: 2, length: 3, count: 2, inner: 1), [integerUpdates, integerIndices], shape: [6], as: Int32.self) == [3, 0, 0, 0, 0, 3])
        let doubleUpdates = try makeView(backend, [0.5, 0.25])
        #expect(try run(backend, .scatterAdd(outer: 1, length: 2, count: 2, inner: 1), [doubleUpdates, try makeView(backend, [Int32(1), 1])], shape: [2], as: Double.self) == [0, 0.75])
    }

    // MARK: Large sizes and threads

    @Test func largeBroadcastTakesTheMultithreadedPath() throws {
        let rows = 1200, columns = 1000
        let matrix = (0..<(rows * columns)).map { Float($0 % 97) }
        let a = try makeView(backend, matrix, layout: Layout(contiguous: [rows, columns]))
        let rowBias = try makeView(backend, (0..<columns).map { Float($0) }, layout: Layout(shape: [rows, columns], strides: [0, 1]))
        let sum = try run(backend, .binary(.add), [a, rowBias], shape: [rows, columns], as: Float.self)
        for index in [0, 1, 999, 1000, 654_321, rows * columns - 1] {
            #expect(sum[index] == Float(index % 97) + Float(index % columns))
        }
        // The transpose of the same matrix (strides [1, columns]) through the strided path.
        let transposed = BufferView(buffer: a.buffer, layout: Layout(shape: [columns, rows], strides: [1, columns]), dtype: .float32)
        let copied = try run(backend, .copy, [transposed], shape: [columns, rows], as: Float.self)
        for (i, j) in [(0, 0), (3, 7), (999, 1199), (500, 600)] {
            #expect(copied[i * rows + j] == Float((j * columns + i) % 97))
        }
    }

    @Test func batchedTransposeCopyUsesTiles() throws {
        // [batch 3, 40, 70] stored, read as [3, 70, 40] (last two axes swapped) and cast.
        let batch = 3, rows = 40, columns = 70
        let stored = (0..<(batch * rows * columns)).map { Int32($0) }
        let input = try makeView(backend, stored, layout: Layout(shape: [batch, columns, rows], strides: [rows * columns, 1, columns]))
        let copied = try run(backend, .copy, [input], shape: [batch, columns, rows], as: Int32.self)
        let converted = try run(backend, .cast, [input], shape: [batch, columns, rows], as: Double.self)
        var expected: [Int32] = []
        for b in 0..<batch { for i in 0..<columns { for j in 0..<rows { expected.append(Int32(b * rows * columns + j * columns + i)) } } }
        #expect(copied == expected)
        #expect(converted == expected.map(Double.init))
    }

    @Test func executeIsSafeFromSeveralThreads() throws {
        let backend = self.backend
        let input = try makeView(backend, (0..<100_000).map { Float($0) })
        let failures = LockedCounter()
        DispatchQueue.concurrentPerform(iterations: 8) { task in
            do {
                let output = try makeOutput(backend, .float32, shape: [100_000])
                try backend.execute(.binary(.mul), inputs: [input, input], output: output)
                let values = try readBack(backend, output, count: 100_000, as: Float.self)
                if values[300] != 90_000 || values[task] != Float(task * task) { failures.increment() }
            } catch {
                failures.increment()
            }
        }
        #expect(failures.value == 0)
    }

    // MARK: Pool and ledger

    @Test func poolReusesMemoryAndLedgerBalances() throws {
        let backend = CPUBackend()
        let start = backend.ledger
        do {
            let first = try backend.allocate(byteCount: 1000)
            #expect(first.byteCount >= 1000)
            #expect(backend.ledger.liveBytes == start.liveBytes + first.byteCount)
            #expect(backend.ledger.liveBuffers == start.liveBuffers + 1)
        }
        #expect(backend.ledger.liveBytes == start.liveBytes)
        #expect(backend.ledger.pooledBytes > start.pooledBytes)
        let hitsBefore = backend.ledger.poolHits
        do {
            let second = try backend.allocate(byteCount: 990)
            #expect(backend.ledger.poolHits == hitsBefore + 1)
            let bytes: [UInt8] = [1, 2, 3]
            try bytes.withUnsafeBytes { try backend.write($0, to: second) }
            var back = [UInt8](repeating: 0, count: 3)
            try back.withUnsafeMutableBytes { try backend.read(second, into: $0) }
            #expect(back == bytes)
            #expect(Int(bitPattern: (second as! CPUBuffer).pointer) % 64 == 0)
        }
        let ledger = backend.ledger
        #expect(ledger.liveBytes == start.liveBytes && ledger.liveBuffers == start.liveBuffers)
        #expect(ledger.poolMisses == start.poolMisses + 1)
        #expect(ledger.bytesToDevice == start.bytesToDevice + 3 && ledger.bytesFromDevice == start.bytesFromDevice + 3)
        #expect(ledger.peakBytes >= 1000)
        backend.emptyPool()
        #expect(backend.ledger.pooledBytes == 0)
        let launches = backend.ledger.launches
        _ = try run(backend, .fill(1), [], shape: [3], as: Float.self)
        #expect(backend.ledger.launches == launches + 1)
        backend.recordFallback(.matmul)
        #expect(backend.ledger.cpuFallbacks == start.cpuFallbacks + 1)
        let empty = try backend.allocate(byteCount: 0)
        try backend.write(UnsafeRawBufferPointer(start: nil, count: 0), to: empty)
    }

    @Test func bucketSizesRoundUpWithBoundedWaste() {
        #expect(CPUBufferPool.bucketBytes(for: 0) == CPUBufferPool.minimumBucketBytes)
        #expect(CPUBufferPool.bucketBytes(for: 256) == 256)
        #expect(CPUBufferPool.bucketBytes(for: 257) == 320)
        #expect(CPUBufferPool.bucketBytes(for: 1 << 20) == 1 << 20)
        for size in [300, 4097, 100_000, 12_345_678] {
            let bucket = CPUBufferPool.bucketBytes(for: size)
            #expect(bucket >= size && Double(bucket) <= Double(size) * 1.25 + 1)
        }
    }

    @Test func processorNameIsNotEmpty() {
        #expect(!CPUBackend.processorName.isEmpty)
    }
}

/// A thread-safe tally for the concurrency test.
private final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() {
        lock.lock()
        count += 1
        lock.unlock()
    }
    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }
}
