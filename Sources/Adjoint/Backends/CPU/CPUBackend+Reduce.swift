import Foundation

/// `[outer, length, inner]`: the reduced axis and the merged axes around it.
struct ReduceShape {
    var outer: Int
    var length: Int
    var inner: Int
}

/// Element types the CPU reductions run on, with how each one sums.
///
/// float32 sums accumulate in blocks of SIMD lanes and carry the block totals in
/// float64, so a sum of millions of floats stays within a few ulps of the exact result.
protocol CPUReducible: Comparable {
    /// The type partial sums are carried in.
    associatedtype Accumulator
    static var zeroAccumulator: Accumulator { get }
    /// The start value of `max` (-inf, or the smallest integer).
    static var lowest: Self { get }
    /// The start value of `min`.
    static var highest: Self { get }
    /// Sum of `count` consecutive elements.
    static func sum(_ elements: UnsafeMutablePointer<Self>, count: Int) -> Accumulator
    /// `accumulators[i] += row[i]` for `i < count`.
    static func accumulate(_ row: UnsafeMutablePointer<Self>, into accumulators: UnsafeMutablePointer<Accumulator>, count: Int)
    static func combine(_ first: Accumulator, _ second: Accumulator) -> Accumulator
    static func result(_ accumulator: Accumulator) -> Self
}

/// Elements per block whose lanes are summed in the element type before the block total
/// joins the wider accumulator.
private let sumBlock = 512

extension Float: CPUReducible {
    static var zeroAccumulator: Double { 0 }
    static var lowest: Float { -.infinity }
    static var highest: Float { .infinity }

    @inline(__always)
    static func sum(_ elements: UnsafeMutablePointer<Float>, count: Int) -> Double {
        let raw = UnsafeRawPointer(elements)
        var total: Double = 0
        var index = 0
        while index + 16 <= count {
            let end = Swift.min(count, index + sumBlock)
            var first = SIMD16<Float>(repeating: 0)
            var second = SIMD16<Float>(repeating: 0)
            while index + 32 <= end {
                first += raw.loadUnaligned(fromByteOffset: index * 4, as: SIMD16<Float>.self)
                second += raw.loadUnaligned(fromByteOffset: (index + 16) * 4, as: SIMD16<Float>.self)
                index += 32
            }
            if index + 16 <= end {
                first += raw.loadUnaligned(fromByteOffset: index * 4, as: SIMD16<Float>.self)
                index += 16
            }
            total += Double((first + second).sum())
        }
        while index < count {
            total += Double(elements[index])
            index += 1
        }
        return total
    }

    @inline(__always)
    static func accumulate(_ row: UnsafeMutablePointer<Float>, into accumulators: UnsafeMutablePointer<Double>, count: Int) {
        for i in 0..<count { accumulators[i] += Double(row[i]) }
    }

    @inline(__always) static func combine(_ first: Double, _ second: Double) -> Double { first + second }
    @inline(__always) static func result(_ accumulator: Double) -> Float { Float(accumulator) }
}

extension Double: CPUReducible {
    static var zeroAccumulator: Double { 0 }
    static var lowest: Double { -.infinity }
    static var highest: Double { .infinity }

    @inline(__always)
    static func sum(_ elements: UnsafeMutablePointer<Double>, count: Int) -> Double {
        let raw = UnsafeRawPointer(elements)
        var total: Double = 0
        var index = 0
        while index + 8 <= count {
            let end = Swift.min(count, index + sumBlock)
            var first = SIMD8<Double>(repeating: 0)
            var second = SIMD8<Double>(repeating: 0)
            while index + 16 <= end {
                first += raw.loadUnaligned(fromByteOffset: index * 8, as: SIMD8<Double>.self)
                second += raw.loadUnaligned(fromByteOffset: (index + 8) * 8, as: SIMD8<Double>.self)
                index += 16
            }
            if index + 8 <= end {
                first += raw.loadUnaligned(fromByteOffset: index * 8, as: SIMD8<Double>.self)
                index += 8
            }
            total += (first + second).sum()
        }
        while index < count {
            total += elements[index]
            index += 1
        }
        return total
    }

