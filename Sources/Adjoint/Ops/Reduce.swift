/// Reductions over any set of axes, each followed by its derivative. Batching rule
/// (vmap): the physical tensor is reduced over the axes shifted by one, keeping dims.
extension Tensor {
    /// Axes normalized (negatives counted from the end), sorted, deduplicated and checked.
    func normalizedAxes(_ axes: [Int], op: String, file: StaticString, line: UInt) -> [Int] {
        let normalized = axes.map { $0 < 0 ? $0 + rank : $0 }
        for (given, axis) in zip(axes, normalized) {
            check(axis >= 0 && axis < Swift.max(rank, 1) && (rank > 0 || axis == 0), op, "axis \(given) is out of range for shape \(shape)", file: file, line: line)
        }
        return Array(Set(normalized.filter { $0 < rank })).sorted()
    }

    /// Runs a reduce primitive over `axes` (normalized) and returns the keep-dims result.
    func reduced(_ op: ReduceOp, axes: [Int], outputDType: DType) -> Tensor {
        var keptShape = shape
        for axis in axes { keptShape[axis] = 1 }
        let source: Tensor
        let outer: Int, length: Int, inner: Int
        let isBlock = axes.isEmpty || axes.last! - axes.first! + 1 == axes.count
        if isBlock && layout.isContiguous {
            source = value
            let first = axes.first ?? rank
            let last = axes.last ?? (rank - 1)
            outer = shape[..<first].reduce(1, *)
            length = axes.isEmpty ? 1 : shape[first...last].reduce(1, *)
            inner = axes.isEmpty ? 1 : shape[(last + 1)...].reduce(1, *)
        } else {
            let kept = (0..<rank).filter { !axes.contains($0) }
            source = value.permuted(kept + axes).contiguous()
            outer = kept.map { shape[$0] }.reduce(1, *)
            length = axes.map { shape[$0] }.reduce(1, *)
            inner = 1
        }
        let storage = Dispatch.run(.reduce(op, outer: outer, length: length, inner: inner), [source], shape: [outer, inner], dtype: outputDType, device: device)
        return Tensor(storage: storage, layout: Layout(contiguous: keptShape))
    }

    /// The shape with `axes` removed (or kept as 1 when `keepDims`).
    func reducedShape(_ axes: [Int], keepDims: Bool) -> [Int] {
        keepDims ? shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
            : shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
    }

    /// Sum over `axes` (all axes when nil).
    ///
    /// ```swift
    /// Tensor([[1, 2], [3, 4]] as [[Float]]).sum(axes: [0])   // [4, 6]
    /// ```
    public func sum(axes: [Int]? = nil, keepDims: Bool = false, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let axes = axes.map { normalizedAxes($0, op: "sum", file: file, line: line) } ?? Array(0..<rank)
        let inputShape = shape
        let output = batch.map { Tensor.batched($0.physical.sum(axes: axes.map { $0 + 1 }, keepDims: true, file: file, line: line), level: $0.level) }
            ?? reduced(.sum, axes: axes, outputDType: dtype)
        let kept = Tensor.record("Sum", [self], output: output, file: file, line: line) { g, _, _ in
            [g.expanded(to: inputShape)]
        }
        return keepDims ? kept : kept.reshaped(reducedShape(axes, keepDims: false))
    }

    /// Sum over one axis.
    public func sum(axis: Int, keepDims: Bool = false, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        sum(axes: [axis], keepDims: keepDims, file: file, line: line)
    }

    /// Mean over `axes` (all axes when nil).
    public func mean(axes: [Int]? = nil, keepDims: Bool = false, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        let normalized = axes.map { normalizedAxes($0, op: "mean", file: file, line: line) } ?? Array(0..<rank)
        let count = normalized.map { shape[$0] }.reduce(1, *)
        return sum(axes: normalized, keepDims: keepDims, file: file, line: line) / Double(count)
    }

    /// Mean over one axis.
    public func mean(axis: Int, keepDims: Bool = false, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        mean(axes: [axis], keepDims: keepDims, file: file, line: line)
    }

    /// Max or min with the gradient split evenly between tied extremes.
    func extremum(_ op: ReduceOp, _ name: String, axes: [Int]?, keepDims: Bool, file: StaticString, line: UInt) -> Tensor {
        let axes = axes.map { normalizedAxes($0, op: name.lowercased(), file: file, line: line) } ?? Array(0..<rank)
        check(axes.allSatisfy { shape[$0] > 0 }, name.lowercased(), "cannot reduce an empty axis of shape \(shape)", file: file, line: line)
        let inputShape = shape
        let output = batch.map { Tensor.batched($0.physical.extremum(op, name, axes: axes.map { $0 + 1 }, keepDims: true, file: file, line: line), level: $0.level) }
            ?? reduced(op, axes: axes, outputDType: dtype)
        let kept = Tensor.record(name, [self], output: output, file: file, line: line) { g, x, y in
            // x and y enter only through comparisons, so detaching them keeps the cotangent
            // differentiable in g; with g free of history the compiled form runs.
            [Tensor.extremumPullback([g, x[0].detach(), y.detach()], static: ExtremumShape(axes: axes, inputShape: inputShape))]
        }
        return keepDims ? kept : kept.reshaped(reducedShape(axes, keepDims: false))
    }

