import Foundation

/// The fusion pass: chains of elementwise steps over one shape (float32 and bool values,
/// operands read through any layout of that shape, broadcasts included) become one
/// `FusedKernel`, and so does such a chain followed by the sum, max or min that reads it.
/// An intermediate is fused away when nothing outside the chain reads it, or when it is a
/// cheap elementwise value (a bias add, a comparison) whose readers all fuse: each of them
/// recomputes it, as XLA duplicates cheap producers, so a ReLU's pre-activation and mask
/// never reach memory.
extension JitGraph {
    static let maximumFusedNodes = 48
    /// The largest chain (in steps) fusion recomputes in each reader instead of storing.
    static let maximumDuplicatedNodes = 4
    /// The most readers such a chain is recomputed for.
    static let maximumDuplicatedReaders = 4
    /// The most readers a scalar chain is recomputed for (an optimizer's bias correction
    /// is read by every variable's update).
    static let maximumScalarReaders = 64

    /// Whether `step` is an elementwise primitive fusion can absorb. `float64`: the kernels
    /// are generated for a device with doubles (an interpreter holds float registers only).
    private func isFusible(_ step: JitStep, interpreted: Bool, float64: Bool) -> Bool {
        guard let call = step.primitive else { return false }
        switch call {
        case .unary, .binary, .select, .cast: break
        default: return false
        }
        let types = step.inputs.map(\.dtype) + [step.dtype]
        guard step.coversOutput(of: buffers[step.output]) else { return false }
        // Generated kernels also compare int32 values (a label with a class index), so a
        // one-hot mask fuses with what it selects; an interpreter holds float registers only.
        if !interpreted, case .binary(let op) = call, op.isComparison, step.inputs.allSatisfy({ $0.dtype == .int32 }) { return true }
        return types.allSatisfy { $0 == .float32 || $0 == .bool || (float64 && $0 == .float64) }
    }

    /// A reduction worth fusing, as the fused kernel runs it: enough independent outputs
    /// to fill a device, or short rows; or a long reduction with few outputs (a loss's
    /// sum over every element) split into `parts` partial reductions of equal length, which
    /// the kernel writes and a small `reduce` step combines (`splitParts`).
    private func fusibleReduction(_ step: JitStep, interpreted: Bool, float64: Bool) -> FusedKernel.Reduction? {
        guard case .reduce(let op, let outer, let length, let inner)? = step.primitive,
              op == .sum || op == .max || op == .min, step.dtype == .float32 || (float64 && step.dtype == .float64) else { return nil }
        if outer * inner >= 256 || length <= 1024 {
            return FusedKernel.Reduction(op: op, outer: outer, length: length, inner: inner)
        }
        guard let parts = JitGraph.splitParts(outer: outer, length: length, inner: inner, interleaved: !interpreted) else { return nil }
        // The CPU's interpreter sums contiguous pieces, one per task: [outer·parts,
        // length/parts, inner]. Generated kernels give each work-item every parts-th
        // element, so neighbouring work-items read neighbouring memory: [outer,
        // length/parts, parts·inner].
        return interpreted
            ? FusedKernel.Reduction(op: op, outer: outer * parts, length: length / parts, inner: inner)
            : FusedKernel.Reduction(op: op, outer: outer, length: length / parts, inner: parts * inner)
    }

    /// The most partial results an interleaved split makes: 262,144 work-items fill an H200
    /// (132 SMs of 2,048), where 65,536 left W1's sum at 466 µs against 145 µs
    /// (docs/PERFORMANCE.md); `ADJOINT_JIT_PARTS` overrides it, for measuring.
    static let interleavedParts = ProcessInfo.processInfo.environment["ADJOINT_JIT_PARTS"].flatMap { Int($0) } ?? 262_144

