/// The graph passes that need no code generation: constant folding, common
/// subexpression elimination and dead-code elimination. Each returns how many steps it
/// removed.
extension JitGraph {
    /// Runs every step whose inputs are all constants (and that is not a random draw) now,
    /// on the device, and turns its buffer into a constant.
    @discardableResult
    mutating func foldConstants() -> Int {
        let writers = writers()
        var foldableBuffer = [Bool](repeating: false, count: buffers.count)
        var foldableStep = [Bool](repeating: false, count: steps.count)
        for (index, step) in steps.enumerated() {
            guard let call = step.primitive, buffers[step.output].input == nil else { continue }
            if case .random = call { continue }
            foldableStep[index] = step.inputs.allSatisfy { operand in
                switch operand.ref {
                case .constant: return true
                case .buffer(let id): return foldableBuffer[id]
                }
            }
            if writers[step.output].last == index {
                foldableBuffer[step.output] = writers[step.output].allSatisfy { foldableStep[$0] }
            }
        }
        var folded: [Int: Storage] = [:]
        var removed: Set<Int> = []
        for (index, step) in steps.enumerated() where foldableBuffer[step.output] {
            let buffer = buffers[step.output]
            let storage = folded[step.output] ?? Dispatch.allocate(count: buffer.count, dtype: buffer.dtype, device: device)
            let inputs = step.inputs.map { operand -> Tensor in
                switch operand.ref {
                case .constant(let id): return Tensor(storage: constants[id], layout: operand.layout)
                case .buffer(let id): return Tensor(storage: folded[id]!, layout: operand.layout)
                }
            }
            folded[step.output] = Dispatch.run(step.primitive!, inputs, into: storage, layout: step.layout)
            removed.insert(index)
        }
        for (id, storage) in folded.sorted(by: { $0.key < $1.key }) {
            constants.append(storage)
            substitute(.buffer(id), with: .constant(constants.count - 1))
        }
        removeSteps(removed)
        return removed.count
    }

    /// Merges steps that run the same primitive on the same operands: later readers use
    /// the first result.
    @discardableResult
    mutating func mergeCommonSubexpressions() -> Int {
        struct Key: Hashable {
            var call: Primitive
            var inputs: [JitOperand]
            var layout: Layout
            var dtype: DType
        }
        let writers = writers()
        var seen: [Key: Int] = [:]
        var renamed: [Int: Int] = [:]
        var removed: Set<Int> = []
        for index in steps.indices {
            for input in steps[index].inputs.indices {
                if case .buffer(let id) = steps[index].inputs[input].ref, let target = renamed[id] {
                    steps[index].inputs[input].ref = .buffer(target)
                }
            }
            let step = steps[index]
            guard let call = step.primitive, !step.drawsFreshFromProcessStream, writers[step.output].count == 1,
                  step.coversOutput(of: buffers[step.output]) else { continue }
            let key = Key(call: call, inputs: step.inputs, layout: step.layout, dtype: step.dtype)
            if let first = seen[key] {
                renamed[step.output] = first
                removed.insert(index)
            } else {
                seen[key] = step.output
            }
        }
        for index in outputs.indices {
            if case .buffer(let id) = outputs[index].ref, let target = renamed[id] { outputs[index].ref = .buffer(target) }
        }
        removeSteps(removed)
        return removed.count
    }

    /// Removes steps whose results no output depends on.
    @discardableResult
    mutating func eliminateDeadCode() -> Int {
        var live = [Bool](repeating: false, count: buffers.count)
        for output in outputs {
            if case .buffer(let id) = output.ref { live[id] = true }
        }
        var removed: Set<Int> = []
        for index in steps.indices.reversed() {
            let step = steps[index]
            guard live[step.output] else {
                removed.insert(index)
                continue
            }
            for input in step.inputs {
                if case .buffer(let id) = input.ref { live[id] = true }
            }
        }
        removeSteps(removed)
        return removed.count
    }
}

extension JitGraph {
    /// Products whose contracted axis has length 1 (outer products; W4's per-example
    /// gradients, a scale per example times its feature row) are elementwise:
    /// `out[b, i, j] = a[b, i, 0] · b[b, 0, j]`. Where one side is a vector (`m` or `n` of
    /// 1), which a GEMM runs as a call per batch entry, they become broadcast multiplies,
    /// which fuse with the steps around them (W4 on the CPU: 1.50 → 1.18 ms). Matrix outer
    /// products stay GEMMs: rewritten, W6's made its CPU step 5 % slower. Returns the steps
    /// rewritten.
    @discardableResult
    mutating func rewriteRankOneProducts() -> Int {
        var rewritten = 0
        for index in steps.indices {
            let step = steps[index]
            guard case .matmul? = step.primitive, step.inputs.count == 2, step.partialProducts == nil else { continue }
            let a = step.inputs[0], b = step.inputs[1], shape = step.layout.shape
            guard a.layout.rank == 3, b.layout.rank == 3, shape.count == 3, a.layout.shape[2] == 1, b.layout.shape[1] == 1,
                  a.dtype == step.dtype, b.dtype == step.dtype else { continue }
            guard shape[1] == 1 || shape[2] == 1 else { continue }
            func batchStride(_ layout: Layout) -> Int { layout.shape[0] == 1 ? 0 : layout.strides[0] }
            let left = Layout(shape: shape, strides: [batchStride(a.layout), a.layout.strides[1], 0], offset: a.layout.offset)
            let right = Layout(shape: shape, strides: [batchStride(b.layout), 0, b.layout.strides[2]], offset: b.layout.offset)
            steps[index].kernel = .primitive(.binary(.mul))
            steps[index].inputs = [JitOperand(ref: a.ref, layout: left, dtype: a.dtype), JitOperand(ref: b.ref, layout: right, dtype: b.dtype)]
            rewritten += 1
        }
        return rewritten
    }
}

extension JitGraph {
    /// A float32 binary step left on its own after fusion that broadcasts an operand (a
    /// rank-one product, a per-row scale) runs as a one-node fused kernel: the fused
    /// kernels read broadcast runs a block at a time, where the primitive walks them element
    /// by element. Returns the steps changed.
    @discardableResult
    mutating func fuseBroadcastBinaries() -> Int {
        var changed = 0
        for index in steps.indices {
            let step = steps[index]
            guard case .binary(let op)? = step.primitive, !op.isComparison, step.dtype == .float32, step.inputs.count == 2,
                  step.inputs.allSatisfy({ $0.dtype == .float32 && $0.layout.shape == step.layout.shape }),
                  step.coversOutput(of: buffers[step.output]),
                  step.inputs.contains(where: { operand in operand.layout.strides.indices.contains { operand.layout.strides[$0] == 0 && operand.layout.shape[$0] > 1 } })
            else { continue }
            let kernel = FusedKernel(shape: step.layout.shape, nodes: [.load(0), .load(1), .binary(op, 0, 1)], types: [.float32, .float32, .float32],
                                     operands: step.inputs.map(\.layout), operandTypes: [.float32, .float32], reduction: nil)
            steps[index].kernel = .fused(kernel)
            changed += 1
        }
        return changed
    }
}
