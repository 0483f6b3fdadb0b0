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
        // Writers and readers among the steps still present.
        func live() -> (writers: [[Int]], readers: [[Int]]) {
            var writers = [[Int]](repeating: [], count: buffers.count), readers = writers
            for (index, step) in steps.enumerated() where !removed.contains(index) {
                for id in step.writtenBuffers { writers[id].append(index) }
                for id in Set(step.inputs.compactMap(\.bufferID)) { readers[id].append(index) }
            }
            return (writers, readers)
        }
        for r in steps.indices {
            while let p = mergeableProducer(of: r, removed: removed, returned: returned, live: live()) {
                steps[r] = merged(producer: steps[p], into: steps[r], returned: returned, readers: live().readers, reader: r)
                removed.insert(p)
            }
        }
        removeSteps(removed)
        return removed.count
    }

    /// Which elementwise kernel, if any, reader `r` can take in (see `fuseProducersIntoReaders`).
    private func mergeableProducer(of r: Int, removed: Set<Int>, returned: Set<Int>, live: (writers: [[Int]], readers: [[Int]])) -> Int? {
        guard case .fused(let reader) = steps[r].kernel, reader.reduction == nil, reader.epilogue.isEmpty else { return nil }
        for operand in steps[r].inputs {
            guard let id = operand.bufferID, live.writers[id].count == 1, let p = live.writers[id].first, p < r, !removed.contains(p),
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
    private func merged(producer: JitStep, into reader: JitStep, returned: Set<Int>, readers: [[Int]], reader r: Int) -> JitStep {
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