    @inline(__always)
    static func accumulate(_ row: UnsafeMutablePointer<Double>, into accumulators: UnsafeMutablePointer<Double>, count: Int) {
        for i in 0..<count { accumulators[i] += row[i] }
    }

    @inline(__always) static func combine(_ first: Double, _ second: Double) -> Double { first + second }
    @inline(__always) static func result(_ accumulator: Double) -> Double { accumulator }
}

extension Int32: CPUReducible {
    static var zeroAccumulator: Int32 { 0 }
    static var lowest: Int32 { .min }
    static var highest: Int32 { .max }

    /// Integer sums wrap (two's complement), so any order gives the same bits.
    @inline(__always)
    static func sum(_ elements: UnsafeMutablePointer<Int32>, count: Int) -> Int32 {
        var total: Int32 = 0
        for i in 0..<count { total &+= elements[i] }
        return total
    }

    @inline(__always)
    static func accumulate(_ row: UnsafeMutablePointer<Int32>, into accumulators: UnsafeMutablePointer<Int32>, count: Int) {
        for i in 0..<count { accumulators[i] &+= row[i] }
    }

    @inline(__always) static func combine(_ first: Int32, _ second: Int32) -> Int32 { first &+ second }
    @inline(__always) static func result(_ accumulator: Int32) -> Int32 { accumulator }
}

// MARK: - Order kernels (max, min, argmax, argmin)

/// Whether `candidate` replaces `best` in a max (or, with `isMaximum` false, min): strictly
/// better, or the first NaN. `x != x` is the generic NaN test; it is false for integers.
@inline(__always)
func replaces<T: Comparable>(_ candidate: T, _ best: T, isMaximum: Bool) -> Bool {
    (isMaximum ? candidate > best : candidate < best) || candidate != candidate
}

/// Max or min of `count` consecutive elements, NaN propagating, `start` when empty.
@inline(__always)
func extremum<T: Comparable>(_ elements: UnsafeMutablePointer<T>, count: Int, start: T, isMaximum: Bool) -> T {
    var best0 = start, best1 = start, best2 = start, best3 = start
    var index = 0
    while index + 4 <= count {
        let x0 = elements[index], x1 = elements[index + 1], x2 = elements[index + 2], x3 = elements[index + 3]
        best0 = replaces(x0, best0, isMaximum: isMaximum) ? x0 : best0
        best1 = replaces(x1, best1, isMaximum: isMaximum) ? x1 : best1
        best2 = replaces(x2, best2, isMaximum: isMaximum) ? x2 : best2
        best3 = replaces(x3, best3, isMaximum: isMaximum) ? x3 : best3
        index += 4
    }
    while index < count {
        let x = elements[index]
        best0 = replaces(x, best0, isMaximum: isMaximum) ? x : best0
        index += 1
    }
    best0 = replaces(best1, best0, isMaximum: isMaximum) ? best1 : best0
    best0 = replaces(best2, best0, isMaximum: isMaximum) ? best2 : best0
    best0 = replaces(best3, best0, isMaximum: isMaximum) ? best3 : best0
    return best0
}

/// Value and index of the first max (or min) of `count` consecutive elements; once a NaN
/// is found it is the answer. `(start, 0)` when empty.
@inline(__always)
func argExtremum<T: Comparable>(_ elements: UnsafeMutablePointer<T>, count: Int, start: T, isMaximum: Bool) -> (T, Int) {
    guard count > 0 else { return (start, 0) }
    var best = elements[0]
    var bestIndex = 0
    if best != best { return (best, 0) }
    for index in 1..<count {
        let x = elements[index]
        if replaces(x, best, isMaximum: isMaximum) {
            best = x
            bestIndex = index
            if x != x { break }
        }
    }
    return (best, bestIndex)
}

