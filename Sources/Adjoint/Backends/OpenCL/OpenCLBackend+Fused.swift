import COpenCL

/// jit's fused kernels on OpenCL: the generated source is one program per kernel, built
/// through the program cache (so it is stored on disk per device like the hand-written
/// families), and launched with one work-item per output element, or a work-group per
/// output for long row reductions (`FusedKernel.rowGroups`).
extension OpenCLBackend {
    /// Launches `kernel` reading `inputs` (one view per operand; their layouts are baked
    /// into the source) into the contiguous `output`.
    func runFused(_ kernel: FusedKernel, inputs: [BufferView], output: BufferView, side: BufferView? = nil) throws {
        precondition(kernel.storesValues == (side != nil), "runFused: a kernel that stores its values needs a side output, and only it")
        for view in inputs + [output] where view.layout.requiredElements >= Int(Int32.max) {
            throw AdjointError.unsupported("fused kernel on \(device): views of 2^31 elements or more")
        }
        lock.lock()
        defer { lock.unlock() }
        let k: Kernel
        if let known = fusedKernels[kernel] {
            k = known
        } else {
            // Generating the source (and the name hashed from it) costs more than a launch.
            let name = kernel.name
            k = try self.kernel(name, family: name, generated: kernel.openCLSource)
            fusedKernels[kernel] = k
        }
        let count = kernel.outputCount
        guard count > 0 else { return }
        let args: [OpenCLArg] = try [.mem(mem(output))] + (side.map { [.mem(try mem($0))] } ?? []) + inputs.map { .mem(try mem($0)) }
            + (kernel.reduction == nil ? [.int(i32(count))] : [])
        if kernel.rowGroups {
            let size = FusedKernel.rowGroupSize
            guard k.maxWorkGroup >= size else { throw AdjointError.unsupported("fused row reduction on \(device): work-groups of \(size) items (the device allows \(k.maxWorkGroup))") }
            try launch(k, args: args, global: [count * size], local: [size])
        } else {
            try launch(k, args: args, global: [roundUp(count, k.local)], local: [k.local])
        }
    }
}

extension OpenCLBackend: HorizontalFusingBackend {
    /// Launches the members of `kernel` as one kernel over their concatenated index spaces.
    func runHorizontal(_ kernel: HorizontalKernel, inputs: [[BufferView]], outputs: [BufferView]) throws {
        let counts = kernel.members.map(\.outputCount)
        let total = counts.reduce(0, +)
        guard total < Int(Int32.max) else { throw AdjointError.unsupported("horizontal kernel on \(device): 2^31 elements or more") }
        for view in inputs.joined() where view.layout.requiredElements >= Int(Int32.max) {
            throw AdjointError.unsupported("fused kernel on \(device): views of 2^31 elements or more")
        }
        lock.lock()
        defer { lock.unlock() }
        let k: Kernel
        if let known = horizontalKernels[kernel] {
            k = known
        } else {
            let name = kernel.name
            k = try self.kernel(name, family: name, generated: kernel.openCLSource)
            horizontalKernels[kernel] = k
        }
        guard total > 0 else { return }
        var args: [OpenCLArg] = []
        for (m, output) in outputs.enumerated() {
            args.append(.mem(try mem(output)))
            for input in inputs[m] { args.append(.mem(try mem(input))) }
        }
        args += counts.map { .int(i32($0)) }
        try launch(k, args: args, global: [roundUp(total, k.local)], local: [k.local])
    }
}
