/// Shape and layout changes. Reshape of contiguous data, permute, expand, squeeze and
/// slices are views (no copy); each is followed by its derivative. Batching rule (vmap):
/// the same op on the physical tensor with axes shifted by one (the batch stays first).
extension Tensor {
    /// The same elements with a new shape; one extent may be -1 (inferred).
    ///
    /// A view when the data is contiguous, otherwise a contiguous copy.
    public func reshaped(_ newShape: [Int], file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        var target = newShape
        let inferred = target.indices.filter { target[$0] == -1 }
        check(inferred.count <= 1 && target.allSatisfy { $0 >= -1 }, "reshape", "invalid target shape \(newShape) for input shape \(shape)", file: file, line: line)
        if let axis = inferred.first {
            let known = target.filter { $0 != -1 }.reduce(1, *)
            check(known > 0 && count % known == 0, "reshape", "cannot infer -1 in \(newShape) for input shape \(shape) (\(count) elements)", file: file, line: line)
            target[axis] = count / known
        }
        check(target.reduce(1, *) == count, "reshape", "cannot reshape \(shape) (\(count) elements) to \(newShape)", file: file, line: line)
        if target == shape { return self }
        let output: Tensor
        if let box = batch {
            output = Tensor.batched(box.physical.reshaped([box.size] + target, file: file, line: line), level: box.level)
        } else if let unitAxes = unitAxesLayout(target) {
            output = Tensor(storage: storage, layout: unitAxes)
        } else {
            let dense = layout.isContiguous ? value : value.contiguous()
            output = Tensor(storage: dense.storage, layout: Layout(contiguous: target, offset: dense.layout.offset))
        }
        let inputShape = shape
        return Tensor.record("Reshape", [self], output: output, file: file, line: line) { g, _, _ in [g.reshaped(inputShape)] }
    }

    /// A view with `target`'s shape when it only adds or removes axes of extent 1 (any layout).
    func unitAxesLayout(_ target: [Int]) -> Layout? {
        guard !layout.isContiguous, target.filter({ $0 != 1 }) == shape.filter({ $0 != 1 }) else { return nil }
        var kept = zip(shape, layout.strides).filter { $0.0 != 1 }.map(\.1)[...]
        var strides = [Int](repeating: 0, count: target.count)
        for axis in stride(from: target.count - 1, through: 0, by: -1) {
            if target[axis] != 1 {
                strides[axis] = kept.popLast()!
            } else {
                strides[axis] = axis + 1 < target.count ? strides[axis + 1] * target[axis + 1] : 1
            }
        }
        return Layout(shape: target, strides: strides, offset: layout.offset)
    }

    /// The same elements with shape `newShape`, as a free function would spell it.
    public func reshaped(_ newShape: Int..., file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        reshaped(newShape, file: file, line: line)
    }

    /// Flattens to one axis.
    public func flattened() -> Tensor { reshaped([count]) }

    /// Reorders the axes: result axis `i` is input axis `axes[i]` (a view).
    public func permuted(_ axes: [Int], file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let normalized = axes.map { $0 < 0 ? $0 + rank : $0 }
        check(normalized.sorted() == Array(0..<rank), "permute", "\(axes) is not a permutation of the \(rank) axes of shape \(shape)", file: file, line: line)
        if normalized == Array(0..<rank) { return self }
        let output = batch.map { Tensor.batched($0.physical.permuted([0] + normalized.map { $0 + 1 }, file: file, line: line), level: $0.level) }
            ?? Tensor(storage: storage, layout: Layout(shape: normalized.map { shape[$0] }, strides: normalized.map { layout.strides[$0] }, offset: layout.offset))
        var inverse = [Int](repeating: 0, count: rank)
        for (position, axis) in normalized.enumerated() { inverse[axis] = position }
        let inversePermutation = inverse
        return Tensor.record("Permute", [self], output: output, file: file, line: line) { g, _, _ in [g.permuted(inversePermutation)] }
    }

    /// Reorders the axes (variadic form).
    public func permuted(_ axes: Int..., file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        permuted(axes, file: file, line: line)
    }

    /// Reverses the axes (a matrix transpose for rank 2).
    public func transposed() -> Tensor { permuted(Array((0..<rank).reversed())) }

    /// Swaps two axes.
    public func transposed(_ first: Int, _ second: Int, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        var axes = Array(0..<rank)
        let a = first < 0 ? first + rank : first, b = second < 0 ? second + rank : second
        check(a >= 0 && a < rank && b >= 0 && b < rank, "transpose", "axes \(first), \(second) out of range for shape \(shape)", file: file, line: line)
        axes.swapAt(a, b)
        return permuted(axes, file: file, line: line)
    }

