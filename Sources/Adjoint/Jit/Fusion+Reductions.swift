extension JitGraph {
    /// A sum, max or min whose input a fused elementwise kernel writes, and which later
    /// steps read too (a ReLU's gradient feeding both a bias gradient and a GEMM, the
    /// exponentials of a softmax feeding its sum and its backward), joins that kernel:
    /// one launch reduces and stores the values, where two wrote them and read them back.
    /// Only reductions such a kernel runs well: columns of at most 256 with at least 256
    /// of them, or rows with at least 64 of them or of at most 1024 (longer ones keep the
    /// backend's split reductions). Run for OpenCL devices (see `JitProgram`). Returns the
    /// launches removed.
    @discardableResult
    mutating func fuseReductionsIntoProducers() -> Int {
        let writers = writers()
        var removed = Set<Int>()
        for r in steps.indices {
            let reduce = steps[r]
            guard case .reduce(let op, let outer, let length, let inner)? = reduce.primitive,
                  op == .sum || op == .max || op == .min, reduce.dtype == .float32, reduce.inputs.count == 1,
                  case .buffer(let values) = reduce.inputs[0].ref,
                  reduce.inputs[0].layout.isContiguous, reduce.inputs[0].layout.offset == 0,
                  reduce.inputs[0].layout.count == buffers[values].count,
                  writers[values].count == 1, let a = writers[values].first, a < r, !removed.contains(a),
                  case .fused(var kernel) = steps[a].kernel, kernel.reduction == nil, !kernel.storesValues,
                  steps[a].dtype == .float32, steps[a].coversOutput(of: buffers[values]),
                  writers[reduce.output].count == 1, reduce.coversOutput(of: buffers[reduce.output]),
                  JitGraph.fusedReductionRunsWell(outer: outer, length: length, inner: inner)
            else { continue }
            kernel.reduction = FusedKernel.Reduction(op: op, outer: outer, length: length, inner: inner)
            kernel.storedNodes = [kernel.nodes.count - 1]
            steps[a] = JitStep(kernel: .fused(kernel), inputs: steps[a].inputs, output: reduce.output, layout: reduce.layout,
                               dtype: .float32, redraw: nil, sideOutputs: [values])
            removed.insert(r)
        }
        removeSteps(removed)
        return removed.count
    }
}

extension JitGraph {
    /// Elementwise work on a fused reduction's result, and on nothing written after it (a
    /// mean's division, a log-sum-exp's `log(sum) + max`), moves into the reduction's
    /// kernel as an epilogue applied to each reduced value before the store, when that
    /// step is the result's only reader. Run for OpenCL devices (see `JitProgram`).
    /// Returns the launches removed.
    @discardableResult
    mutating func fuseEpilogues() -> Int {
        var removed = Set<Int>()
        let readers = readers(), pinned = outputBuffers, writers = writers()
        for r in steps.indices where !removed.contains(r) {
            guard steps[r].dtype == .float32, var kernel = reductionKernel(steps[r]), kernel.epilogue.isEmpty else { continue }
            let result = steps[r].output
            guard !pinned.contains(result), writers[result] == [r], readers[result].count == 1, let e = readers[result].first, e > r,
                  !removed.contains(e), steps[e].coversOutput(of: buffers[steps[e].output]), buffers[steps[e].output].count == buffers[result].count,
                  steps[e].dtype == .float32 || steps[e].dtype == .bool, steps[e].sideOutputs.isEmpty
            else { continue }
            let reader = steps[e]
            // The reader's own nodes, and the operands it reads (loads of the result become
            // the reduced value, which must be read element for element).
            let readerNodes: [FusedKernel.Node], readerTypes: [DType], readerOperands: [JitOperand]
            switch reader.kernel {
            case .fused(let other) where other.reduction == nil && !other.storesValues:
                (readerNodes, readerTypes, readerOperands) = (other.nodes, other.types, reader.inputs)
            case .primitive(let call):
                guard let made = FusedKernel.Node(call, arguments: Array(reader.inputs.indices)) else { continue }
                let loads = reader.inputs.indices.map { FusedKernel.Node.load($0) }
                (readerNodes, readerTypes, readerOperands) = (loads + [made], reader.inputs.map(\.dtype) + [reader.dtype], reader.inputs)
            default: continue
            }
            // The reader's index space (its output's shape) walks the result in order.
            let identity = Layout(contiguous: reader.layout.shape)
            let fits = readerOperands.allSatisfy { operand in
                guard operand.dtype == .float32 || operand.dtype == .bool else { return false }
                switch operand.ref {
                case .constant: return true
                case .buffer(let id) where id == result: return operand.layout == identity
                case .buffer(let id): return writers[id].allSatisfy { $0 < r }
                }
            }
            guard fits else { continue }
            var inputs = steps[r].inputs
            kernel.epilogue = readerNodes.map { node in
                guard case .load(let k) = node else { return node }
                if case .buffer(result) = readerOperands[k].ref { return .load(-1) }
                inputs.append(readerOperands[k])
                kernel.operands.append(readerOperands[k].layout)
                kernel.operandTypes.append(readerOperands[k].dtype)
                return .load(inputs.count - 1)
            }
            kernel.epilogueTypes = readerTypes
            kernel.epilogueShape = reader.layout.shape
            steps[r] = JitStep(kernel: .fused(kernel), inputs: inputs, output: reader.output, layout: reader.layout,
                               dtype: reader.dtype, redraw: nil, sideOutputs: steps[r].sideOutputs)
            removed.insert(e)
        }
        removeSteps(removed)
        return removed.count
    }

