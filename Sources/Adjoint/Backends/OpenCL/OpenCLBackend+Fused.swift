import COpenCL

/// jit's fused kernels on OpenCL: the generated source is one program per kernel, built
/// through the program cache (so it is stored on disk per device like the hand-written
/// families), and launched with one work-item per output element.
extension OpenCLBackend {
    /// Launches `kernel` reading `inputs` (one view per operand; their layouts are baked
    /// into the source) into the contiguous `output`.
    func runFused(_ kernel: FusedKernel, inputs: [BufferView], output: BufferView) throws {
        for view in inputs + [output] where view.layout.requiredElements >= Int(Int32.max) {
            throw AdjointError.unsupported("fused kernel on \(device): views of 2^31 elements or more")
        }
        lock.lock()
        defer { lock.unlock() }
        let name = kernel.name
        let k = try self.kernel(name, family: name, generated: kernel.openCLSource)
        let count = kernel.outputCount
        guard count > 0 else { return }
        let args: [OpenCLArg] = try [.mem(mem(output))] + inputs.map { .mem(try mem($0)) } + (kernel.reduction == nil ? [.int(i32(count))] : [])
        try launch(k, args: args, global: [roundUp(count, k.local)], local: [k.local])
    }
}
