import Foundation

/// The native CPU backend: every primitive as a Swift loop over raw memory (split across
/// cores for large tensors), matrix products through OpenBLAS.
///
/// All work runs synchronously inside `execute`, so `synchronize()` has nothing to wait
/// for and `read`/`write` are plain copies. The only mutable state, the buffer pool and
/// the ledger, sits behind the pool's lock; `execute` may be called from many threads.
public final class CPUBackend: Backend, @unchecked Sendable {
    /// The processor's marketing name from `/proc/cpuinfo`, or "CPU" where it is unknown.
    static var processorName: String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "CPU" }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                let name = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                if !name.isEmpty { return name }
            }
        }
        return "CPU"
    }

    let pool: CPUBufferPool
    /// Whether launches are timed into `kernelProfile` (`ADJOINT_PROFILE=1`; tests set it).
    let profiling: Bool

    init(profiling: Bool = OpenCLBackend.profilingRequested) {
        pool = CPUBufferPool()
        self.profiling = profiling
        CPUBackend.configureBLASThreads()
    }

    /// The CPU.
    public var device: Device { .cpu }

    /// Always true: float64 runs natively.
    public var supportsFloat64: Bool { true }

    /// Returns 64-byte aligned memory of at least `byteCount` bytes, from the pool when
    /// a buffer of the same bucket is parked there.
    public func allocate(byteCount: Int) throws -> DeviceBuffer {
        guard let buffer = pool.makeBuffer(byteCount: byteCount) else {
            throw AdjointError.outOfMemory(device: device.description, bytes: byteCount)
        }
        return buffer
    }

    /// Copies `bytes` into the start of `buffer`.
    public func write(_ bytes: UnsafeRawBufferPointer, to buffer: DeviceBuffer) throws {
        let target = CPUBackend.cpuBuffer(buffer)
        precondition(bytes.count <= target.byteCount, "CPU write: \(bytes.count) bytes into a buffer of \(target.byteCount)")
        if let source = bytes.baseAddress, bytes.count > 0 {
            target.pointer.copyMemory(from: source, byteCount: bytes.count)
        }
        pool.record { $0.bytesToDevice += bytes.count }
    }

    /// Copies the first `bytes.count` bytes of `buffer` out.
    public func read(_ buffer: DeviceBuffer, into bytes: UnsafeMutableRawBufferPointer) throws {
        let source = CPUBackend.cpuBuffer(buffer)
        precondition(bytes.count <= source.byteCount, "CPU read: \(bytes.count) bytes from a buffer of \(source.byteCount)")
        if let target = bytes.baseAddress, bytes.count > 0 {
            target.copyMemory(from: source.pointer, byteCount: bytes.count)
        }
        pool.record { $0.bytesFromDevice += bytes.count }
    }

    /// Whether `call` is defined for these dtypes (see `Primitive` for the table).
    public func supports(_ call: Primitive, inputs: [DType], output: DType) -> Bool {
        let first = inputs.first ?? output
        switch call {
        case .unary(let op):
            switch op {
            case .logicalNot: return first == .bool
            case .neg, .abs, .sign: return first != .bool
            default: return first.isFloatingPoint
            }
        case .binary(let op):
            if op.isComparison { return true }
            switch op {
            case .logicalAnd, .logicalOr: return first == .bool
            case .pow: return first.isFloatingPoint
            default: return first != .bool
            }
        case .select, .cast, .copy, .fill, .gather:
            return true
        case .reduce, .scatterAdd:
            return first != .bool
        case .matmul:
            return first.isFloatingPoint
        case .random(let distribution, _, _):
            return distribution == .bits ? output == .int32 : output.isFloatingPoint
        }
    }

    /// Counts a launch in the device's ledger and for the running task.
    func countLaunch() {
        pool.record { $0.launches += 1 }
        LaunchCount.record()
    }

    /// Runs `call` to completion on the calling thread (and the cores it fans out to).
    public func execute(_ call: Primitive, inputs: [BufferView], output: BufferView) throws {
        countLaunch()
        try timed("\(call) \(output.layout.shape)") { try run(call, inputs: inputs, output: output) }
    }

    private func run(_ call: Primitive, inputs: [BufferView], output: BufferView) throws {
        switch call {
        case .unary(let op):
            try runUnary(op, input: CPUBackend.argument(inputs, 0, of: call), output: output)
        case .binary(let op):
            try runBinary(op, left: CPUBackend.argument(inputs, 0, of: call), right: CPUBackend.argument(inputs, 1, of: call), output: output)
        case .select:
            runSelect(
                condition: CPUBackend.argument(inputs, 0, of: call), whenTrue: CPUBackend.argument(inputs, 1, of: call),
                whenFalse: CPUBackend.argument(inputs, 2, of: call), output: output)
        case .cast:
            runCast(input: CPUBackend.argument(inputs, 0, of: call), output: output)
        case .copy:
            runCopy(input: CPUBackend.argument(inputs, 0, of: call), output: output)
        case .fill(let value):
            runFill(value, output: output)
        case .reduce(let op, let outer, let length, let inner):
            try runReduce(op, shape: ReduceShape(outer: outer, length: length, inner: inner), input: CPUBackend.argument(inputs, 0, of: call), output: output)
        case .matmul:
            try runMatmul(left: CPUBackend.argument(inputs, 0, of: call), right: CPUBackend.argument(inputs, 1, of: call), output: output)
        case .gather(let outer, let length, let count, let inner):
            runGather(
                shape: IndexShape(outer: outer, length: length, count: count, inner: inner),
                input: CPUBackend.argument(inputs, 0, of: call), indices: CPUBackend.argument(inputs, 1, of: call), output: output)
        case .scatterAdd(let outer, let length, let count, let inner):
            try runScatterAdd(
                shape: IndexShape(outer: outer, length: length, count: count, inner: inner),
                updates: CPUBackend.argument(inputs, 0, of: call), indices: CPUBackend.argument(inputs, 1, of: call), output: output)
        case .random(let distribution, let seed, let offset):
            try runRandom(distribution, seed: seed, offset: offset, output: output)
        }
    }

    /// Nothing to wait for: `execute` is synchronous.
    public func synchronize() throws {}

    /// A snapshot of this backend's counters.
    public var ledger: Ledger { pool.ledger }

    /// Counts a call another backend handed to the CPU.
    public func recordFallback(_ call: Primitive) {
        pool.record { $0.cpuFallbacks += 1 }
    }

    /// Frees every parked buffer.
    public func emptyPool() {
        pool.empty()
    }

    // MARK: - Helpers shared by the primitive families

    static func cpuBuffer(_ buffer: DeviceBuffer) -> CPUBuffer {
        guard let buffer = buffer as? CPUBuffer else {
            preconditionFailure("CPU backend: a buffer of another device (\(type(of: buffer))) was passed in")
        }
        return buffer
    }

    private static func argument(_ inputs: [BufferView], _ index: Int, of call: Primitive) -> BufferView {
        precondition(index < inputs.count, "CPU \(call): expected at least \(index + 1) inputs, got \(inputs.count)")
        return inputs[index]
    }

    static func unsupported(_ call: Primitive, _ dtypes: DType...) -> AdjointError {
        .unsupported("CPU \(call) on \(dtypes.map(\.rawValue).joined(separator: ", "))")
    }
}

extension BufferView {
    /// Typed pointer to element `[0, 0, ...]` of the view (the layout's offset applied).
    @inline(__always)
    func base<Element>(_ type: Element.Type) -> UnsafeMutablePointer<Element> {
        CPUBackend.cpuBuffer(buffer).elements(type) + layout.offset
    }
}
