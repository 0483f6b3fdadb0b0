import COpenCL

/// jit's fused kernels on OpenCL: the generated source is one program per kernel, built
/// through the program cache (so it is stored on disk per device like the hand-written
/// families), and launched with one work-item per output element, or a work-group per
/// output for long row reductions (`FusedKernel.rowGroups`).
extension OpenCLBackend {
    /// The compiled kernel, boxed for a program to keep (nil when building fails).
    func prepare(_ kernel: FusedKernel) -> AnyObject? {
        lock.withLock { try? PreparedKernel(generatedKernel(kernel, prepared: nil, in: &fusedKernels)) }
    }

    func prepare(_ kernel: HorizontalKernel) -> AnyObject? {
        lock.withLock { try? PreparedKernel(generatedKernel(kernel, prepared: nil, in: &horizontalKernels)) }
    }

    func prepare(_ kernel: RowKernel) -> AnyObject? {
        lock.withLock { try? PreparedKernel(generatedKernel(kernel, prepared: nil, in: &rowKernels)) }
    }

    /// A kernel looked up once for a program step.
    final class PreparedKernel {
        let kernel: Kernel
        init(_ kernel: Kernel) { self.kernel = kernel }
    }

    /// Launches `kernel` reading `inputs` (one view per operand; their layouts are baked
    /// into the source) into the contiguous `output`.
    func runFused(_ kernel: FusedKernel, prepared: AnyObject? = nil, inputs: [BufferView], output: BufferView, sides: [BufferView] = []) throws {
        precondition(kernel.storedNodes.count == sides.count, "runFused: one side output per stored node")
        try requireIndexable(inputs)
        try requireIndexable(CollectionOfOne(output))
        lock.lock()
        defer { lock.unlock() }
        let k = try generatedKernel(kernel, prepared: prepared, in: &fusedKernels)
        let count = kernel.outputCount
        guard count > 0 else { return }
        let args: [OpenCLArg] = try [.mem(mem(output))] + sides.map { .mem(try mem($0)) } + inputs.map { .mem(try mem($0)) }
            + (kernel.reduction == nil ? [.int(i32(count))] : [])
        if kernel.rowGroups {
            let size = FusedKernel.rowGroupSize
            guard k.maxWorkGroup >= size else { throw AdjointError.unsupported("fused row reduction on \(device): work-groups of \(size) items (the device allows \(k.maxWorkGroup))") }
            try launch(k, args: args, global: [count * size], local: [size])
        } else {
            try launch(k, args: args, global: [roundUp(count, k.local)], local: [k.local])
        }
    }

    /// The kernel of a generated program (lock held): the one a program step prepared, else
    /// found by what it computes, else built. Making the source, and the name hashed from
    /// it, costs more than a launch, so a replay never does.
    private func generatedKernel<Key: GeneratedKernel>(_ key: Key, prepared: AnyObject?, in cache: inout [Key: Kernel]) throws -> Kernel {
        if let prepared = prepared as? PreparedKernel { return prepared.kernel }
        if let known = cache[key] { return known }
        let name = key.name
        let made = try kernel(name, family: name, generated: key.openCLSource)
        cache[key] = made
        return made
    }

    /// A group kernel's arguments: each member's output, its stored values if any, then
    /// its operands (the order of `MemberKernels.memberParameters`).
    private func memberArguments(outputs: [BufferView], sides: [[BufferView]], inputs: [[BufferView]]) throws -> [OpenCLArg] {
        var args: [OpenCLArg] = []
        for (m, output) in outputs.enumerated() {
            args.append(.mem(try mem(output)))
            for side in sides[m] { args.append(.mem(try mem(side))) }
            for input in inputs[m] { args.append(.mem(try mem(input))) }
        }
        return args
    }

    /// Throws for a view a generated kernel cannot index with 32-bit ints.
    private func requireIndexable(_ views: some Sequence<BufferView>) throws {
        for view in views where view.layout.requiredElements >= Int(Int32.max) {
            throw AdjointError.unsupported("fused kernel on \(device): views of 2^31 elements or more")
        }
    }
}

extension OpenCLBackend: HorizontalFusingBackend {
    /// Launches the members of `kernel` as one kernel over their concatenated index spaces.
    func runHorizontal(_ kernel: HorizontalKernel, prepared: AnyObject? = nil, inputs: [[BufferView]], outputs: [BufferView], sides: [[BufferView]]) throws {
        let counts = kernel.members.map(\.outputCount)
        let total = counts.reduce(0, +)
        guard total < Int(Int32.max) else { throw AdjointError.unsupported("horizontal kernel on \(device): 2^31 elements or more") }
        try requireIndexable(inputs.joined())
        lock.lock()
        defer { lock.unlock() }
        let k = try generatedKernel(kernel, prepared: prepared, in: &horizontalKernels)
        guard total > 0 else { return }
        let args = try memberArguments(outputs: outputs, sides: sides, inputs: inputs) + counts.map { .int(i32($0)) }
        try launch(k, args: args, global: [roundUp(total, k.local)], local: [k.local])
    }

    /// Launches `kernel` with a work-item per row; member `m` reads `inputs[m]` and writes
    /// `outputs[m]` (and `sides[m]`, for a member that stores its values).
    func runRows(_ kernel: RowKernel, prepared: AnyObject? = nil, inputs: [[BufferView]], outputs: [BufferView], sides: [[BufferView]]) throws {
        try requireIndexable(inputs.joined())
        try requireIndexable(outputs)
        lock.lock()
        defer { lock.unlock() }
        let k = try generatedKernel(kernel, prepared: prepared, in: &rowKernels)
        let args = try memberArguments(outputs: outputs, sides: sides, inputs: inputs)
        try launch(k, args: args, global: [roundUp(kernel.rows, k.local)], local: [k.local])
    }
}

extension OpenCLBackend: RowFusingBackend {}
