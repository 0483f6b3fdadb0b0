/// PyTorch-style autograd on tensors: leaves, `grad`, `backward`, hooks, `detach`.
extension Tensor {
    /// Whether gradients are tracked for this tensor.
    ///
    /// Setting it on a tensor makes that tensor a leaf whose `grad` accumulates in
    /// `backward()`. Only floating-point tensors can require gradients, and only leaves
    /// can be switched (a computed tensor's flag follows its inputs).
    public var requiresGrad: Bool {
        get { node != nil }
        set {
            if let node, !node.isLeaf {
                fatalError("Adjoint.requiresGrad: can only change the flag of a leaf tensor; this one was computed by \(node.name) (use detach() first)")
            }
            if newValue {
                guard dtype.isFloatingPoint else {
                    fatalError("Adjoint.requiresGrad: only floating-point tensors can require gradients, not \(dtype) (shape \(shape))")
                }
                if node == nil { node = GradNode(leafOf: layout) }
            } else {
                node = nil
            }
        }
    }

    /// Returns this tensor as a leaf that requires gradients (a new leaf if it already has a history).
    public func requiringGrad() -> Tensor {
        var leaf = detach()
        leaf.requiresGrad = true
        return leaf
    }

    /// Whether this tensor is a leaf of the graph: it was not computed by a recorded op.
    public var isLeaf: Bool { node?.isLeaf ?? true }

    /// The op that computed this tensor (nil for leaves), as PyTorch's `grad_fn`.
    public var gradFn: GradFunction? {
        guard let node, !node.isLeaf else { return nil }
        return GradFunction(node: node)
    }

    /// The gradient accumulated by `backward()` (leaves, and tensors that `retainGrad()`).
    /// Assign `nil` to clear it before the next accumulation.
    public var grad: Tensor? {
        get { node?.grad }
        nonmutating set { node?.grad = newValue }
    }

    /// Keeps this non-leaf tensor's gradient in `grad` during `backward()`.
    public func retainGrad() {
        node?.retainsGrad = true
    }

    /// The same values with no autodiff history (shares memory).
    public func detach() -> Tensor { value }

    /// Registers `hook`, run on the gradient arriving at this tensor during backward; a
    /// non-nil result replaces the gradient.
    public func registerHook(_ hook: @escaping @Sendable (Tensor) -> Tensor?) {
        guard let node else {
            fatalError("Adjoint.registerHook: tensor of shape \(shape) does not require grad")
        }
        node.hooks.append(hook)
    }

    /// Computes the gradient of this scalar with respect to every leaf that requires
    /// grad, adding it into each leaf's `grad`.
    ///
    /// - Parameters:
    ///   - gradient: the cotangent to start from (a vector-Jacobian product); required
    ///     when this tensor is not a scalar, and of the same shape.
    ///   - retainGraph: keep the graph so `backward` can run through it again.
    ///   - createGraph: record the backward pass itself, so the gradients can be
    ///     differentiated again (implies `retainGraph`).
    public func backward(
        gradient: Tensor? = nil, retainGraph: Bool = false, createGraph: Bool = false,
        file: StaticString = #fileID, line: UInt = #line
    ) {
        guard let node else {
            fatalError("Adjoint.backward: tensor of shape \(shape) does not require grad and has no gradFn (at \(file):\(line))")
        }
        let seed: Tensor
        if let gradient {
            guard gradient.shape == shape else {
                fatalError("Adjoint.backward: gradient has shape \(gradient.shape) but the tensor has shape \(shape) (at \(file):\(line))")
            }
            seed = gradient
        } else {
            guard count == 1 else {
                fatalError("Adjoint.backward: grad can be implicitly created only for scalar outputs; this tensor has shape \(shape): pass backward(gradient:) (at \(file):\(line))")
            }
            seed = Tensor.unitSeed(like: self)
        }
        _ = AutodiffEngine.run(
            root: node, seed: seed, targets: nil, accumulateIntoLeaves: true,
            retainGraph: retainGraph || createGraph, createGraph: createGraph, caller: "\(file):\(line)")
    }
}

/// The gradients of `output` with respect to each tensor in `inputs`, without touching
/// any `grad`. An input the output does not depend on gets zeros.
///
/// - Parameters:
///   - seed: the output cotangent (defaults to 1 for a scalar output).
///   - createGraph: record the computation so the result can be differentiated again.
///   - retainGraph: keep the graph for later passes (default: same as `createGraph`).
public func gradients(
    of output: Tensor, wrt inputs: [Tensor], seed: Tensor? = nil, createGraph: Bool = false,
    retainGraph: Bool? = nil, file: StaticString = #fileID, line: UInt = #line
) -> [Tensor] {
    // Zeros only for inputs the output does not reach: a fill per input would write as
    // many bytes as the gradients themselves.
    guard let root = output.node else { return inputs.map { Tensor.zeros(like: $0) } }
    let start: Tensor
    if let seed {
        guard seed.shape == output.shape else {
            fatalError("Adjoint.gradients: seed has shape \(seed.shape) but the output has shape \(output.shape) (at \(file):\(line))")
        }
        start = seed
    } else {
        guard output.count == 1 else {
            fatalError("Adjoint.gradients: gradient only defined for scalar outputs without a seed; output had shape \(output.shape) (at \(file):\(line))")
        }
        start = Tensor.unitSeed(like: output)
    }
    let targets = inputs.compactMap { $0.node }
    let found = AutodiffEngine.run(
        root: root, seed: start, targets: targets, accumulateIntoLeaves: false,
        retainGraph: retainGraph ?? createGraph, createGraph: createGraph, caller: "\(file):\(line)")
    return inputs.map { input in
        guard let node = input.node, let gradient = found[ObjectIdentifier(node)] else { return Tensor.zeros(like: input) }
        return gradient
    }
}

extension Tensor {
    /// The cotangent 1 of a one-element output: the cached constant viewed in its shape,
    /// so a backward pass launches no fill for its seed.
    static func unitSeed(like output: Tensor) -> Tensor {
        Tensor.constant(1, dtype: output.dtype, on: output.device).reshaped(output.shape)
    }
}
