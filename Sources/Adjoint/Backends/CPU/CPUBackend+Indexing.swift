import Foundation

/// `[outer, length, inner]` data indexed along its middle axis by `[outer, count, inner]`
/// int32 indices.
struct IndexShape {
    var outer: Int
    var length: Int
    var count: Int
    var inner: Int
}

extension CPUBackend {
    // MARK: - Gather

    func runGather(shape: IndexShape, input: BufferView, indices: BufferView, output: BufferView) {
        precondition(indices.dtype == .int32, "CPU gather: indices must be int32, got \(indices.dtype)")
        switch input.dtype.byteSize {
        case 1: CPUBackend.gather(UInt8.self, shape, input, indices, output)
        case 4: CPUBackend.gather(UInt32.self, shape, input, indices, output)
        default: CPUBackend.gather(UInt64.self, shape, input, indices, output)
        }
    }

    /// Gathering only moves bits, so it runs on same-sized unsigned words. An index
    /// outside `0..<length` (which the op layer rejects) reads as zero instead of faulting.
    @inline(__always)
    private static func gather<T: FixedWidthInteger>(_ type: T.Type, _ shape: IndexShape, _ input: BufferView, _ indices: BufferView, _ output: BufferView) {
        let source = input.base(T.self)
        let index = indices.base(Int32.self)
        let target = output.base(T.self)
        let rowCount = shape.outer * shape.count
        let inner = shape.inner, length = shape.length, count = shape.count
        CPUParallel.forEachRange(count: rowCount, grain: Swift.max(1, CPUParallel.elementGrain / Swift.max(inner, 1))) { rows in
            for row in rows {
                let outerIndex = row / count
                let slab = source + outerIndex * length * inner
                let rowIndices = index + row * inner
                let rowTarget = target + row * inner
                for i in 0..<inner {
                    let position = Int(rowIndices[i])
                    rowTarget[i] = (position >= 0 && position < length) ? slab[position * inner + i] : 0
                }
            }
        }
    }

    // MARK: - Scatter-add

    func runScatterAdd(shape: IndexShape, updates: BufferView, indices: BufferView, output: BufferView) throws {
        precondition(indices.dtype == .int32, "CPU scatterAdd: indices must be int32, got \(indices.dtype)")
        switch updates.dtype {
        case .float32: CPUBackend.scatterAdd(shape, updates.base(Float.self), indices, output.base(Float.self)) { $0 + $1 }
        case .float64: CPUBackend.scatterAdd(shape, updates.base(Double.self), indices, output.base(Double.self)) { $0 + $1 }
        case .int32: CPUBackend.scatterAdd(shape, updates.base(Int32.self), indices, output.base(Int32.self)) { $0 &+ $1 }
        case .bool:
            throw CPUBackend.unsupported(
                .scatterAdd(outer: shape.outer, length: shape.length, count: shape.count, inner: shape.inner), updates.dtype)
        }
    }

    /// Each task owns whole `[length]` columns of one outer slab, so no two threads add
    /// into the same element and every element sees its updates in ascending `j`.
    /// Out-of-range indices are skipped.
    @inline(__always)
    private static func scatterAdd<T: Numeric>(
        _ shape: IndexShape, _ updates: UnsafeMutablePointer<T>, _ indices: BufferView, _ output: UnsafeMutablePointer<T>,
        _ add: (T, T) -> T
    ) {
        let index = indices.base(Int32.self)
        let inner = shape.inner, length = shape.length, count = shape.count
        let blockWidth = 256
        let blocksPerSlab = (inner + blockWidth - 1) / blockWidth
        let work = Swift.max(1, (count + length) * Swift.min(inner, blockWidth))
        CPUParallel.forEachRange(count: shape.outer * blocksPerSlab, grain: Swift.max(1, CPUParallel.elementGrain / work)) { tasks in
            for task in tasks {
                let outerIndex = task / blocksPerSlab
                let start = (task % blocksPerSlab) * blockWidth
                let width = Swift.min(inner, start + blockWidth) - start
                let slab = output + outerIndex * length * inner + start
                for position in 0..<length { (slab + position * inner).update(repeating: 0, count: width) }
                for j in 0..<count {
                    let row = (outerIndex * count + j) * inner + start
                    let rowUpdates = updates + row
                    let rowIndices = index + row
                    for i in 0..<width {
                        let position = Int(rowIndices[i])
                        if position >= 0 && position < length {
                            slab[position * inner + i] = add(slab[position * inner + i], rowUpdates[i])
                        }
                    }
                }
            }
        }
    }
}