extension CPUBackend {
    func runReduce(_ op: ReduceOp, shape: ReduceShape, input: BufferView, output: BufferView) throws {
        precondition(shape.outer >= 0 && shape.length >= 0 && shape.inner >= 0, "CPU reduce: negative extent in \(shape)")
        precondition(input.layout.isContiguous, "CPU reduce: input \(input.layout) is not contiguous")
        if shape.outer * shape.inner == 0 { return }
        switch input.dtype {
        case .float32: CPUBackend.reduce(op, shape, input.base(Float.self), output)
        case .float64: CPUBackend.reduce(op, shape, input.base(Double.self), output)
        case .int32: CPUBackend.reduce(op, shape, input.base(Int32.self), output)
        case .bool: throw CPUBackend.unsupported(.reduce(op, outer: shape.outer, length: shape.length, inner: shape.inner), input.dtype)
        }
    }

    @inline(__always)
    private static func reduce<T: CPUReducible>(_ op: ReduceOp, _ shape: ReduceShape, _ input: UnsafeMutablePointer<T>, _ output: BufferView) {
        switch op {
        case .sum:
            let target = output.base(T.self)
            if shape.inner == 1 {
                reduceRows(shape, input, target, partial: { T.sum($0, count: $1) }, combine: { T.combine($0, $1) }, finish: { T.result($0) })
            } else {
                sumColumns(shape, input, target)
            }
        case .max, .min:
            let isMaximum = op == .max
            let start = isMaximum ? T.lowest : T.highest
            let target = output.base(T.self)
            if shape.inner == 1 {
                reduceRows(
                    shape, input, target,
                    partial: { extremum($0, count: $1, start: start, isMaximum: isMaximum) },
                    combine: { replaces($1, $0, isMaximum: isMaximum) ? $1 : $0 },
                    finish: { $0 })
            } else {
                extremumColumns(shape, input, target, start: start, isMaximum: isMaximum)
            }
        case .argmax, .argmin:
            let isMaximum = op == .argmax
            let start = isMaximum ? T.lowest : T.highest
            let target = output.base(Int32.self)
            if shape.inner == 1 {
                // Partials carry absolute indices; combining in order keeps the first winner.
                reduceRows(
                    shape, input, target,
                    partial: { elements, count, first in
                        let (value, index) = argExtremum(elements, count: count, start: start, isMaximum: isMaximum)
                        return (value, index + first, count > 0)
                    },
                    combine: { earlier, later in
                        guard later.2 else { return earlier }
                        guard earlier.2 else { return later }
                        return (earlier.0 == earlier.0 && replaces(later.0, earlier.0, isMaximum: isMaximum)) ? later : earlier
                    },
                    finish: { Int32(truncatingIfNeeded: $0.2 ? $0.1 : 0) })
            } else {
                argExtremumColumns(shape, input, target, isMaximum: isMaximum)
            }
        }
    }

    /// inner == 1: each output element reduces one row of `length` consecutive elements.
    /// Many rows are spread across cores; a few long rows are cut into pieces whose
    /// partial results are combined in order.
    @inline(__always)
    private static func reduceRows<T, Partial, Result>(
        _ shape: ReduceShape, _ input: UnsafeMutablePointer<T>, _ output: UnsafeMutablePointer<Result>,
        partial: (UnsafeMutablePointer<T>, Int) -> Partial,
        combine: (Partial, Partial) -> Partial,
        finish: (Partial) -> Result
    ) {
        reduceRows(shape, input, output, partial: { elements, count, _ in partial(elements, count) }, combine: combine, finish: finish)
    }

    @inline(__always)
    private static func reduceRows<T, Partial, Result>(
        _ shape: ReduceShape, _ input: UnsafeMutablePointer<T>, _ output: UnsafeMutablePointer<Result>,
        partial: (UnsafeMutablePointer<T>, Int, Int) -> Partial,
        combine: (Partial, Partial) -> Partial,
        finish: (Partial) -> Result
    ) {
        let length = shape.length
        let grain = CPUParallel.elementGrain
        if shape.outer < CPUParallel.threadCount && length >= 2 * grain {
            let pieces = Swift.min(CPUParallel.threadCount * 4, length / grain)
            for row in 0..<shape.outer {
                let rowStart = input + row * length
                let partials = UnsafeMutablePointer<Partial>.allocate(capacity: pieces)
                defer { partials.deinitialize(count: pieces).deallocate() }
                CPUParallel.perform(iterations: pieces) { piece in
                    let start = length * piece / pieces
                    let end = length * (piece + 1) / pieces
                    (partials + piece).initialize(to: partial(rowStart + start, end - start, start))
                }
                var total = partials[0]
                for piece in 1..<pieces { total = combine(total, partials[piece]) }
                output[row] = finish(total)
            }
            return
        }
        CPUParallel.forEachRange(count: shape.outer, grain: Swift.max(1, grain / Swift.max(length, 1))) { rows in
            for row in rows {
                output[row] = finish(partial(input + row * length, length, 0))
            }
        }
    }