    /// Broadcasts to `newShape` without copying (stride-0 view).
    public func expanded(to newShape: [Int], file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        if newShape == shape { return self }
        check(Tensor.broadcastShape(shape, newShape) == newShape, "expand", "cannot expand shape \(shape) to \(newShape)", file: file, line: line)
        let output = batch.map { Tensor.batched(aligned(at: $0.level, rank: newShape.count).expanded(to: [$0.size] + newShape, file: file, line: line), level: $0.level) }
            ?? Tensor(storage: storage, layout: broadcastLayout(to: newShape))
        return Tensor.record("Expand", [self], output: output, file: file, line: line) { g, _, _ in [g] }
    }

    /// Removes axes of extent 1 (the given one, or all).
    public func squeezed(axis: Int? = nil, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        if let axis {
            let normalized = axis < 0 ? axis + rank : axis
            check(normalized >= 0 && normalized < rank && shape[normalized] == 1, "squeeze", "axis \(axis) of shape \(shape) does not have extent 1", file: file, line: line)
            var target = shape
            target.remove(at: normalized)
            return reshaped(target, file: file, line: line)
        }
        return reshaped(shape.filter { $0 != 1 }, file: file, line: line)
    }

    /// Inserts an axis of extent 1 at `axis` (negative counts from the end of the result).
    public func unsqueezed(axis: Int, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let normalized = axis < 0 ? axis + rank + 1 : axis
        check(normalized >= 0 && normalized <= rank, "unsqueeze", "axis \(axis) out of range for shape \(shape)", file: file, line: line)
        var target = shape
        target.insert(1, at: normalized)
        return reshaped(target, file: file, line: line)
    }

    /// Elements `start, start + step, ...` below `end` along `axis` (a view).
    public func slice(axis: Int, start: Int, end: Int, step: Int = 1, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let axis = axis < 0 ? axis + rank : axis
        check(axis >= 0 && axis < rank, "slice", "axis out of range for shape \(shape)", file: file, line: line)
        check(step > 0, "slice", "step must be positive, got \(step)", file: file, line: line)
        check(start >= 0 && start <= end && end <= shape[axis], "slice", "range \(start)..<\(end) is out of bounds for axis \(axis) of shape \(shape)", file: file, line: line)
        var sliced = layout
        sliced.shape[axis] = (end - start + step - 1) / step
        sliced.offset += start * layout.strides[axis]
        sliced.strides[axis] *= step
        let output = batch.map { Tensor.batched($0.physical.slice(axis: axis + 1, start: start, end: end, step: step, file: file, line: line), level: $0.level) }
            ?? Tensor(storage: storage, layout: sliced)
        let inputShape = shape
        return Tensor.record("Slice", [self], output: output, file: file, line: line) { g, _, _ in
            [g.embedded(into: inputShape, axis: axis, start: start, step: step)]
        }
    }

    /// Zeros of `shape` with this tensor written at `start, start + step, ...` along `axis`
    /// (the adjoint of `slice`).
    func embedded(into target: [Int], axis: Int, start: Int, step: Int) -> Tensor {
        let end = start + (shape[axis] - 1) * step + 1
        if let box = batch {
            let output = Tensor.batched(box.physical.embedded(into: [box.size] + target, axis: axis + 1, start: start, step: step), level: box.level)
            return Tensor.record("Embed", [self], output: output, file: #fileID, line: #line) { g, _, _ in
                [g.slice(axis: axis, start: start, end: end, step: step)]
            }
        }
        let storage = Dispatch.allocate(count: target.reduce(1, *), dtype: dtype, device: device)
        Dispatch.run(.fill(0), [], into: storage, layout: Layout(contiguous: target))
        var region = Layout(contiguous: target)
        region.shape[axis] = shape[axis]
        region.offset += start * region.strides[axis]
        region.strides[axis] *= step
        let output = Tensor(storage: Dispatch.run(.copy, [value], into: storage, layout: region), layout: Layout(contiguous: target))
        return Tensor.record("Embed", [self], output: output, file: #fileID, line: #line) { g, _, _ in
            [g.slice(axis: axis, start: start, end: end, step: step)]
        }
    }

    /// Pads each axis with `value`: `widths[i]` gives (before, after) for axis i.
    public func padded(_ widths: [(before: Int, after: Int)], value fill: Double = 0, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(widths.count == rank && widths.allSatisfy { $0.before >= 0 && $0.after >= 0 }, "pad", "need \(rank) non-negative (before, after) pairs for shape \(shape), got \(widths)", file: file, line: line)
        let target = zip(shape, widths).map { $0 + $1.before + $1.after }
        let original = shape
        let pullback: Pullback = { g, _, _ in
            var cropped = g
            for (axis, width) in widths.enumerated() {
                cropped = cropped.slice(axis: axis, start: width.before, end: width.before + original[axis])
            }
            return [cropped]
        }
        if let box = batch {
            let output = Tensor.batched(box.physical.padded([(0, 0)] + widths, value: fill, file: file, line: line), level: box.level)
            return Tensor.record("Pad", [self], output: output, file: file, line: line, pullback: pullback)
        }
        let storage = Dispatch.allocate(count: target.reduce(1, *), dtype: dtype, device: device)
        Dispatch.run(.fill(fill), [], into: storage, layout: Layout(contiguous: target))
        var region = Layout(contiguous: target)
        region.shape = shape
        for (axis, width) in widths.enumerated() { region.offset += width.before * region.strides[axis] }
        let output = Tensor(storage: Dispatch.run(.copy, [value], into: storage, layout: region), layout: Layout(contiguous: target))
        return Tensor.record("Pad", [self], output: output, file: file, line: line, pullback: pullback)
    }