    /// Into how many equal pieces a long reduction with few outputs splits: a power of
    /// two dividing the length into pieces of at least 64, giving at least 256 partial
    /// results (the CPU's tasks), or, `interleaved` for OpenCL, up to `interleavedParts` (work-items
    /// to fill a GPU); nil when none does (or nothing is reduced into: an empty result).
    /// Both readings keep every element's position.
    static func splitParts(outer: Int, length: Int, inner: Int, interleaved: Bool) -> Int? {
        let interleavedParts = JitGraph.interleavedParts
        guard outer * inner > 0 else { return nil }
        var parts = 2
        while outer * inner * parts < 256 { parts *= 2 }
        guard length % parts == 0, length / parts >= 64 else { return nil }
        while interleaved, outer * inner * parts < interleavedParts, length % (parts * 2) == 0, length / (parts * 2) >= 64 { parts *= 2 }
        return parts
    }

    /// Fuses chains; returns the number of launches removed. `interpreted`: the backend
    /// interprets fused kernels (`FusingBackend.interpretsFusedKernels`); `float64`: float64
    /// chains fuse too (`FusingBackend.fusesFloat64`).
    @discardableResult
    mutating func fuseElementwise(interpreted: Bool, float64: Bool) -> Int {
        let writers = writers()
        let readers = readers().map(Set.init)
        let returned = outputBuffers
        let fusible = steps.map { isFusible($0, interpreted: interpreted, float64: float64) }
        var members: [Int: Set<Int>] = [:]
        // Producers computed inside at least one group; which of their own launches can go
        // is decided once every group is known (below).
        var inlined = Set<Int>()

        // Whether every reader of `id` (written by `producer`) reads it element for element
        // in a step that fuses, so each can recompute the producer's cheap chain instead.
        func duplicable(_ producer: Int, id: Int) -> Bool {
            let cone = members[producer] ?? [producer]
            let layout = steps[producer].layout
            if layout.count == 1 {
                // A scalar chain (a learning-rate schedule, a bias correction) costs each
                // element of a reader a few operations, whatever they are, and saves a
                // launch: every reader that fuses and broadcasts it computes it.
                return cone.count <= JitGraph.maximumDuplicatedNodes && readers[id].count <= JitGraph.maximumScalarReaders
                    && readers[id].allSatisfy { reader in
                        fusible[reader] && steps[reader].inputs.allSatisfy { $0.bufferID != id || $0.layout.readsOneElement(at: layout.offset) }
                    }
            }
            guard cone.count <= JitGraph.maximumDuplicatedNodes, readers[id].count <= JitGraph.maximumDuplicatedReaders,
                  cone.allSatisfy({ isCheap(steps[$0]) }) else { return false }
            return readers[id].allSatisfy { reader in
                let reads = steps[reader].inputs.filter { $0.bufferID == id }
                if fusible[reader] { return steps[reader].layout.shape == layout.shape && reads.allSatisfy { $0.layout == layout } }
                return fusibleReduction(steps[reader], interpreted: interpreted, float64: float64) != nil && layout.isContiguous && layout.offset == 0
                    && reads.allSatisfy { $0.layout.isContiguous && $0.layout.offset == 0 && $0.layout.count == layout.count }
            }
        }

        // The writer of `operand` when its chain can be computed inside `group`: moved there
        // (every reader is in the group) or recomputed there (a cheap chain whose readers
        // all fuse).
        // `flat`: the reader is a reduction, which reads its input in row-major order, so
        // a contiguous reshape of a contiguous producer reads the same elements.
        func absorbable(_ operand: JitOperand, into group: Set<Int>, shape: [Int], flat: Bool = false) -> Int? {
            guard case .buffer(let id) = operand.ref, writers[id].count == 1, !returned.contains(id) else { return nil }
            let producer = writers[id][0]
            let produced = steps[producer].layout
            let sameElements = operand.layout == produced
                || (flat && operand.layout.isContiguous && produced.isContiguous && operand.layout.offset == 0 && produced.offset == 0
                    && operand.layout.count == produced.count)
            // A scalar read by broadcasting: its chain, all scalars, computes in the group
            // with every operand broadcast to the group's shape (`fusedStep`).
            let broadcastScalar = produced.count == 1 && operand.layout.readsOneElement(at: produced.offset)
            guard fusible[producer], !group.contains(producer), (produced.shape == shape && sameElements) || broadcastScalar else { return nil }
            // Moved into the group only when each of its reads there is in place too: a
            // reader may also take a slice or a broadcast row of the same buffer, which
            // needs the stored values.
            let readsInPlace = readers[id].allSatisfy { reader in
                steps[reader].inputs.allSatisfy { read in
                    read.bufferID != id || read == operand || read.layout == produced
                        || (produced.count == 1 && read.layout.readsOneElement(at: produced.offset))
                }
            }
            if readers[id].isSubset(of: group) && !inlined.contains(producer) && readsInPlace { return producer }
            return duplicable(producer, id: id) ? producer : nil
        }

        func grow(_ group: inout Set<Int>, shape: [Int]) {
            var changed = true
            while changed {
                changed = false
                for member in group.sorted() {
                    for operand in steps[member].inputs {
                        guard let producer = absorbable(operand, into: group, shape: shape) else { continue }
                        let added = members[producer] ?? [producer]
                        guard group.count + added.count <= JitGraph.maximumFusedNodes else { continue }
                        group.formUnion(added)
                        inlined.insert(producer)
                        changed = true
                    }
                }
            }
        }

        for (index, step) in steps.enumerated() {
            if fusible[index] {
                var group: Set<Int> = [index]
                grow(&group, shape: step.layout.shape)
                members[index] = group
            } else if fusibleReduction(step, interpreted: interpreted, float64: float64) != nil, step.inputs.count == 1 {
                let operand = step.inputs[0]
                guard case .buffer(let id) = operand.ref, writers[id].count == 1 else { continue }
                let producer = writers[id][0]
                let shape = steps[producer].layout.shape
                guard operand.layout.isContiguous, operand.layout.offset == 0,
                      absorbable(operand, into: [index], shape: shape, flat: true) != nil else { continue }
                var group = (members[producer] ?? [producer]).union([index])
                inlined.insert(producer)
                grow(&group, shape: shape)
                members[index] = group
            }
        }

        // An inlined producer's own launch goes only when every remaining launch that
        // computes one of its readers computes the producer too (otherwise that launch
        // reads the stored buffer). Start from all of them and put back the ones whose
        // readers are not covered; putting one back can uncover others, so repeat.
        var absorbed = inlined
        while true {
            var computing: [Int: [Set<Int>]] = [:]
            for (root, group) in members where !absorbed.contains(root) {
                for member in group { computing[member, default: []].append(group) }
            }
            let uncovered = absorbed.filter { producer in
                !readers[steps[producer].output].allSatisfy { reader in
                    guard let launches = computing[reader] else { return false }
                    return launches.allSatisfy { $0.contains(producer) }
                }
            }
            if uncovered.isEmpty { break }
            absorbed.subtract(uncovered)
        }

        var replaced: [Int: JitStep] = [:]
        var combines: [Int: JitStep] = [:]
        for (root, group) in members where !absorbed.contains(root) && group.count >= 2 {
            // A reduction whose input keeps its own launch reads the stored values: the same
            // values every other reader of them sees (a max's pullback compares them with the
            // max, so a recomputed exp or cos a rounding apart would lose the gradient).
            if fusibleReduction(steps[root], interpreted: interpreted, float64: float64) != nil, let input = steps[root].inputs[0].bufferID,
               !absorbed.contains(writers[input][0]) { continue }
            var fused = fusedStep(root: root, group: group, writers: writers, interpreted: interpreted, float64: float64, launched: { !absorbed.contains($0) })
            // A split reduction writes its partial results to a new buffer, and a reduce
            // step right after it combines them into the original output.
            if case .reduce(let op, let outer, let length, let inner)? = steps[root].primitive,
               case .fused(let kernel) = fused.kernel, let split = kernel.reduction, split.length != length {
                let parts = length / split.length
                let dtype = steps[root].dtype
                buffers.append(JitBuffer(count: outer * parts * inner, dtype: dtype, input: nil))
                let partials = buffers.count - 1
                combines[root] = JitStep(
                    kernel: .primitive(.reduce(op, outer: outer, length: parts, inner: inner)),
                    inputs: [JitOperand(ref: .buffer(partials), layout: Layout(contiguous: [outer, parts, inner]), dtype: dtype)],
                    output: fused.output, layout: fused.layout, dtype: dtype)
                fused.output = partials
                fused.layout = Layout(contiguous: [outer, parts * inner])
            }
            replaced[root] = fused
        }
        let before = steps.count
        var rebuilt: [JitStep] = []
        for (index, step) in steps.enumerated() where !absorbed.contains(index) {
            rebuilt.append(replaced[index] ?? step)
            if let combine = combines[index] { rebuilt.append(combine) }
        }
        steps = rebuilt
        return before - steps.count
    }