    /// What an extremum's pullback is compiled for, besides its operands' shapes.
    struct ExtremumShape: Hashable {
        var axes: [Int]
        var inputShape: [Int]
    }

    /// The pullback of max and min, `where(x == y, g / ties, 0)`, compiled per shape: the
    /// comparison, the tie count and the select fuse into two passes over the input
    /// instead of four (with a bool mask and its float copy stored between them), which
    /// was a fifth of the main job's eager CNN step in 2×2 max pooling. Inside grad with
    /// `createGraph`, vmap or an enclosing jit it runs as plain ops (see `JitFunction`).
    static let extremumPullback = JitFunction(name: "extremum pullback", options: JitOptions(), capacity: 256) { (t: [Tensor], shape: ExtremumShape) -> Tensor in
        let (g, x, y) = (t[0], t[1], t[2])
        let hits = x .== y.expanded(to: shape.inputShape)
        let ties = hits.cast(to: g.dtype).sum(axes: shape.axes, keepDims: true)
        return Tensor.where(hits, (g / ties).expanded(to: shape.inputShape), g.scalar(0))
    }

    /// Maximum over `axes` (all when nil). Tied maxima share the gradient equally.
    public func max(axes: [Int]? = nil, keepDims: Bool = false, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        extremum(.max, "Max", axes: axes, keepDims: keepDims, file: file, line: line)
    }

    /// Maximum over one axis.
    public func max(axis: Int, keepDims: Bool = false, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        max(axes: [axis], keepDims: keepDims, file: file, line: line)
    }

    /// Minimum over `axes` (all when nil). Tied minima share the gradient equally.
    public func min(axes: [Int]? = nil, keepDims: Bool = false, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        extremum(.min, "Min", axes: axes, keepDims: keepDims, file: file, line: line)
    }

    /// Minimum over one axis.
    public func min(axis: Int, keepDims: Bool = false, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        min(axes: [axis], keepDims: keepDims, file: file, line: line)
    }

    /// Index (int32) of the first maximum along `axis`, or over the flattened tensor when nil.
    public func argmax(axis: Int? = nil, keepDims: Bool = false, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        argExtremum(.argmax, axis: axis, keepDims: keepDims, file: file, line: line)
    }

    /// Index (int32) of the first minimum along `axis`, or over the flattened tensor when nil.
    public func argmin(axis: Int? = nil, keepDims: Bool = false, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        argExtremum(.argmin, axis: axis, keepDims: keepDims, file: file, line: line)
    }

    private func argExtremum(_ op: ReduceOp, axis: Int?, keepDims: Bool, file: StaticString, line: UInt) -> Tensor {
        guard let axis else {
            return value.reshaped([count]).argExtremum(op, axis: 0, keepDims: false, file: file, line: line)
                .reshaped(keepDims ? [Int](repeating: 1, count: rank) : [])
        }
        let axes = normalizedAxes([axis], op: op.rawValue, file: file, line: line)
        check(axes.allSatisfy { shape[$0] > 0 }, op.rawValue, "cannot reduce an empty axis of shape \(shape)", file: file, line: line)
        let kept = batch.map { box in
            axes.isEmpty ? Tensor.zeros(shape, dtype: .int32, on: device)
                : Tensor.batched(box.physical.argExtremum(op, axis: axes[0] + 1, keepDims: true, file: file, line: line), level: box.level)
        }
            ?? value.reduced(op, axes: axes, outputDType: .int32)
        return keepDims ? kept : kept.reshaped(reducedShape(axes, keepDims: false))
    }

    /// Sums a (broadcast) cotangent back to `target`, the shape it was broadcast from.
    func summed(toShape target: [Int], op: @autoclosure () -> String) -> Tensor {
        if shape == target { return self }
        guard Tensor.broadcastShape(target, shape) == shape else {
            fatalError("Adjoint.\(op()): gradient of shape \(shape) cannot be summed to input shape \(target)")
        }
        let lead = rank - target.count
        var axes = Array(0..<lead)
        for (index, extent) in target.enumerated() where extent == 1 && shape[index + lead] != 1 { axes.append(index + lead) }
        return sum(axes: axes, keepDims: true).reshaped(target)
    }
}

extension OpRegistry {
    static let reduceShapes: [[[Int]]] = [[[6]], [[3, 4]], [[2, 3, 4]]]

    /// The reductions.
    public static let reduction: [OpInfo] = [
        OpInfo("sum", shapes: reduceShapes) { $0[0].sum() },
        OpInfo("sum.axis0", shapes: reduceShapes) { $0[0].sum(axes: [0]) },
        OpInfo("sum.last.keepDims", shapes: reduceShapes) { $0[0].sum(axes: [-1], keepDims: true) },
        OpInfo("sum.outer.axes", shapes: [[[2, 3, 4]]]) { $0[0].sum(axes: [0, 2]) },
        OpInfo("mean", shapes: reduceShapes) { $0[0].mean(axes: [0]) },
        OpInfo("max", shapes: reduceShapes, smooth: false) { $0[0].max(axes: [-1]) },
        OpInfo("min", shapes: reduceShapes, smooth: false) { $0[0].min() },
    ]
}
