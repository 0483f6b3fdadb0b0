/// One axis of a subscript: `x[1]`, `x[1..<3]`, `x[.ellipsis, 2]`, `x[.all, .newAxis]`.
public struct TensorIndex: Sendable, ExpressibleByIntegerLiteral {
    enum Kind: Sendable {
        case index(Int)
        case range(Int?, Int?, step: Int)
        case all
        case newAxis
        case ellipsis
    }

    let kind: Kind

    init(_ kind: Kind) { self.kind = kind }

    /// One position (the axis is removed); negative counts from the end.
    public init(integerLiteral value: Int) { kind = .index(value) }
}

/// Values usable inside a tensor subscript.
public protocol TensorIndexConvertible {
    /// The subscript component.
    var tensorIndex: TensorIndex { get }
}

extension TensorIndex: TensorIndexConvertible { public var tensorIndex: TensorIndex { self } }
extension Int: TensorIndexConvertible { public var tensorIndex: TensorIndex { TensorIndex(.index(self)) } }
extension Range: TensorIndexConvertible where Bound == Int { public var tensorIndex: TensorIndex { TensorIndex(.range(lowerBound, upperBound, step: 1)) } }
extension ClosedRange: TensorIndexConvertible where Bound == Int { public var tensorIndex: TensorIndex { TensorIndex(.range(lowerBound, upperBound + 1, step: 1)) } }
extension PartialRangeFrom: TensorIndexConvertible where Bound == Int { public var tensorIndex: TensorIndex { TensorIndex(.range(lowerBound, nil, step: 1)) } }
extension PartialRangeUpTo: TensorIndexConvertible where Bound == Int { public var tensorIndex: TensorIndex { TensorIndex(.range(nil, upperBound, step: 1)) } }
extension PartialRangeThrough: TensorIndexConvertible where Bound == Int { public var tensorIndex: TensorIndex { TensorIndex(.range(nil, upperBound + 1, step: 1)) } }

