/// `grad` and `valueAndGrad`, JAX's transforms in Swift spelling. They return functions,
/// compose in any order (`grad(grad(f))`), and differentiate closures over outer
/// variables correctly.
extension Differentiation {
    /// Value, aux and gradients of `function` at `arguments` w.r.t. the arguments in `argnums`.
    static func valueAndGradients<Aux>(
        _ arguments: [[Tensor]], argnums: [Int], transform: String, _ function: ([[Tensor]]) -> (Tensor, Aux)
    ) -> (value: Tensor, aux: Aux, gradients: [[Tensor]]) {
        for index in argnums where index < 0 || index >= arguments.count {
            fatalError("Adjoint.\(transform): argnums \(argnums) out of range for a function of \(arguments.count) argument(s)")
        }
        let originals = argnums.flatMap { arguments[$0] }
        let lifted = lift(originals)
        var liftedArguments = arguments
        var position = 0
        for index in argnums {
            let count = arguments[index].count
            liftedArguments[index] = Array(lifted[position..<(position + count)])
            position += count
        }
        let (value, aux) = evaluate { function(liftedArguments) }
        let graph = needsGraph(originals) || needsGraph(arguments.flatMap { $0 })
        let flat = gradients(of: value, wrt: argnums.flatMap { liftedArguments[$0] }, createGraph: graph, transform: transform)
        var grouped: [[Tensor]] = []
        position = 0
        for index in argnums {
            grouped.append(Array(flat[position..<(position + arguments[index].count)]))
            position += arguments[index].count
        }
        return (graph ? value : value.detach(), aux, grouped)
    }
}

// MARK: One argument (any tensor tree)

/// The gradient of a scalar-valued function, as a function.
///
/// ```swift
/// let f: (Tensor) -> Tensor = { x in (x * x * x).sum() }
/// let d2f = grad(grad(f))   // 6x
/// ```
public func grad<T: TensorTree>(_ function: @escaping (T) -> Tensor) -> (T) -> T {
    { valueAndGrad(function)($0).gradient }
}

/// The value and the gradient of a scalar-valued function, as a function.
public func valueAndGrad<T: TensorTree>(_ function: @escaping (T) -> Tensor) -> (T) -> (value: Tensor, gradient: T) {
    { argument in
        let result = Differentiation.valueAndGradients([argument.tensors], argnums: [0], transform: "grad") {
            (function(argument.replacingTensors($0[0])), ())
        }
        return (result.value, argument.replacingTensors(result.gradients[0]))
    }
}

/// The gradient of the first output of a function that also returns auxiliary data
/// (passed through, not differentiated). `hasAux` must be true (JAX's `has_aux`).
public func grad<T: TensorTree, Aux>(_ function: @escaping (T) -> (Tensor, Aux), hasAux: Bool) -> (T) -> (gradient: T, aux: Aux) {
    { let result = valueAndGrad(function, hasAux: hasAux)($0); return (result.gradient, result.aux) }
}

/// Value, auxiliary data and gradient of a function returning `(value, aux)`.
public func valueAndGrad<T: TensorTree, Aux>(_ function: @escaping (T) -> (Tensor, Aux), hasAux: Bool) -> (T) -> (value: Tensor, aux: Aux, gradient: T) {
    precondition(hasAux, "Adjoint.valueAndGrad: a function returning (value, aux) needs hasAux: true")
    return { argument in
        let result = Differentiation.valueAndGradients([argument.tensors], argnums: [0], transform: "grad") {
            function(argument.replacingTensors($0[0]))
        }
        return (result.value, result.aux, argument.replacingTensors(result.gradients[0]))
    }
}

// MARK: Two to four tensor arguments

/// Gradient w.r.t. argument `argnums` of a function of two tensors.
public func grad(_ function: @escaping (Tensor, Tensor) -> Tensor, argnums: Int = 0) -> (Tensor, Tensor) -> Tensor {
    { grad(function, argnums: [argnums])($0, $1)[0] }
}

/// Gradients w.r.t. several arguments of a function of two tensors, in the order asked.
public func grad(_ function: @escaping (Tensor, Tensor) -> Tensor, argnums: [Int]) -> (Tensor, Tensor) -> [Tensor] {
    { valueAndGrad(function, argnums: argnums)($0, $1).gradients }
}

/// Value and gradients of a function of two tensors.
public func valueAndGrad(_ function: @escaping (Tensor, Tensor) -> Tensor, argnums: [Int] = [0]) -> (Tensor, Tensor) -> (value: Tensor, gradients: [Tensor]) {
    { a, b in
        let result = Differentiation.valueAndGradients([[a], [b]], argnums: argnums, transform: "grad") { (function($0[0][0], $0[1][0]), ()) }
        return (result.value, result.gradients.map { $0[0] })
    }
}

/// Gradient w.r.t. argument `argnums` of a function of three tensors.
public func grad(_ function: @escaping (Tensor, Tensor, Tensor) -> Tensor, argnums: Int = 0) -> (Tensor, Tensor, Tensor) -> Tensor {
    { grad(function, argnums: [argnums])($0, $1, $2)[0] }
}

/// Gradients w.r.t. several arguments of a function of three tensors, in the order asked.
public func grad(_ function: @escaping (Tensor, Tensor, Tensor) -> Tensor, argnums: [Int]) -> (Tensor, Tensor, Tensor) -> [Tensor] {
    { valueAndGrad(function, argnums: argnums)($0, $1, $2).gradients }
}

/// Value and gradients of a function of three tensors.
public func valueAndGrad(_ function: @escaping (Tensor, Tensor, Tensor) -> Tensor, argnums: [Int] = [0]) -> (Tensor, Tensor, Tensor) -> (value: Tensor, gradients: [Tensor]) {
    { a, b, c in
        let result = Differentiation.valueAndGradients([[a], [b], [c]], argnums: argnums, transform: "grad") { (function($0[0][0], $0[1][0], $0[2][0]), ()) }
        return (result.value, result.gradients.map { $0[0] })
    }
}

/// Gradient w.r.t. argument `argnums` of a function of four tensors.
public func grad(_ function: @escaping (Tensor, Tensor, Tensor, Tensor) -> Tensor, argnums: Int = 0) -> (Tensor, Tensor, Tensor, Tensor) -> Tensor {
    { grad(function, argnums: [argnums])($0, $1, $2, $3)[0] }
}

/// Gradients w.r.t. several arguments of a function of four tensors, in the order asked.
public func grad(_ function: @escaping (Tensor, Tensor, Tensor, Tensor) -> Tensor, argnums: [Int]) -> (Tensor, Tensor, Tensor, Tensor) -> [Tensor] {
    { valueAndGrad(function, argnums: argnums)($0, $1, $2, $3).gradients }
}

/// Value and gradients of a function of four tensors.
public func valueAndGrad(_ function: @escaping (Tensor, Tensor, Tensor, Tensor) -> Tensor, argnums: [Int] = [0]) -> (Tensor, Tensor, Tensor, Tensor) -> (value: Tensor, gradients: [Tensor]) {
    { a, b, c, d in
        let result = Differentiation.valueAndGradients([[a], [b], [c], [d]], argnums: argnums, transform: "grad") { (function($0[0][0], $0[1][0], $0[2][0], $0[3][0]), ()) }
        return (result.value, result.gradients.map { $0[0] })
    }
}
