/// Jacobians and Hessians of tensor functions.

/// The Jacobian by reverse mode: the pullback vmapped over the basis of the output space
/// (every row in one batched backward pass). The result has shape `output.shape + input.shape`.
public func jacrev(_ function: @escaping (Tensor) -> Tensor) -> (Tensor) -> Tensor {
    { x in
        let (value, pullback) = vjp(function, x)
        if value.count == 0 || x.count == 0 { return Tensor.zeros(value.shape + x.shape, dtype: x.dtype, on: x.device) }
        let basis = Tensor.identityMatrix(value.count, like: value).reshaped([value.count] + value.shape)
        return vmap(pullback)(basis).reshaped(value.shape + x.shape)
    }
}

/// The Jacobian by forward mode: `jvp` vmapped over the basis of the input space (every
/// column in one batched pass). The result has shape `output.shape + input.shape`.
public func jacfwd(_ function: @escaping (Tensor) -> Tensor) -> (Tensor) -> Tensor {
    { x in
        guard x.count > 0 else {
            let value = noGrad { function(x) }
            return Tensor.zeros(value.shape + x.shape, dtype: x.dtype, on: x.device)
        }
        let basis = Tensor.identityMatrix(x.count, like: x).reshaped([x.count] + x.shape)
        let columns = vmap({ (direction: Tensor) in jvp(function, primal: x, tangent: direction).tangent }, outAxes: -1)(basis)
        return columns.reshaped(Array(columns.shape.dropLast()) + x.shape)
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
    /// The `count × count` identity matrix with `like`'s dtype and device.
    static func identityMatrix(_ count: Int, like other: Tensor) -> Tensor {
        let positions = Tensor.arange(0, Double(count), dtype: .int32, on: other.device)
        return Tensor.where(positions.reshaped([count, 1]) .== positions.reshaped([1, count]), 1, 0, dtype: other.dtype)
    }
}
