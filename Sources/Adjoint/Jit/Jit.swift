import Foundation

/// Which optimization passes `jit` runs (all by default; tests switch them off one by one).
public struct JitOptions: Sendable, Hashable {
    /// Evaluate steps whose inputs are all constants once, at compile time.
    public var foldConstants: Bool
    /// Merge steps that run the same primitive on the same operands.
    public var mergeCommonSubexpressions: Bool
    /// Drop steps no output depends on.
    public var eliminateDeadCode: Bool
    /// Fuse elementwise chains (and a following reduction) into generated kernels.
    public var fuseElementwise: Bool
    /// Let buffers whose values are dead hold later results.
    public var reuseBuffers: Bool
    /// Launch adjacent independent fused kernels (an optimizer's per-variable updates) as
    /// one, on backends where that pays (OpenCL GPUs; `HorizontalFusingBackend`).
    public var launchTogether: Bool
    /// Whether a call replays the program as commands recorded once and submitted with one
    /// enqueue (OpenCL's `cl_khr_command_buffer`), instead of launching each kernel: nil
    /// (the default) where launches are what costs (OpenCL GPUs, as `launchTogether`),
    /// true wherever the device records, false never. See docs/JIT.md, "Recorded replays".
    public var recordReplays: Bool?

    /// Chooses the passes.
    public init(foldConstants: Bool = true, mergeCommonSubexpressions: Bool = true, eliminateDeadCode: Bool = true, fuseElementwise: Bool = true, reuseBuffers: Bool = true, launchTogether: Bool = true,
                recordReplays: Bool? = nil) {
        self.recordReplays = recordReplays
        self.foldConstants = foldConstants
        self.mergeCommonSubexpressions = mergeCommonSubexpressions
        self.eliminateDeadCode = eliminateDeadCode
        self.fuseElementwise = fuseElementwise
        self.reuseBuffers = reuseBuffers
        self.launchTogether = launchTogether
    }

    /// Every pass off: the program replays exactly what was traced.
    public static let none = JitOptions(foldConstants: false, mergeCommonSubexpressions: false, eliminateDeadCode: false, fuseElementwise: false, reuseBuffers: false, launchTogether: false, recordReplays: false)
}

/// The static argument of a jitted function that has none.
public struct NoStaticArgument: Hashable, Sendable {
    /// The only value.
    public init() {}
}

/// A tensor whose values are a compile-time constant of a jitted function: pass it as
/// (part of) the static argument. Programs are cached by its values, so a different
/// tensor with equal values reuses the program and different values retrace.
public struct JitConstant: Hashable, @unchecked Sendable {
    /// The tensor (read by the function like any captured tensor).
    public let tensor: Tensor
    private let key: [Double]
    private let shape: [Int]
    private let dtype: DType

    /// Marks `tensor` as constant (reads its values once, here).
    public init(_ tensor: Tensor) {
        self.tensor = tensor
        key = (try? tensor.doubles()) ?? []
        shape = tensor.shape
        dtype = tensor.dtype
    }

    public static func == (lhs: JitConstant, rhs: JitConstant) -> Bool {
        lhs.shape == rhs.shape && lhs.dtype == rhs.dtype && lhs.key.map(\.bitPattern) == rhs.key.map(\.bitPattern)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(shape)
        hasher.combine(dtype)
        for value in key { hasher.combine(value.bitPattern) }
    }
}

/// A function compiled by `jit`: call it like the function. The first call with a new
/// signature (input shapes, dtypes and device, and the static argument) traces the
/// function and compiles a program; later calls with that signature replay it.
public final class JitFunction<Input: TensorTree, Static: Hashable, Output: TensorTree>: @unchecked Sendable {
    private struct Signature: Hashable {
        var shapes: [[Int]]
        var dtypes: [DType]
        /// Per input, the axes it is broadcast along (see `broadcastAxes`).
        var broadcast: [[Int]]
        var device: Device
        var staticValue: Static
    }

    private enum Compiled {
        case program(JitProgram, template: Output)
        case failed(AdjointError, template: Output)
    }

