/// Choosing between tensors by a mask. Batching rule (vmap): as binary ops, three operands.
extension Tensor {
    /// `condition ? a : b` elementwise, all three broadcast together (numpy/JAX `where`).
    /// The gradient flows to `a` where the condition holds and to `b` elsewhere.
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(condition.dtype == .bool, "where", "condition must be bool, got \(condition.dtype) (shape \(condition.shape))", file: file, line: line)
        check(a.dtype == b.dtype, "where", "branches have different dtypes \(a.dtype) and \(b.dtype)", file: file, line: line)
        check(Set([condition.device, a.device, b.device]).count == 1, "where", "operands on different devices: \(condition.device), \(a.device), \(b.device)", file: file, line: line)
        guard let partial = broadcastShape(a.shape, b.shape), let shape = broadcastShape(partial, condition.shape) else {
            fatalError("Adjoint.where: shapes \(condition.shape), \(a.shape) and \(b.shape) cannot be broadcast together (at \(file):\(line))")
        }
        if condition.batch != nil || a.batch != nil || b.batch != nil, let (level, _) = batchLevel([condition, a, b]) {
            let inputs = [condition, a, b].map { $0.aligned(at: level, rank: shape.count) }
            let output = batched(Tensor.where(inputs[0], inputs[1], inputs[2], file: file, line: line), level: level)
            return record("Where", [condition, a, b], output: output, file: file, line: line, pullback: wherePullback)
        }
        let views = [condition, a, b].map { Tensor(storage: $0.storage, layout: $0.broadcastLayout(to: shape)) }
        let output = Tensor(storage: Dispatch.run(.select, views, shape: shape, dtype: a.dtype, device: a.device), layout: Layout(contiguous: shape))
        return record("Where", [condition, a, b], output: output, file: file, line: line, pullback: wherePullback)
    }

    /// Where's pullback: the cotangent goes to `a` where the condition holds, else to `b`.
    private static let wherePullback: Pullback = { g, x, _ in
        let zero = g.scalar(0)
        return [nil, x[1].requiresGrad ? Tensor.where(x[0], g, zero) : nil, x[2].requiresGrad ? Tensor.where(x[0], zero, g) : nil]
    }

    /// `condition ? a : b` with constant branches.
    public static func `where`(_ condition: Tensor, _ a: Double, _ b: Double, dtype: DType = .float32) -> Tensor {
        Tensor.where(condition, Tensor.constant(a, dtype: dtype, on: condition.device), Tensor.constant(b, dtype: dtype, on: condition.device))
    }

    /// `min(max(self, low), high)` elementwise.
    public func clamp(min low: Double, max high: Double) -> Tensor {
        maximum(low).minimum(high)
    }

    /// `max(self, 0)`; its gradient is 0 for inputs <= 0. NaN stays NaN, as in PyTorch and
    /// JAX. One launch forward (a maximum with the constant 0) and one back (the gradient
    /// masked by the saved output, `Tensor.derivative`).
    public func relu(file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        Tensor.binary(.maximum, self, scalar(0), "Relu", file: file, line: line) { g, _, y in [Tensor.derivative(.relu, g, y), nil] }
    }
}

/// `max(x, 0)` elementwise.
public func relu(_ x: Tensor) -> Tensor { x.relu() }

extension OpRegistry {
    static let selectOps: [OpInfo] = [
        OpInfo("where", shapes: [[[2, 3], [2, 3], [2, 3]], [[3], [2, 3], []]]) { x in Tensor.where(x[0] .> 0, x[1], x[2]) },
        OpInfo("relu", shapes: unaryShapes, domain: .awayFromKinks, smooth: false) { $0[0].relu() },
        OpInfo("clamp", shapes: unaryShapes, domain: .awayFromKinks, smooth: false) { $0[0].clamp(min: -0.5, max: 0.5) },
    ]
}