    /// Splits `[outer, inner]` output columns into tasks of whole column blocks.
    @inline(__always)
    private static func forEachColumnBlock(_ shape: ReduceShape, _ body: (_ outerIndex: Int, _ columns: Range<Int>) -> Void) {
        let blockWidth = 1024
        let blocksPerRow = (shape.inner + blockWidth - 1) / blockWidth
        let work = Swift.max(shape.length, 1) * Swift.min(shape.inner, blockWidth)
        CPUParallel.forEachRange(count: shape.outer * blocksPerRow, grain: Swift.max(1, CPUParallel.elementGrain / work)) { tasks in
            for task in tasks {
                let outerIndex = task / blocksPerRow
                let start = (task % blocksPerRow) * blockWidth
                body(outerIndex, start..<Swift.min(shape.inner, start + blockWidth))
            }
        }
    }

    @inline(__always)
    private static func sumColumns<T: CPUReducible>(_ shape: ReduceShape, _ input: UnsafeMutablePointer<T>, _ output: UnsafeMutablePointer<T>) {
        forEachColumnBlock(shape) { outerIndex, columns in
            withUnsafeTemporaryAllocation(of: T.Accumulator.self, capacity: columns.count) { scratch in
                let accumulators = scratch.baseAddress!
                accumulators.initialize(repeating: T.zeroAccumulator, count: columns.count)
                let slab = input + outerIndex * shape.length * shape.inner + columns.lowerBound
                for j in 0..<shape.length {
                    T.accumulate(slab + j * shape.inner, into: accumulators, count: columns.count)
                }
                let target = output + outerIndex * shape.inner + columns.lowerBound
                for i in 0..<columns.count { target[i] = T.result(accumulators[i]) }
            }
        }
    }

    @inline(__always)
    private static func extremumColumns<T: Comparable>(
        _ shape: ReduceShape, _ input: UnsafeMutablePointer<T>, _ output: UnsafeMutablePointer<T>, start: T, isMaximum: Bool
    ) {
        forEachColumnBlock(shape) { outerIndex, columns in
            let target = output + outerIndex * shape.inner + columns.lowerBound
            target.update(repeating: start, count: columns.count)
            let slab = input + outerIndex * shape.length * shape.inner + columns.lowerBound
            for j in 0..<shape.length {
                let row = slab + j * shape.inner
                for i in 0..<columns.count {
                    let x = row[i]
                    target[i] = replaces(x, target[i], isMaximum: isMaximum) ? x : target[i]
                }
            }
        }
    }

    @inline(__always)
    private static func argExtremumColumns<T: Comparable>(
        _ shape: ReduceShape, _ input: UnsafeMutablePointer<T>, _ output: UnsafeMutablePointer<Int32>, isMaximum: Bool
    ) {
        forEachColumnBlock(shape) { outerIndex, columns in
            let target = output + outerIndex * shape.inner + columns.lowerBound
            target.update(repeating: 0, count: columns.count)
            guard shape.length > 0 else { return }
            let slab = input + outerIndex * shape.length * shape.inner + columns.lowerBound
            withUnsafeTemporaryAllocation(of: T.self, capacity: columns.count) { scratch in
                let best = scratch.baseAddress!
                best.initialize(from: slab, count: columns.count)
                for j in 1..<Swift.max(shape.length, 1) {
                    let row = slab + j * shape.inner
                    let index = Int32(truncatingIfNeeded: j)
                    for i in 0..<columns.count {
                        let x = row[i]
                        let current = best[i]
                        if current == current && replaces(x, current, isMaximum: isMaximum) {
                            best[i] = x
                            target[i] = index
                        }
                    }
                }
            }
        }
    }
}
