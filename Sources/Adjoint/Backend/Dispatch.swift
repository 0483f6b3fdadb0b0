/// Runs primitives for the tensor layer: picks the backend, allocates the output,
/// falls back to the CPU (recorded in the ledger) for calls a device cannot run, and
/// turns environment errors into failed storage.
enum Dispatch {
    /// Runs `call` on `inputs` into fresh contiguous storage of `shape` and `dtype`.
    static func run(_ call: Primitive, _ inputs: [Tensor], shape: [Int], dtype: DType, device: Device) -> Storage {
        let count = shape.reduce(1, *)
        let storage = allocate(count: count, dtype: dtype, device: device)
        return run(call, inputs, into: storage, layout: Layout(contiguous: shape))
    }

    /// Runs `call` writing into `layout` of `storage` (used for fills and strided copies
    /// into freshly allocated storage). Returns the storage, failed if anything failed.
    @discardableResult
    static func run(_ call: Primitive, _ inputs: [Tensor], into storage: Storage, layout: Layout) -> Storage {
        if storage.failure != nil { return storage }
        if let batched = inputs.first(where: { $0.batch != nil }) {
            fatalError("Adjoint.vmap: primitive \(call) reached a batched tensor (per-example shape \(batched.shape)); an op is missing its batching rule")
        }
        if let failed = inputs.first(where: { $0.storage.failure != nil }) {
            return Storage(device: storage.device, dtype: storage.dtype, failure: failed.storage.failure!)
        }
        guard let outputBuffer = storage.buffer else { return storage }
        if let placeholder = outputBuffer as? TraceBuffer {
            guard let tracer = Tracer.current, tracer.owns(storage) else {
                fatalError("Adjoint.jit: \(call) writes a tensor traced inside jit outside its trace")
            }
            tracer.record(call, inputs, output: placeholder, layout: layout, dtype: storage.dtype)
            return storage
        }
        if let traced = inputs.first(where: \.isTraced) {
            guard let tracer = Tracer.current, tracer.owns(traced.storage) else {
                fatalError("Adjoint.jit: \(call) reached a tensor traced inside jit (shape \(traced.shape)) after its trace ended; a traced value escaped the function")
            }
            let error = tracer.problem("\(call) mixes a traced tensor with memory on \(storage.device); move tensors between devices outside the function")
            return Storage(device: storage.device, dtype: storage.dtype, failure: error)
        }
        do {
            let backend = try DeviceRegistry.shared.backend(for: storage.device)
            let views = inputs.map { BufferView(buffer: $0.storage.buffer!, layout: $0.layout, dtype: $0.dtype) }
            let output = BufferView(buffer: outputBuffer, layout: layout, dtype: storage.dtype)
            if backend.supports(call, inputs: inputs.map(\.dtype), output: storage.dtype) {
                try backend.execute(call, inputs: views, output: output)
            } else {
                try fallback(call, views, output: output, backend: backend)
            }
            return storage
        } catch let error as AdjointError {
            return Storage(device: storage.device, dtype: storage.dtype, failure: error)
        } catch {
            return Storage(device: storage.device, dtype: storage.dtype, failure: .unsupported("\(call): \(error)"))
        }
    }

    /// Fresh storage for `count` elements (uninitialized).
    static func allocate(count: Int, dtype: DType, device: Device) -> Storage {
        if let tracer = Tracer.current, tracer.graph.device == device {
            return tracer.allocate(count: count, dtype: dtype)
        }
        do {
            let backend = try DeviceRegistry.shared.backend(for: device)
            let buffer = try backend.allocate(byteCount: count * dtype.byteSize)
            return Storage(device: device, dtype: dtype, buffer: buffer)
        } catch let error as AdjointError {
            return Storage(device: device, dtype: dtype, failure: error)
        } catch {
            return Storage(device: device, dtype: dtype, failure: .unsupported("allocation: \(error)"))
        }
    }

    /// Copies host bytes into fresh storage on `device`.
    static func upload(_ bytes: UnsafeRawBufferPointer, dtype: DType, device: Device) -> Storage {
        // Real memory even inside a jit trace: uploaded values are the program's constants.
        let storage = Tracer.$current.withValue(nil) { allocate(count: bytes.count / dtype.byteSize, dtype: dtype, device: device) }
        guard let buffer = storage.buffer else { return storage }
        do {
            try DeviceRegistry.shared.backend(for: device).write(bytes, to: buffer)
            return storage
        } catch let error as AdjointError {
            return Storage(device: device, dtype: dtype, failure: error)
        } catch {
            return Storage(device: device, dtype: dtype, failure: .unsupported("upload: \(error)"))
        }
    }

    /// Runs a call the device cannot run on the CPU: inputs are read back, the CPU backend
    /// executes, and the result is written into the device's output buffer.
    static func fallback(_ call: Primitive, _ inputs: [BufferView], output: BufferView, backend: Backend) throws {
        backend.recordFallback(call)
        let cpu = DeviceRegistry.shared.cpu
        let hostInputs = try inputs.map { view -> BufferView in
            let hostBuffer = try cpu.allocate(byteCount: view.buffer.byteCount)
            try withHostBytes(hostBuffer, count: view.buffer.byteCount) { try backend.read(view.buffer, into: $0) }
            return BufferView(buffer: hostBuffer, layout: view.layout, dtype: view.dtype)
        }
        let hostOutput = try cpu.allocate(byteCount: output.buffer.byteCount)
        // A strided output only covers part of the buffer: start from the device's contents.
        if !output.layout.isContiguous || output.layout.count * output.dtype.byteSize < output.buffer.byteCount {
            try withHostBytes(hostOutput, count: output.buffer.byteCount) { try backend.read(output.buffer, into: $0) }
        }
        try cpu.execute(call, inputs: hostInputs, output: BufferView(buffer: hostOutput, layout: output.layout, dtype: output.dtype))
        try withHostBytes(hostOutput, count: output.buffer.byteCount) { try backend.write(UnsafeRawBufferPointer($0), to: output.buffer) }
    }

    private static func withHostBytes(_ buffer: DeviceBuffer, count: Int, _ body: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        guard let cpuBuffer = buffer as? CPUHostAccessible else {
            throw AdjointError.unsupported("CPU fallback needs host-accessible CPU buffers")
        }
        try body(UnsafeMutableRawBufferPointer(rebasing: cpuBuffer.hostBytes[0..<min(count, cpuBuffer.hostBytes.count)]))
    }
}

/// A buffer whose bytes the host can address directly (the CPU backend's buffers).
protocol CPUHostAccessible {
    /// The buffer's whole memory.
    var hostBytes: UnsafeMutableRawBufferPointer { get }
}
