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
