/// A TensorFlow-style gradient tape: watch tensors, compute inside `record`, then ask for
/// gradients or Jacobians of any recorded result.
///
/// ```swift
/// let tape = GradientTape()
/// let w = tape.watch(weights)
/// let z = tape.record { w.matmul(x) }
/// let dz = tape.gradient(of: z.sum(), wrt: [w])[0]
/// ```
public final class GradientTape: @unchecked Sendable {
    /// Whether more than one gradient or Jacobian may be taken from the tape.
    public let persistent: Bool
    private var used = false
    private var watched: [Tensor] = []

    /// A tape; a non-persistent one answers one `gradient` or `jacobian` call.
    public init(persistent: Bool = false) {
        self.persistent = persistent
    }

    /// Starts tracking `tensor`; compute with the returned tensor.
    public func watch(_ tensor: Tensor) -> Tensor {
        let tracked = Differentiation.lift([tensor])[0]
        watched.append(tracked)
        return tracked
    }

    /// Runs `body` with gradient recording enabled.
    public func record<R>(_ body: () throws -> R) rethrows -> R {
        try enableGrad(body)
    }

    /// Gradients of the scalar `target` with respect to watched tensors.
    public func gradient(of target: Tensor, wrt sources: [Tensor], file: StaticString = #fileID, line: UInt = #line) -> [Tensor] {
        consume(file: file, line: line)
        return gradients(of: target, wrt: sources, retainGraph: persistent, file: file, line: line)
    }

    /// The Jacobian of `target` with respect to one watched tensor, shape
    /// `target.shape + source.shape` (every row in one backward pass vmapped over the basis).
    public func jacobian(of target: Tensor, wrt source: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        consume(file: file, line: line)
        if target.count == 0 || source.count == 0 { return Tensor.zeros(target.shape + source.shape, dtype: source.dtype, on: source.device) }
        let basis = Tensor.identityMatrix(target.count, like: target).reshaped([target.count] + target.shape)
        let rows = vmap({ (seed: Tensor) in
            gradients(of: target, wrt: [source], seed: seed, retainGraph: true, file: file, line: line)[0]
        }, file: file, line: line)(basis)
        return rows.reshaped(target.shape + source.shape)
    }

    private func consume(file: StaticString, line: UInt) {
        if used && !persistent {
            fatalError("Adjoint.GradientTape: a non-persistent tape answers one gradient or jacobian call; create it with persistent: true (at \(file):\(line))")
        }
        used = true
    }
}