    /// The name used in error messages.
    public let name: String
    /// The passes programs are compiled with.
    public let options: JitOptions
    private let function: (Input, Static) -> Output
    private let lock = NSLock()
    private var cache: [Signature: Compiled] = [:]
    private var traces = 0
    private var hits = 0
    private var last: JitProgramSummary?

    /// The most programs kept; past it the cache starts over (library-internal functions
    /// compiled for whatever shapes user code brings set one, so they cannot grow forever).
    private let capacity: Int

    init(name: String, options: JitOptions, capacity: Int = .max, function: @escaping (Input, Static) -> Output) {
        precondition(capacity >= 1, "Adjoint.jit(\(name)): capacity \(capacity) keeps no program")
        self.name = name
        self.options = options
        self.capacity = capacity
        self.function = function
    }

    /// How many times the function has been traced (once per new signature).
    public var traceCount: Int { lock.withLock { traces } }
    /// Calls served by an already compiled program.
    public var cacheHits: Int { lock.withLock { hits } }
    /// Programs compiled so far.
    public var cachedPrograms: Int { lock.withLock { cache.count } }
    /// Calls that ran as one recorded submission (`JitOptions.recordReplays`), and the
    /// recordings made for them, over every compiled program.
    public var recordedReplays: (replays: Int, recordings: Int) {
        lock.withLock {
            cache.values.reduce((0, 0)) { total, compiled in
                guard case .program(let program, _) = compiled else { return total }
                let counts = program.recordedReplays
                return (total.0 + counts.replays, total.1 + counts.recordings)
            }
        }
    }
    /// The summary of the program the last call ran (nil before the first call, or when
    /// that call ran the function directly).
    public var lastProgram: JitProgramSummary? { lock.withLock { last } }

    /// Runs the compiled program for `input` and `staticValue`, tracing first when this
    /// signature is new.
    ///
    /// Inside an enclosing trace, or when an input carries gradient history or a vmap
    /// batch (jit inside `grad` or `vmap`), the function runs directly, so every
    /// composition order gives the same values.
    public func callAsFunction(_ input: Input, static staticValue: Static, file: StaticString = #fileID, line: UInt = #line) -> Output {
        let tensors = input.tensors
        if Tracer.current != nil || tensors.contains(where: { $0.node != nil || $0.batch != nil }) {
            return function(input, staticValue)
        }
        let device = tensors.first?.device ?? Device.default
        if let other = tensors.first(where: { $0.device != device }) {
            fatalError("Adjoint.jit(\(name)): inputs on \(device) and \(other.device) (at \(file):\(line)); a program runs on one device")
        }
        let broadcast = tensors.map(JitFunction.broadcastAxes)
        let signature = Signature(shapes: tensors.map(\.shape), dtypes: tensors.map(\.dtype), broadcast: broadcast, device: device, staticValue: staticValue)
        let compiled: Compiled
        var freshDraws = true
        if let cached = lock.withLock({ cache[signature] }) {
            lock.withLock { hits += 1 }
            compiled = cached
        } else {
            freshDraws = false
            compiled = trace(input, tensors, broadcast, staticValue, device: device)
            lock.withLock {
                if cache.count >= capacity { cache.removeAll() }
                cache[signature] = compiled
                traces += 1
            }
        }
        switch compiled {
        case .program(let program, let template):
            lock.withLock { last = program.summary }
            let bound = zip(tensors, broadcast).map { JitFunction.compact($0.value, along: $1) }
            return template.replacingTensors(program.run(bound, freshDraws: freshDraws))
        case .failed(let error, let template):
            return template.mapTensors { Tensor(storage: Storage(device: device, dtype: $0.dtype, failure: error), layout: Layout(contiguous: $0.shape)) }
        }
    }

    /// The axes `tensor` is broadcast along (extent over 1, stride 0: an `expanded` view,
    /// a scalar cotangent spread over a batch). The program binds the tensor's one row
    /// along them and reads it broadcast, where a dense input would be a copy first.
    private static func broadcastAxes(_ tensor: Tensor) -> [Int] {
        tensor.layout.shape.indices.filter { tensor.layout.shape[$0] > 1 && tensor.layout.strides[$0] == 0 }
    }

