extension JitGraph {
    /// Most values a fused kernel stores besides its output (each a kernel parameter).
    static let maximumStoredNodes = 4

    /// Multi-output fusion: a fused elementwise kernel (the producer) whose values a later
    /// fused elementwise kernel over the same elements reads element for element merges
    /// into that reader when its other readers all run after the reader: the merged kernel
    /// computes the producer's chain in registers and stores its values where later steps
    /// or the caller read them. Adam's moments `m` and `v` are outputs of the step that
    /// the weight update also reads: one pass reads the gradient, the moments and the
    /// weights once and writes all three, where three kernels read the gradient twice
    /// and the new moments back. Returns the launches removed.
    @discardableResult
    mutating func fuseProducersIntoReaders() -> Int {
        var removed = Set<Int>()
        let returned = outputBuffers
        // Writers and readers among the steps still present, kept up to date at each merge
        // (recounting them over the whole graph per merge made the pass quadratic).
        var live = LiveSteps(writers: Array(repeating: [], count: buffers.count), readers: Array(repeating: [], count: buffers.count))
        func update(_ index: Int, present: Bool) {
            for id in steps[index].writtenBuffers {
                if present { live.writers[id].insert(index) } else { live.writers[id].remove(index) }
            }
            for id in steps[index].inputs.compactMap(\.bufferID) {
                if present { live.readers[id].insert(index) } else { live.readers[id].remove(index) }
            }
        }
        for index in steps.indices { update(index, present: true) }
        for r in steps.indices {
            while let p = mergeableProducer(of: r, returned: returned, live: live) {
                let merged = merged(producer: steps[p], into: steps[r], returned: returned, readers: live.readers, reader: r)
                update(p, present: false)
                update(r, present: false)
                steps[r] = merged
                update(r, present: true)
                removed.insert(p)
            }
        }
        removeSteps(removed)
        return removed.count
    }

    /// The steps that write and read each buffer.
    private struct LiveSteps {
        var writers: [Set<Int>]
        var readers: [Set<Int>]
    }

    /// Which elementwise kernel, if any, reader `r` can take in (see `fuseProducersIntoReaders`).
    private func mergeableProducer(of r: Int, returned: Set<Int>, live: LiveSteps) -> Int? {
        guard case .fused(let reader) = steps[r].kernel, reader.reduction == nil, reader.epilogue.isEmpty else { return nil }
        for operand in steps[r].inputs {
            guard let id = operand.bufferID, live.writers[id].count == 1, let p = live.writers[id].first, p < r,
                  case .fused(let producer) = steps[p].kernel, producer.reduction == nil, producer.epilogue.isEmpty,
                  producer.shape == reader.shape, steps[p].dtype == .float32, steps[p].coversOutput(of: buffers[steps[p].output]),
                  producer.storedNodes.count + reader.storedNodes.count + 1 <= JitGraph.maximumStoredNodes,
                  producer.nodes.count + reader.nodes.count <= JitGraph.maximumFusedNodes
            else { continue }
            let written = steps[p].writtenBuffers
            // The reader reads what the producer writes element for element, and everyone
            // else who reads it runs after the reader (which now writes it).
            let elementwise = steps[r].inputs.allSatisfy { input in
                guard let id = input.bufferID, written.contains(id) else { return true }
                return input.layout == Layout(contiguous: reader.shape)
            }
            guard elementwise, written.allSatisfy({ id in live.readers[id].allSatisfy { $0 == r || $0 > r } }) else { continue }
            return p
        }
        return nil
    }

    /// `reader` computing `producer`'s nodes first: loads of what the producer writes
    /// become its nodes; its values are stored where anyone but the reader needs them.
    private func merged(producer: JitStep, into reader: JitStep, returned: Set<Int>, readers: [Set<Int>], reader r: Int) -> JitStep {
        guard case .fused(let first) = producer.kernel, case .fused(let second) = reader.kernel else { preconditionFailure("merging a primitive step") }
        var operands: [JitOperand] = []
        func operand(_ input: JitOperand) -> Int {
            if let existing = operands.firstIndex(of: input) { return existing }
            operands.append(input)
            return operands.count - 1
        }
        var nodes: [FusedKernel.Node] = [], types: [DType] = []
        for (node, type) in zip(first.nodes, first.types) {
            switch node {
            case .load(let k): nodes.append(.load(operand(producer.inputs[k])))
            case .loadSum(let k, let slices, let stride): nodes.append(.loadSum(operand(producer.inputs[k]), slices: slices, stride: stride))
            default: nodes.append(node)
            }
            types.append(type)
        }
        // The producer's values by buffer: its output (the last node) and what it stores.
        var computed: [Int: Int] = [producer.output: first.nodes.count - 1]
        for (node, id) in zip(first.storedNodes, producer.sideOutputs) { computed[id] = node }
        var position: [Int] = []
        for (node, type) in zip(second.nodes, second.types) {
            switch node {
            case .load(let k):
                if let id = reader.inputs[k].bufferID, let value = computed[id] {
                    position.append(value)
                    continue
                }
                nodes.append(.load(operand(reader.inputs[k])))
            case .loadSum(let k, let slices, let stride):
                nodes.append(.loadSum(operand(reader.inputs[k]), slices: slices, stride: stride))
            default:
                nodes.append(node.mappingArguments { position[$0] })
            }
            types.append(type)
            position.append(nodes.count - 1)
        }
        // Stored: what the producer stored, its output where another step or the caller
        // reads it, then what the reader stored.
        var stored: [(node: Int, id: Int)] = zip(first.storedNodes, producer.sideOutputs).map { ($0, $1) }
        if returned.contains(producer.output) || readers[producer.output].contains(where: { $0 != r }) {
            stored.append((first.nodes.count - 1, producer.output))
        }
        stored += zip(second.storedNodes, reader.sideOutputs).map { (position[$0], $1) }
        var kernel = FusedKernel(shape: second.shape, nodes: nodes, types: types, operands: operands.map(\.layout),
                                 operandTypes: operands.map(\.dtype), reduction: nil)
        kernel.storedNodes = stored.map(\.node)
        return JitStep(kernel: .fused(kernel), inputs: operands, output: reader.output, layout: reader.layout, dtype: reader.dtype,
                       redraw: nil, sideOutputs: stored.map(\.id))
    }
}