    /// Elementwise work cheap enough to recompute in several kernels (no transcendental
    /// functions, powers or square roots).
    private func isCheap(_ step: JitStep) -> Bool {
        switch step.primitive {
        case .unary(let op)?: return [.neg, .abs, .sign, .logicalNot].contains(op)
        case .binary(let op)?: return op != .pow
        case .select?, .cast?: return true
        default: return false
        }
    }

    /// The fused kernel of `group`; members that keep their own launch (`launched`) are
    /// loaded from their stored values rather than computed again.
    private func fusedStep(root: Int, group: Set<Int>, writers: [[Int]], interpreted: Bool, float64: Bool, launched: (Int) -> Bool) -> JitStep {
        let reduction = fusibleReduction(steps[root], interpreted: interpreted, float64: float64)
        let isReduction = reduction != nil
        let top = isReduction ? writers[steps[root].inputs[0].bufferID!][0] : root
        let shape = steps[top].layout.shape
        var nodes: [FusedKernel.Node] = []
        var types: [DType] = []
        var operands: [JitOperand] = []
        var loads: [JitOperand: Int] = [:]
        var computed: [Int: Int] = [:]

        func node(for operand: JitOperand) -> Int {
            if let id = operand.bufferID, let producer = writers[id].first, group.contains(producer), producer != root, !launched(producer) {
                return node(for: producer)
            }
            // An operand of a scalar chain computed in the group: read it broadcast.
            var operand = operand
            if operand.layout.shape != shape && operand.layout.count == 1 {
                operand.layout = Layout(shape: shape, strides: Array(repeating: 0, count: shape.count), offset: operand.layout.offset)
            }
            if let existing = loads[operand] { return existing }
            let slot = operands.count
            operands.append(operand)
            nodes.append(.load(slot))
            types.append(operand.dtype)
            loads[operand] = nodes.count - 1
            return nodes.count - 1
        }

        func node(for index: Int) -> Int {
            if let existing = computed[index] { return existing }
            let step = steps[index]
            let arguments = step.inputs.map { node(for: $0) }
            nodes.append(FusedKernel.Node(step.primitive!, arguments: arguments)!)
            types.append(step.dtype)
            computed[index] = nodes.count - 1
            return nodes.count - 1
        }

        _ = node(for: top)
        let kernel = FusedKernel(
            shape: shape, nodes: nodes, types: types, operands: operands.map(\.layout),
            operandTypes: operands.map(\.dtype), reduction: reduction)
        let step = steps[root]
        return JitStep(kernel: .fused(kernel), inputs: operands, output: step.output, layout: step.layout, dtype: step.dtype)
    }
}

extension Layout {
    /// Whether every index reads the one element at `offset` (a scalar broadcast: stride 0
    /// along every axis longer than 1).
    func readsOneElement(at offset: Int) -> Bool {
        self.offset == offset && zip(shape, strides).allSatisfy { $0.0 <= 1 || $0.1 == 0 }
    }
}
