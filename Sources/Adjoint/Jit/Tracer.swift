/// A placeholder for memory that exists only in a traced program.
final class TraceBuffer: DeviceBuffer, @unchecked Sendable {
    let id: Int
    let byteCount: Int
    let tracer: ObjectIdentifier

    init(id: Int, byteCount: Int, tracer: ObjectIdentifier) {
        self.id = id
        self.byteCount = byteCount
        self.tracer = tracer
    }
}

/// Records the primitives a function runs into a `JitGraph` instead of executing them.
///
/// Active for the task that runs `jit`'s trace (a task-local). While it is active,
/// `Dispatch` allocates placeholder storage on the traced device and records each call;
/// uploads stay real and become program constants, as do tensors captured from outside.
final class Tracer: @unchecked Sendable {
    /// The trace of the running task, if any.
    @TaskLocal static var current: Tracer?

    let name: String
    private(set) var graph: JitGraph
    /// Host reads and other untraceable uses, in order.
    private(set) var problems: [String] = []
    private var constantIndex: [ObjectIdentifier: Int] = [:]
    private var streamDraws: Set<UInt64> = []
    /// Seeds handed out by seed streams during the trace, to their draw index.
    private var seedDraws: [UInt64: Int] = [:]

    init(name: String, device: Device) {
        self.name = name
        graph = JitGraph(device: device)
    }

    /// A placeholder tensor for input `index`.
    func input(_ index: Int, shape: [Int], dtype: DType) -> Tensor {
        let storage = allocate(count: shape.reduce(1, *), dtype: dtype, input: index)
        graph.inputs.append((storage.buffer as! TraceBuffer).id)
        return Tensor(storage: storage, layout: Layout(contiguous: shape))
    }

    /// Placeholder storage for `count` elements.
    func allocate(count: Int, dtype: DType, input: Int? = nil) -> Storage {
        let id = graph.buffers.count
        graph.buffers.append(JitBuffer(count: count, dtype: dtype, input: input))
        let buffer = TraceBuffer(id: id, byteCount: count * dtype.byteSize, tracer: ObjectIdentifier(self))
        return Storage(device: graph.device, dtype: dtype, buffer: buffer)
    }

    /// Whether `storage` is a placeholder of this trace.
    func owns(_ storage: Storage) -> Bool {
        (storage.buffer as? TraceBuffer)?.tracer == ObjectIdentifier(self)
    }

    /// The operand that reads `tensor`: a placeholder buffer or a captured constant.
    func operand(_ tensor: Tensor) -> JitOperand {
        if let buffer = tensor.storage.buffer as? TraceBuffer {
            return JitOperand(ref: .buffer(buffer.id), layout: tensor.layout, dtype: tensor.dtype)
        }
        let key = ObjectIdentifier(tensor.storage)
        let index = constantIndex[key] ?? {
            graph.constants.append(tensor.storage)
            constantIndex[key] = graph.constants.count - 1
            return graph.constants.count - 1
        }()
        return JitOperand(ref: .constant(index), layout: tensor.layout, dtype: tensor.dtype)
    }

    /// Notes that the process random stream handed out `offset` for a draw in this trace.
    func noteStreamDraw(offset: UInt64) { streamDraws.insert(offset) }

    /// Notes that `stream` handed out `seed` in this trace (in order): draws seeded with
    /// it ask the stream again at every replay.
    func noteSeed(_ seed: UInt64, from stream: SeedStream) {
        seedDraws[seed] = graph.seedStreams.count
        graph.seedStreams.append(stream)
    }

    /// Records `call` writing `layout` of the placeholder `output`.
    func record(_ call: Primitive, _ inputs: [Tensor], output: TraceBuffer, layout: Layout, dtype: DType) {
        var step = JitStep(kernel: .primitive(call), inputs: inputs.map(operand), output: output.id, layout: layout, dtype: dtype)
        if case .random(_, let seed, let offset) = call {
            if offset != 0, streamDraws.contains(offset) { step.redraw = .processStream }
            if offset == 0, let draw = seedDraws[seed] { step.redraw = .seedStream(draw) }
        }
        graph.steps.append(step)
    }

    /// Records a use that cannot be traced and returns the error describing it.
    func problem(_ what: String) -> AdjointError {
        problems.append(what)
        return Tracer.error(name, what)
    }

    /// Sets the outputs.
    func finish(outputs: [Tensor]) {
        graph.outputs = outputs.map(operand)
    }

    static func error(_ name: String, _ what: String) -> AdjointError {
        .tracing(function: name, reason: what)
    }
}

extension Tensor {
    /// Whether this tensor is a placeholder of a running (or finished) jit trace.
    var isTraced: Bool { storage.buffer is TraceBuffer }
}

extension Tensor {
    /// The error for reading a traced tensor on the host (recorded by the running trace).
    static func hostReadWhileTracing(_ what: String, shape: [Int]) -> AdjointError {
        let reason = "\(what) reads the values of a traced tensor of shape \(shape) on the host; "
            + "a compiled program cannot depend on them (pass the value as a static argument, or read it outside the function)"
        guard let tracer = Tracer.current else { return .tracing(function: "?", reason: reason + " (the tensor escaped its trace)") }
        return tracer.problem(reason)
    }
}