    /// Short row reductions left as primitives (of a function's input, or of a product's
    /// result: nothing to fuse them with) become one-node fused kernels, so that the row
    /// pass can launch them with other work over the same rows (the cross-entropy's
    /// maximum of the logits beside its sums). Run for OpenCL devices (see `JitProgram`).
    mutating func fuseLoneRowReductions() {
        for index in steps.indices {
            guard case .primitive = steps[index].kernel, steps[index].dtype == .float32, let kernel = reductionKernel(steps[index]),
                  let reduction = kernel.reduction, reduction.inner == 1, !kernel.rowGroups else { continue }
            steps[index].kernel = .fused(kernel)
        }
    }

    /// The fused kernel a reduction step runs: its own, or, for a primitive sum, max or min
    /// of a contiguous input that a fused kernel runs well, one that loads and reduces.
    private func reductionKernel(_ step: JitStep) -> FusedKernel? {
        if case .fused(let kernel) = step.kernel { return kernel.reduction == nil ? nil : kernel }
        guard case .reduce(let op, let outer, let length, let inner)? = step.primitive, op == .sum || op == .max || op == .min,
              step.inputs.count == 1, step.inputs[0].dtype == .float32, step.inputs[0].layout.isContiguous,
              step.inputs[0].layout.count == outer * length * inner, JitGraph.fusedReductionRunsWell(outer: outer, length: length, inner: inner)
        else { return nil }
        let input = step.inputs[0]
        return FusedKernel(shape: input.layout.shape, nodes: [.load(0)], types: [.float32], operands: [input.layout], operandTypes: [.float32],
                           reduction: FusedKernel.Reduction(op: op, outer: outer, length: length, inner: inner))
    }

    /// Whether a fused kernel runs a reduction over [outer, length, inner] well: columns of
    /// at most 256 with at least 256 of them, or rows with at least 64 of them or of at
    /// most 1024 (longer ones keep the backend's split reductions).
    static func fusedReductionRunsWell(outer: Int, length: Int, inner: Int) -> Bool {
        inner == 1 ? (outer >= 64 || length <= 1024) : (outer * inner >= 256 && length <= 256)
    }
}

extension JitGraph {
    /// An elementwise kernel over the same elements as a fused reduction, reading nothing
    /// written after it, moves into the reduction's kernel: one pass computes both chains,
    /// reduces one and stores the other (W1: the sum of sin x·2+1 and the gradient 2·cos x
    /// read x once). Run for OpenCL devices (see `JitProgram`). Returns the launches removed.
    @discardableResult
    mutating func fuseSiblingsIntoReductions() -> Int {
        let writers = writers()
        var removed = Set<Int>()
        for r in steps.indices where !removed.contains(r) {
            guard case .fused(var kernel) = steps[r].kernel, kernel.reduction != nil, !kernel.storesValues,
                  kernel.epilogue.isEmpty, steps[r].sideOutputs.isEmpty else { continue }
            for e in (r + 1)..<steps.count where !removed.contains(e) {
                let sibling = steps[e]
                guard case .fused(let other) = sibling.kernel, other.reduction == nil, !other.storesValues,
                      other.shape == kernel.shape, writers[sibling.output] == [e], sibling.coversOutput(of: buffers[sibling.output]),
                      sibling.inputs.allSatisfy({ operand in
                          operand.bufferID.map { writers[$0].allSatisfy { $0 < r } } ?? true
                      })
                else { continue }
                // The sibling's nodes first (its loads mapped to the merged operands), then
                // the reduction's, shifted, so the reduced value stays the last node.
                var inputs = steps[r].inputs
                let shift = other.nodes.count
                let siblingNodes = other.nodes.map { node -> FusedKernel.Node in
                    guard case .load(let k) = node else { return node }
                    if let existing = inputs.firstIndex(of: sibling.inputs[k]) { return .load(existing) }
                    inputs.append(sibling.inputs[k])
                    return .load(inputs.count - 1)
                }
                kernel.nodes = siblingNodes + kernel.nodes.map { $0.shifted(by: shift) }
                kernel.types = other.types + kernel.types
                kernel.operands = inputs.map(\.layout)
                kernel.operandTypes = inputs.map(\.dtype)
                kernel.storedNodes = [shift - 1]
                steps[r] = JitStep(kernel: .fused(kernel), inputs: inputs, output: steps[r].output, layout: steps[r].layout,
                                   dtype: steps[r].dtype, redraw: nil, sideOutputs: [sibling.output])
                removed.insert(e)
                break
            }
        }
        removeSteps(removed)
        return removed.count
    }
}