/// Subscripts (views) and index-driven gathers, each followed by its derivative. Batching
/// rules (vmap): subscripts are composed of slices and reshapes, which batch; takeAlong and
/// scatterAdding run on the physical tensors (an unbatched operand broadcast) at axis + 1.
extension Tensor {
    /// Indexes like numpy: integers drop an axis, ranges slice, `.newAxis` inserts one,
    /// `.ellipsis` fills the rest. Negative positions count from the end. A view.
    ///
    /// ```swift
    /// let m = Tensor([[1, 2, 3], [4, 5, 6]] as [[Float]])
    /// m[1]            // [4, 5, 6]
    /// m[.all, 1..<3]  // [[2, 3], [5, 6]]
    /// ```
    public subscript(_ indices: any TensorIndexConvertible...) -> Tensor {
        indexed(indices.map(\.tensorIndex), file: #fileID, line: #line)
    }

    /// Applies subscript components (see the subscript).
    public func indexed(_ indices: [TensorIndex], file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let consuming = indices.filter { if case .newAxis = $0.kind { return false }; if case .ellipsis = $0.kind { return false }; return true }.count
        check(consuming <= rank, "subscript", "\(consuming) indices for a tensor of shape \(shape)", file: file, line: line)
        check(indices.filter { if case .ellipsis = $0.kind { return true }; return false }.count <= 1, "subscript", "at most one ellipsis", file: file, line: line)
        var expanded: [TensorIndex.Kind] = []
        for index in indices {
            if case .ellipsis = index.kind {
                expanded += Array(repeating: .all, count: rank - consuming)
            } else {
                expanded.append(index.kind)
            }
        }
        var result = self
        var axis = 0
        for index in expanded {
            switch index {
            case .index(let position):
                let extent = result.shape[axis]
                let resolved = position < 0 ? position + extent : position
                check(resolved >= 0 && resolved < extent, "subscript", "index \(position) is out of bounds for axis \(axis) with extent \(extent) (shape \(shape))", file: file, line: line)
                result = result.slice(axis: axis, start: resolved, end: resolved + 1, file: file, line: line).squeezed(axis: axis, file: file, line: line)
            case .range(let lower, let upper, let step):
                let extent = result.shape[axis]
                func clampBound(_ bound: Int?, _ fallback: Int) -> Int {
                    guard let bound else { return fallback }
                    return Swift.min(Swift.max(bound < 0 ? bound + extent : bound, 0), extent)
                }
                let start = clampBound(lower, 0)
                let end = Swift.max(clampBound(upper, extent), start)
                result = result.slice(axis: axis, start: start, end: end, step: step, file: file, line: line)
                axis += 1
            case .all:
                axis += 1
            case .newAxis:
                result = result.unsqueezed(axis: axis, file: file, line: line)
                axis += 1
            case .ellipsis:
                break
            }
        }
        return result
    }

    /// Shape of a tensor viewed as `[outer, length, inner]` around `axis`.
    func splitAround(_ axis: Int) -> (outer: Int, length: Int, inner: Int) {
        (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
    }

    /// Picks values along `axis` by `indices` (int32, same rank; equal extents except on
    /// `axis`): `out[..., j, ...] = self[..., indices[..., j, ...], ...]` (PyTorch `gather`,
    /// numpy `take_along_axis`). Indices outside `0..<shape[axis]` read 0.
    public func takeAlong(_ indices: Tensor, axis: Int, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let axis = axis < 0 ? axis + rank : axis
        check(axis >= 0 && axis < rank, "takeAlong", "axis out of range for shape \(shape)", file: file, line: line)
        check(indices.dtype == .int32, "takeAlong", "indices must be int32, got \(indices.dtype)", file: file, line: line)
        check(indices.device == device, "takeAlong", "indices on \(indices.device) but values on \(device)", file: file, line: line)
        var expected = shape
        expected[axis] = indices.rank == rank ? indices.shape[axis] : -1
        check(indices.shape == expected, "takeAlong", "indices of shape \(indices.shape) do not match values of shape \(shape) outside axis \(axis)", file: file, line: line)
        let (outer, length, inner) = splitAround(axis)
        let output: Tensor
        if batch != nil || indices.batch != nil, let (level, size) = Tensor.batchLevel([self, indices]) {
            output = Tensor.batched(physical(at: level, size: size).takeAlong(indices.physical(at: level, size: size), axis: axis + 1, file: file, line: line), level: level)
        } else {
            let count = indices.shape[axis]
            let source = value.contiguous()
            let index = indices.value.contiguous()
            output = Tensor(storage: Dispatch.run(.gather(outer: outer, length: length, count: count, inner: inner), [source, index], shape: indices.shape, dtype: dtype, device: device), layout: Layout(contiguous: indices.shape))
        }
        return Tensor.record("TakeAlong", [self, indices], output: output, file: file, line: line) { g, x, _ in
            [g.scatterAdding(into: length, indices: x[1], axis: axis), nil]
        }
    }

    /// Zeros with extent `length` on `axis`, to which this tensor's values are added at
    /// `indices` (same shape as self): the adjoint of `takeAlong`.
    public func scatterAdding(into length: Int, indices: Tensor, axis: Int, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let axis = axis < 0 ? axis + rank : axis
        check(indices.shape == shape && indices.dtype == .int32, "scatterAdd", "indices must be int32 of the updates' shape \(shape), got \(indices.dtype) \(indices.shape)", file: file, line: line)
        let (outer, count, inner) = splitAround(axis)
        var target = shape
        target[axis] = length
        let output = (batch == nil && indices.batch == nil ? nil : Tensor.batchLevel([self, indices])).map { level, size in
            Tensor.batched(physical(at: level, size: size).scatterAdding(into: length, indices: indices.physical(at: level, size: size), axis: axis + 1, file: file, line: line), level: level)
        } ?? Tensor(storage: Dispatch.run(.scatterAdd(outer: outer, length: length, count: count, inner: inner), [value.contiguous(), indices.value.contiguous()], shape: target, dtype: dtype, device: device), layout: Layout(contiguous: target))
        return Tensor.record("ScatterAdd", [self, indices], output: output, file: file, line: line) { g, x, _ in
            [g.takeAlong(x[1], axis: axis), nil]
        }
    }

    /// Selects entries along `axis` by an index tensor of any shape (numpy `take`,
    /// `index_select`): the result's shape is `shape[..<axis] + indices.shape + shape[(axis+1)...]`.
    public func take(_ indices: Tensor, axis: Int = 0, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let axis = axis < 0 ? axis + rank : axis
        check(axis >= 0 && axis < rank, "take", "axis out of range for shape \(shape)", file: file, line: line)
        let (outer, length, inner) = splitAround(axis)
        let count = indices.count
        let spread = indices.reshaped([1, count, 1]).expanded(to: [outer, count, inner])
        let picked = reshaped([outer, length, inner]).takeAlong(spread, axis: 1, file: file, line: line)
        return picked.reshaped(Array(shape[..<axis]) + indices.shape + Array(shape[(axis + 1)...]))
    }
}

extension OpRegistry {
    /// The indexing ops.
    public static let indexing: [OpInfo] = [
        OpInfo("subscript", shapes: [[[4, 5]]]) { $0[0][1..., TensorIndex.newAxis, -1] },
        OpInfo("subscript.ellipsis", shapes: [[[2, 3, 4]]]) { $0[0][TensorIndex.ellipsis, 1..<3] },
        OpInfo("takeAlong", shapes: [[[3, 4]]]) { x in
            x[0].takeAlong(Tensor([0, 3, 3, 1, 2, 0] as [Int32], shape: [3, 2], on: x[0].device), axis: 1)
        },
        OpInfo("take", shapes: [[[4, 3]]]) { x in
            x[0].take(Tensor([2, 0, 2] as [Int32], on: x[0].device), axis: 0)
        },
    ]
}

extension TensorIndexConvertible where Self == TensorIndex {
    /// The whole axis (`x[.all, 1]`).
    public static var all: TensorIndex { TensorIndex(.all) }
    /// A new axis of extent 1 (`x[.newAxis]`).
    public static var newAxis: TensorIndex { TensorIndex(.newAxis) }
    /// The remaining axes (`x[.ellipsis, 0]`).
    public static var ellipsis: TensorIndex { TensorIndex(.ellipsis) }
    /// Every `step`-th position in `start..<end` (nil bounds: the axis's ends), e.g. `x[.stride(0, nil, by: 2)]`.
    public static func stride(_ start: Int?, _ end: Int?, by step: Int) -> TensorIndex { TensorIndex(.range(start, end, step: step)) }
}
