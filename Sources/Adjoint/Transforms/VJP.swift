/// `vjp` (reverse mode with an explicit pullback) and `jvp` (forward mode).
///
/// `jvp` is computed by the "double VJP" (linear transposition) trick: the pullback
/// `u ↦ uᵀJ` is linear in `u`, so differentiating `⟨pullback(u), t⟩` with respect to `u`
/// gives `J·t`. It costs about two reverse passes instead of one forward pass, but it
/// needs no per-op JVP rule and composes with every other transform (it is made of
/// `gradients(of:wrt:)` calls, which are themselves differentiable). See docs/TRANSFORMS.md.

/// The value of `function` at `primal` and its pullback (vector-Jacobian product), which
/// may be called any number of times.
///
/// ```swift
/// let (y, pullback) = vjp({ $0.sin() }, x)
/// let g = pullback(Tensor.ones(like: y))   // cos(x)
/// ```
public func vjp<T: TensorTree>(_ function: @escaping (T) -> Tensor, _ primal: T) -> (value: Tensor, pullback: (Tensor) -> T) {
    let originals = primal.tensors
    let lifted = Differentiation.lift(originals)
    let value = Differentiation.evaluate { function(primal.replacingTensors(lifted)) }
    let graph = Differentiation.needsGraph(originals)
    let pullback: (Tensor) -> T = { cotangent in
        guard cotangent.shape == value.shape else {
            fatalError("Adjoint.vjp: cotangent has shape \(cotangent.shape) but the output has shape \(value.shape)")
        }
        let found = gradients(of: value, wrt: lifted, seed: cotangent, createGraph: graph || cotangent.node != nil, retainGraph: true)
        return primal.replacingTensors(found)
    }
    return (graph ? value : value.detach(), pullback)
}

/// The value of `function` at `primal` and the directional derivative `J·tangent`.
///
/// ```swift
/// let (y, dy) = jvp({ $0 * $0 }, primal: x, tangent: Tensor.ones(like: x))   // dy = 2x
/// ```
public func jvp<T: TensorTree>(_ function: @escaping (T) -> Tensor, primal: T, tangent: T) -> (value: Tensor, tangent: Tensor) {
    let originals = primal.tensors
    let tangents = tangent.tensors
    precondition(zip(originals, tangents).allSatisfy { $0.shape == $1.shape } && originals.count == tangents.count,
                 "Adjoint.jvp: tangent shapes \(tangents.map(\.shape)) do not match primal shapes \(originals.map(\.shape))")
    let lifted = Differentiation.lift(originals)
    let graph = Differentiation.needsGraph(originals + tangents)
    return Differentiation.evaluate {
        let value = function(primal.replacingTensors(lifted))
        // The dual's values never matter (the pairing is linear in it): a broadcast view
        // of the cached 0, not a fill.
        let dual = Tensor.constant(0, dtype: value.dtype, on: value.device).expanded(to: value.shape).requiringGrad()
        let transposed = gradients(of: value, wrt: lifted, seed: dual, createGraph: true, retainGraph: true)
        var accumulated: Tensor?
        for (row, direction) in zip(transposed, tangents) where row.dtype.isFloatingPoint {
            let term = (row * direction.cast(to: row.dtype)).sum()
            accumulated = accumulated.map { $0 + term } ?? term
        }
        let pairing = accumulated ?? Tensor.constant(0, dtype: value.dtype, on: value.device)
        let derivative = gradients(of: pairing, wrt: [dual], createGraph: graph, retainGraph: graph)[0]
        return (graph ? value : value.detach(), graph ? derivative : derivative.detach())
    }
}

/// Two-argument `jvp` over tensors.
public func jvp(_ function: @escaping (Tensor, Tensor) -> Tensor, primals: (Tensor, Tensor), tangents: (Tensor, Tensor)) -> (value: Tensor, tangent: Tensor) {
    jvp({ (pair: [Tensor]) in function(pair[0], pair[1]) }, primal: [primals.0, primals.1], tangent: [tangents.0, tangents.1])
}