    /// Joins tensors along an existing axis.
    public static func concat(_ tensors: [Tensor], axis: Int = 0, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(!tensors.isEmpty, "concat", "needs at least one tensor", file: file, line: line)
        let first = tensors[0]
        let axis = axis < 0 ? axis + first.rank : axis
        check(axis >= 0 && axis < first.rank, "concat", "axis out of range for shape \(first.shape)", file: file, line: line)
        for tensor in tensors {
            var expected = first.shape
            expected[axis] = tensor.rank == first.rank ? tensor.shape[axis] : -1
            check(tensor.shape == expected, "concat", "shapes \(tensors.map(\.shape)) differ outside axis \(axis)", file: file, line: line)
            check(tensor.dtype == first.dtype && tensor.device == first.device, "concat", "tensors differ in dtype or device: \(tensors.map { "\($0.dtype)@\($0.device)" })", file: file, line: line)
        }
        var target = first.shape
        target[axis] = tensors.map { $0.shape[axis] }.reduce(0, +)
        let extents = tensors.map { $0.shape[axis] }
        let pieceStarts = extents.indices.map { extents[..<$0].reduce(0, +) }
        let pullback: Pullback = { g, _, _ in
            zip(pieceStarts, extents).map { g.slice(axis: axis, start: $0, end: $0 + $1) }
        }
        if let (level, size) = batchLevel(tensors) {
            let output = batched(concat(tensors.map { $0.physical(at: level, size: size) }, axis: axis + 1, file: file, line: line), level: level)
            return record("Concat", tensors, output: output, file: file, line: line, pullback: pullback)
        }
        var storage = Dispatch.allocate(count: target.reduce(1, *), dtype: first.dtype, device: first.device)
        for (tensor, start) in zip(tensors, pieceStarts) {
            var region = Layout(contiguous: target)
            region.shape[axis] = tensor.shape[axis]
            region.offset += start * region.strides[axis]
            storage = Dispatch.run(.copy, [tensor.value], into: storage, layout: region)
        }
        let output = Tensor(storage: storage, layout: Layout(contiguous: target))
        return record("Concat", tensors, output: output, file: file, line: line, pullback: pullback)
    }

    /// Stacks equal-shaped tensors along a new axis.
    public static func stack(_ tensors: [Tensor], axis: Int = 0, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(!tensors.isEmpty, "stack", "needs at least one tensor", file: file, line: line)
        check(tensors.allSatisfy { $0.shape == tensors[0].shape }, "stack", "shapes differ: \(tensors.map(\.shape))", file: file, line: line)
        return concat(tensors.map { $0.unsqueezed(axis: axis, file: file, line: line) }, axis: axis < 0 ? axis + tensors[0].rank + 1 : axis, file: file, line: line)
    }
}

extension OpRegistry {
    /// The movement ops.
    public static let movement: [OpInfo] = [
        OpInfo("reshape", shapes: [[[2, 6]]]) { $0[0].reshaped([3, -1]) },
        OpInfo("reshape.permuted", shapes: [[[2, 3, 4]]]) { $0[0].permuted([2, 0, 1]).reshaped([4, 6]) },
        OpInfo("permute", shapes: [[[2, 3, 4]]]) { $0[0].permuted([1, 2, 0]) },
        OpInfo("transpose", shapes: [[[3, 5]]]) { $0[0].transposed() },
        OpInfo("expand", shapes: [[[3, 1]], [[1]]]) { $0[0].expanded(to: $0[0].rank == 2 ? [2, 3, 4] : [4]) },
        OpInfo("squeeze.unsqueeze", shapes: [[[3, 1, 2]]]) { $0[0].squeezed().unsqueezed(axis: 0) },
        OpInfo("slice", shapes: [[[7, 3]]]) { $0[0].slice(axis: 0, start: 1, end: 6, step: 2) },
        OpInfo("pad", shapes: [[[2, 3]]]) { $0[0].padded([(1, 0), (2, 1)]) },
        OpInfo("concat", shapes: [[[2, 3], [4, 3]], [[2], [1]]]) { Tensor.concat($0, axis: 0) },
        OpInfo("stack", shapes: [[[2, 3], [2, 3]], [[], []]]) { Tensor.stack($0, axis: -1) },
    ]
}
