/// Jacobians and Hessians of tensor functions.

/// The Jacobian by reverse mode: one pullback per output element. The result has shape
/// `output.shape + input.shape`.
public func jacrev(_ function: @escaping (Tensor) -> Tensor) -> (Tensor) -> Tensor {
    { x in
        let (value, pullback) = vjp(function, x)
        let rows = (0..<value.count).map { index -> Tensor in
            pullback(Tensor.basisVector(index, count: value.count, like: value).reshaped(value.shape))
        }
        if rows.isEmpty { return Tensor.zeros(value.shape + x.shape, dtype: x.dtype, on: x.device) }
        return Tensor.stack(rows, axis: 0).reshaped(value.shape + x.shape)
    }
}

/// The Jacobian by forward mode: one `jvp` per input element. The result has shape
/// `output.shape + input.shape`.
public func jacfwd(_ function: @escaping (Tensor) -> Tensor) -> (Tensor) -> Tensor {
    { x in
        let columns = (0..<x.count).map { index -> Tensor in
            jvp(function, primal: x, tangent: Tensor.basisVector(index, count: x.count, like: x).reshaped(x.shape)).tangent
        }
        guard let first = columns.first else {
            let value = noGrad { function(x) }
            return Tensor.zeros(value.shape + x.shape, dtype: x.dtype, on: x.device)
        }
        return Tensor.stack(columns, axis: -1).reshaped(first.shape + x.shape)
    }
}

/// The Hessian of a scalar function: `jacfwd(grad(f))`, shape `x.shape + x.shape`.
public func hessian(_ function: @escaping (Tensor) -> Tensor) -> (Tensor) -> Tensor {
    jacfwd(grad(function))
}

/// The Hessian-vector product `H(x)·v` of a scalar function, by forward-over-reverse
/// (`jvp` of `grad`): the Hessian itself is never formed.
public func hvp(_ function: @escaping (Tensor) -> Tensor, at x: Tensor, vector v: Tensor) -> Tensor {
    jvp(grad(function), primal: x, tangent: v).tangent
}

extension Tensor {
    /// The `index`-th standard basis vector of length `count` with `like`'s dtype and device.
    static func basisVector(_ index: Int, count: Int, like other: Tensor) -> Tensor {
        let positions = Tensor.arange(0, Double(count), dtype: .int32, on: other.device)
        return Tensor.where(positions .== Tensor.constant(Double(index), dtype: .int32, on: other.device),
                            Tensor.constant(1, dtype: other.dtype, on: other.device),
                            Tensor.constant(0, dtype: other.dtype, on: other.device))
    }
}
