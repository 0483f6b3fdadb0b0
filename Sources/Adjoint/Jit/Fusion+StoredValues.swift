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
                  inner == 1 ? (outer >= 64 || length <= 1024) : (outer * inner >= 256 && length <= 256)
            else { continue }
            kernel.reduction = FusedKernel.Reduction(op: op, outer: outer, length: length, inner: inner)
            kernel.storesValues = true
            steps[a] = JitStep(kernel: .fused(kernel), inputs: steps[a].inputs, output: reduce.output, layout: reduce.layout,
                               dtype: .float32, redraw: nil, sideOutput: values)
            removed.insert(r)
        }
        removeSteps(removed)
        return removed.count
    }
}
