/// How deeply transforms are nested in the current task (0 outside any transform).
enum TransformLevel {
    @TaskLocal static var depth = 0
}

/// The core of every reverse-mode transform.
///
/// Each float tensor of the differentiated arguments is replaced by a fresh input: a new
/// leaf when it has no history, or an identity op on it when an outer transform tracks it,
/// so inner and outer derivatives never mix (no perturbation confusion) and the outer
/// level still differentiates through the inner one. The backward pass records a graph
/// whenever an outer level could need it.
enum Differentiation {
    /// Fresh differentiable stand-ins for `tensors`.
    static func lift(_ tensors: [Tensor]) -> [Tensor] {
        tensors.map { tensor in
            guard tensor.dtype.isFloatingPoint else { return tensor }
            if tensor.node != nil && GradMode.isEnabled { return tensor.identity() }
            var leaf = GradMode.isEnabled ? tensor.levelValue : tensor.detach()
            leaf.requiresGrad = true
            return leaf
        }
    }

    /// Whether the backward pass must be recorded for an enclosing transform.
    /// Leaves that merely require grad (PyTorch-style parameters) do not count: as in
    /// PyTorch, a graph of the backward pass is recorded only when something above needs it.
    static func needsGraph(_ originals: [Tensor]) -> Bool {
        GradMode.isEnabled && (TransformLevel.depth > 0 || originals.contains { !$0.isLeafAtEveryLevel })
    }

    /// Evaluates `function` on lifted arguments at one deeper level.
    static func evaluate<R>(_ function: () -> R) -> R {
        TransformLevel.$depth.withValue(TransformLevel.depth + 1) { enableGrad(function) }
    }

    /// Gradients of scalar `output` with respect to `inputs` (the lifted tensors).
    static func gradients(of output: Tensor, wrt inputs: [Tensor], createGraph: Bool, transform: String) -> [Tensor] {
        guard output.count == 1 else {
            fatalError("Adjoint.\(transform): gradient only defined for scalar-output functions; output had shape \(output.shape)")
        }
        let seed = Tensor.unitSeed(like: output)
        let results = Adjoint.gradients(of: output, wrt: inputs, seed: seed, createGraph: createGraph)
        return zip(inputs, results).map { input, gradient in
            input.dtype.isFloatingPoint ? (createGraph ? gradient : gradient.detach()) : Tensor.zeros(like: input)
        }
    }
}

extension Tensor {
    /// The same values as a new graph node whose gradient passes straight through.
    func identity() -> Tensor {
        Tensor.record("Identity", [self], output: levelValue, file: #fileID, line: #line) { g, _, _ in [g] }
    }
}