    /// `tensor` with extent 1 along `axes` (the values a broadcast input binds).
    private static func compact(_ tensor: Tensor, along axes: [Int]) -> Tensor {
        guard !axes.isEmpty else { return tensor }
        var layout = tensor.layout
        for axis in axes { layout.shape[axis] = 1 }
        return Tensor(storage: tensor.storage, layout: layout)
    }

    private func trace(_ input: Input, _ tensors: [Tensor], _ broadcast: [[Int]], _ staticValue: Static, device: Device) -> Compiled {
        let start = DispatchTime.now().uptimeNanoseconds
        let tracer = Tracer(name: name, device: device)
        let placeholders = tensors.enumerated().map { index, tensor in
            var shape = tensor.shape
            for axis in broadcast[index] { shape[axis] = 1 }
            return tracer.input(index, shape: shape, dtype: tensor.dtype).expanded(to: tensor.shape)
        }
        let output = Tracer.$current.withValue(tracer) { function(input.replacingTensors(placeholders), staticValue) }
        let results = output.tensors
        if let batched = results.first(where: { $0.batch != nil }) {
            fatalError("Adjoint.jit(\(name)): the function returned a tensor batched by an enclosing vmap (shape \(batched.shape))")
        }
        let template = output.mapTensors { $0.value }
        if let problem = tracer.problems.first {
            return .failed(Tracer.error(name, problem), template: template)
        }
        tracer.finish(outputs: results)
        let traced = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return .program(JitProgram(graph: tracer.graph, options: options, traceSeconds: traced), template: template)
    }
}

extension JitFunction where Static == NoStaticArgument {
    /// Runs the compiled program for `input` (tracing first when its signature is new).
    public func callAsFunction(_ input: Input) -> Output {
        self(input, static: NoStaticArgument())
    }
}

/// Compiles `function`: the first call traces it on symbolic tensors, recording every
/// primitive it runs (forward and backward alike: `grad`, `vjp`, `jvp` and `vmap` inside
/// it are traced too), optimizes the graph (constant folding, common subexpressions, dead
/// code, elementwise fusion into generated kernels, buffer reuse) and replays the program
/// on later calls with the same input shapes, dtypes and device. See docs/JIT.md.
///
/// ```swift
/// let step = jit { (x: Tensor) in (x.exp() * 2 + 1).sum() }
/// let y = step(Tensor([1, 2, 3] as [Float]))   // traces and compiles
/// let z = step(Tensor([4, 5, 6] as [Float]))   // replays
/// ```
///
/// The function must not read tensor values on the host (`scalars`, `item`): those throw
/// `AdjointError.tracing` while tracing, and the outputs of that call carry the error.
/// Swift values and tensors captured from outside are constants of the program.
/// `capacity` bounds the programs kept (one per signature); past it the cache starts
/// over, for functions called with shapes that keep changing.
public func jit<Input: TensorTree, Output: TensorTree>(
    name: String = "function", options: JitOptions = JitOptions(), capacity: Int = .max, _ function: @escaping (Input) -> Output
) -> JitFunction<Input, NoStaticArgument, Output> {
    JitFunction(name: name, options: options, capacity: capacity) { input, _ in function(input) }
}

/// Compiles `function` with a static argument: a Swift value (or `JitConstant` tensors)
/// folded into the program as a constant. Calls with a new static value retrace.
///
/// ```swift
/// let scaled = jit { (x: Tensor, power: Int) in x.pow(Double(power)).sum() }
/// scaled(x, static: 3)
/// ```
public func jit<Input: TensorTree, Static: Hashable, Output: TensorTree>(
    name: String = "function", options: JitOptions = JitOptions(), capacity: Int = .max, _ function: @escaping (Input, Static) -> Output
) -> JitFunction<Input, Static, Output> {
    JitFunction(name: name, options: options, capacity: capacity, function: function)
}

extension Device {
    /// Whether jit runs its launch-saving passes for this device (row kernels, kernels
    /// launched together, fusion around reductions, split products summed by readers):
    /// OpenCL GPUs, or any OpenCL device with `ADJOINT_JIT_TOGETHER=1`. Programs compiled
    /// for it have fewer launches and a different kernel list than on the CPU.
    public var jitSavesLaunches: Bool {
        ((try? DeviceRegistry.shared.backend(for: self)) as? FusingBackend)?.launchBound ?? false
    }
}
