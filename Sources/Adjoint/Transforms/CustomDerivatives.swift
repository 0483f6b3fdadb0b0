/// `stopGradient`, `customVJP` and `customJVP`.

/// The same values, treated as a constant by every transform and by `backward()`.
///
/// ```swift
/// let ste = x - stopGradient(x) + stopGradient(x.round())   // straight-through estimator
/// ```
public func stopGradient(_ x: Tensor) -> Tensor { x.detach() }

/// `stopGradient` for every tensor of a tree.
public func stopGradient<T: TensorTree>(_ tree: T) -> T { tree.mapTensors { $0.detach() } }

/// A function with a hand-written vector-Jacobian product, used by every transform.
///
/// `vjp` receives the inputs, the output and the output's cotangent and returns one
/// cotangent per input. Write it with Tensor ops and it can be differentiated again.
///
/// ```swift
/// let clipped = customVJP({ $0[0] * 1 }, vjp: { _, _, g in [g.clamp(min: -1, max: 1)] })
/// ```
public func customVJP(
    _ function: @escaping ([Tensor]) -> Tensor,
    vjp rule: @escaping @Sendable (_ inputs: [Tensor], _ output: Tensor, _ cotangent: Tensor) -> [Tensor],
    name: String = "CustomVJP"
) -> ([Tensor]) -> Tensor {
    { inputs in
        let output = noGrad { function(inputs.map { $0.detach() }) }
        return Tensor.record(name, inputs, output: output, file: #fileID, line: #line) { cotangent, saved, result in
            rule(saved, result, cotangent)
        }
    }
}

/// One-argument `customVJP`.
public func customVJP(
    _ function: @escaping (Tensor) -> Tensor,
    vjp rule: @escaping @Sendable (_ input: Tensor, _ output: Tensor, _ cotangent: Tensor) -> Tensor
) -> (Tensor) -> Tensor {
    let wrapped = customVJP({ function($0[0]) }, vjp: { inputs, output, cotangent in [rule(inputs[0], output, cotangent)] })
    return { wrapped([$0]) }
}

/// A function with a hand-written Jacobian-vector product `jvp(x, t) = J(x)·t` (linear in
/// `t`). Reverse mode uses its transpose, obtained by differentiating the rule with
/// respect to `t`, so the rule serves `grad`, `vjp`, `jvp` and the Jacobians alike.
///
/// ```swift
/// let log1pexp = customJVP({ (1 + $0.exp()).log() }, jvp: { x, t in t * x.sigmoid() })
/// ```
public func customJVP(
    _ function: @escaping (Tensor) -> Tensor,
    jvp rule: @escaping @Sendable (_ input: Tensor, _ tangent: Tensor) -> Tensor
) -> (Tensor) -> Tensor {
    customVJP(function, vjp: { input, _, cotangent in
        let recording = isGradEnabled
        return enableGrad {
            let direction = Tensor.zeros(like: input).requiringGrad()
            let point = recording ? input : input.detach()
            let pairing = (rule(point, direction) * (recording ? cotangent : cotangent.detach())).sum()
            return gradients(of: pairing, wrt: [direction], createGraph: recording)[0]
        }
    })
}
