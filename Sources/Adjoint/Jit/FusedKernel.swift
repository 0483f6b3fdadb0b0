import AdjointKernels

/// A chain of elementwise primitives (float32 and bool; float64 too where kernels are
/// generated for a device with doubles) evaluated per element in one launch, optionally
/// followed by a reduction over `[outer, length, inner]`.
///
/// Operand `k` is read through `operands[k]` (a layout of `shape`, baked into the
/// generated code); node values live in registers and never touch memory.
/// A kernel jit generates: compiled from its source once per device and cached by value.
protocol GeneratedKernel: Hashable {
    /// The kernel function's name (stable across processes, so the program cache finds it).
    var name: String { get }
    /// The whole OpenCL program.
    var openCLSource: String { get }
}

struct FusedKernel: GeneratedKernel {
    enum Node: Hashable {
        case load(Int)
        /// The sum of `slices` values of an operand `stride` elements apart (a split
        /// product's partial products, summed where they are read; OpenCL only).
        case loadSum(Int, slices: Int, stride: Int)
        case unary(UnaryOp, Int)
        case binary(BinaryOp, Int, Int)
        case select(Int, Int, Int)
        case cast(Int)
    }

    struct Reduction: Hashable {
        var op: ReduceOp
        var outer: Int
        var length: Int
        var inner: Int
    }

    /// Shape of the elementwise part (the reduction's input shape).
    var shape: [Int]
    var nodes: [Node]
    var types: [DType]
    var operands: [Layout]
    var operandTypes: [DType]
    var reduction: Reduction?
    /// Nodes whose value per element the kernel also stores, each to a contiguous output
    /// of its own, instead of a launch of their own: for a reduction, the reduced chain
    /// itself (read by later steps too) or a sibling chain over the same elements (W1's
    /// gradient beside its sum), one node; for an elementwise kernel, producers merged
    /// into it whose values later steps or the caller read (Adam's moments beside the
    /// weights they update).
    var storedNodes: [Int] = []
    /// Whether the kernel stores node values (see `storedNodes`).
    var storesValues: Bool { !storedNodes.isEmpty }
    /// Elementwise work on each reduced value before it is stored (a mean's division, a
    /// log-sum-exp's log and shift): nodes over the output's shape, where `.load(-1)` is
    /// the reduced value and `.load(k)` reads operand `k` at the output's index.
    var epilogue: [Node] = []
    /// The type of each epilogue node.
    var epilogueTypes: [DType] = []
    /// The output shape the epilogue's operand layouts describe.
    var epilogueShape: [Int] = []

    /// What the kernel computes, e.g. `fused(3 ops + reduce.sum + 1 after, values kept)`
    /// (program summaries, CPU profiles).
    var summary: String {
        "fused(\(nodes.filter { !$0.isLoad }.count) ops" + (reduction.map { " + reduce.\($0.op.rawValue)" } ?? "")
            + (epilogue.isEmpty ? "" : " + \(epilogue.filter { !$0.isLoad }.count) after")
            + (!storesValues ? "" : reduction != nil ? ", values kept" : ", \(storedNodes.count + 1) outputs") + ")"
    }

    /// Elements the elementwise part evaluates.
    var count: Int { shape.reduce(1, *) }
    /// Elements written.
    var outputCount: Int { reduction.map { $0.outer * $0.inner } ?? count }
    /// Whether a work-group of `rowGroupSize` items folds each output (reductions of
    /// contiguous rows long enough to share), rather than one work-item per output.
    var rowGroups: Bool { reduction.map { $0.inner == 1 && $0.length >= 128 } ?? false }
    /// Work-items per row in the `rowGroups` form.
    static let rowGroupSize = 64
    /// Primitive launches this kernel replaces.
    var fusedLaunches: Int { nodes.filter { !$0.isLoad }.count + (reduction == nil ? 0 : 1) }

    /// A stable name derived from the generated source, led by what the kernel does
    /// (`jit_e3_<hash>`: 3 elementwise steps; `jit_e1_sum128x10x1_<hash>`: then a sum
    /// over [outer, length, inner]) so that profiles and dumps read at a glance.
    var name: String {
        let hash = OpenCLProgramCache.fnv1a(Array(openCLBody.utf8))
        let steps = "e\(fusedLaunches - (reduction == nil ? 0 : 1))"
        let reduced = reduction.map { "_\($0.op.rawValue)\($0.outer)x\($0.length)x\($0.inner)" } ?? ""
        return "jit_\(steps)\(reduced)_" + String(hash, radix: 16)
    }

    /// The complete OpenCL program: the elementwise functor macros, then the kernel.
    var openCLSource: String {
        FusedKernel.header(float64: usesFloat64) + "\n" + kernelSource
    }

    /// Whether any value the kernel reads, computes or writes is a double.
    var usesFloat64: Bool { (types + operandTypes + epilogueTypes).contains(.float64) }

    /// The C type of the accumulator: the reduced node's.
    var accumulatorType: String { FusedKernel.cType(types[nodes.count - 1]) }

    /// The functor macros, after the switch that enables doubles where a kernel uses them
    /// (`-DADJOINT_FP64` is among the build options of devices that have them).
    static func header(float64: Bool) -> String {
        float64 ? "#ifdef ADJOINT_FP64\n#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n#endif\n" + functors : functors
    }

    /// The kernel alone (what `ADJOINT_DUMP_KERNELS=1` prints; the functors come first).
    var kernelSource: String { "__kernel void \(name)" + openCLBody }

    static let functors: String = {
        KernelSources.elementwise.split(separator: "\n", omittingEmptySubsequences: false)
            .filter { $0.hasPrefix("#define UN_") || $0.hasPrefix("#define BI_") || $0.hasPrefix("#define CV_") }
            .joined(separator: "\n")
    }()

    static func cType(_ dtype: DType) -> String {
        switch dtype {
        case .bool: "uchar"
        case .int32: "int"
        case .float64: "double"
        default: "float"
        }
    }

    /// Index arithmetic for element `e` of `shape` read through `layout`.
    static func indexExpression(_ layout: Layout, shape: [Int], element: String) -> String {
        if layout.isContiguous && layout.shape == shape { return layout.offset == 0 ? element : "(\(layout.offset) + \(element))" }
        var terms: [String] = layout.offset == 0 ? [] : ["\(layout.offset)"]
        var inner = 1
        for axis in shape.indices.reversed() {
            let stride = layout.strides[axis]
            if shape[axis] != 1 && stride != 0 {
                let coordinate = axis == 0 ? "(\(element) / \(inner))" : "((\(element) / \(inner)) % \(shape[axis]))"
                terms.append(stride == 1 ? coordinate : "\(coordinate) * \(stride)")
            }
            inner *= shape[axis]
        }
        return terms.isEmpty ? "0" : "(" + terms.joined(separator: " + ") + ")"
    }

    private func expression(_ index: Int) -> String {
        FusedKernel.expression(nodes[index], type: types[index], prefix: "v")
    }

    /// C for one computed node of `type`, its arguments named `<prefix><index>`.
    static func expression(_ node: Node, type: DType, prefix v: String) -> String {
        switch node {
        case .load, .loadSum: preconditionFailure("loads are statements of their own")
        case .unary(let op, let x):
            let name: String
            switch op {
            case .logicalNot: name = "UN_not"
            default: name = "UN_\(op.rawValue)"
            }
            return "(\(cType(type)))(\(name)(\(v)\(x)))"
        case .binary(let op, let a, let b):
            let name: String
            switch op {
            case .maximum: name = "BI_max"
            case .minimum: name = "BI_min"
            case .logicalAnd: name = "BI_and"
            case .logicalOr: name = "BI_or"
            default: name = "BI_\(op.rawValue)"
            }
            return "(\(cType(type)))(\(name)(\(v)\(a), \(v)\(b)))"
        case .select(let c, let a, let b):
            return "(\(v)\(c) ? \(v)\(a) : \(v)\(b))"
        case .cast(let x):
            return type == .bool ? "(uchar)CV_uchar(\(v)\(x))" : "(\(cType(type)))(\(v)\(x))"
        }
    }

    /// The body: statements computing every node for element `e`, reading operand `k` as
    /// `<operandPrefix>k`.
    func statements(element: String, operandPrefix: String = "in") -> String {
        var lines: [String] = []
        for (index, node) in nodes.enumerated() {
            let type = FusedKernel.cType(types[index])
            if case .load(let operand) = node {
                lines.append("    \(type) v\(index) = \(operandPrefix)\(operand)[\(FusedKernel.indexExpression(operands[operand], shape: shape, element: element))];")
            } else if case .loadSum(let operand, let slices, let stride) = node {
                let position = FusedKernel.indexExpression(operands[operand], shape: shape, element: element)
                lines.append("    \(type) v\(index) = 0;\n    for (int s = 0; s < \(slices); s++) v\(index) += \(operandPrefix)\(operand)[\(position) + s * \(stride)];")
            } else {
                lines.append("    \(type) v\(index) = \(expression(index));")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The epilogue's statements for output `element`, its values named `w0`, `w1`, ….
    func epilogueStatements(element: String, operandPrefix: String = "in") -> String {
        var lines: [String] = []
        for (index, node) in epilogue.enumerated() {
            let type = FusedKernel.cType(epilogueTypes[index])
            if case .load(let operand) = node {
                let value = operand < 0 ? "acc" : "\(operandPrefix)\(operand)[\(FusedKernel.indexExpression(operands[operand], shape: epilogueShape, element: element))]"
                lines.append("    \(type) w\(index) = \(value);")
            } else {
                lines.append("    \(type) w\(index) = \(FusedKernel.expression(node, type: epilogueTypes[index], prefix: "w"));")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The accumulator's initial value and the statement folding the last node into it.
    func accumulation(_ op: ReduceOp) -> (initial: String, combine: String) {
        let last = nodes.count - 1
        switch op {
        case .max: return ("-INFINITY", "acc = BI_max(acc, v\(last));")
        case .min: return ("INFINITY", "acc = BI_min(acc, v\(last));")
        default: return ("0", "acc += v\(last);")
        }
    }

    /// The stored nodes' output parameters, `<prefix>0`, `<prefix>1`, ….
    func sideParameters(prefix: String) -> [String] {
        storedNodes.enumerated().map { "__global \(FusedKernel.cType(types[$0.element]))* \(prefix)\($0.offset)" }
    }

    /// The statements storing each stored node's value for `element`.
    func sideStores(prefix: String, element: String) -> String {
        storedNodes.enumerated().map { "    \(prefix)\($0.offset)[\(element)] = v\($0.element);\n" }.joined()
    }

    /// The type of the value written per output (the epilogue's last, else the last node's).
    var outputType: DType { epilogueTypes.last ?? types.last! }

    private var openCLBody: String {
        let parameters = (["__global \(FusedKernel.cType(outputType))* out"] + sideParameters(prefix: "side")
            + operandTypes.enumerated().map { "__global const \(FusedKernel.cType($0.element))* in\($0.offset)" }).joined(separator: ", ")
        let last = nodes.count - 1
        let store = sideStores(prefix: "side", element: "e")
        let finish = epilogue.isEmpty ? "    out[j] = acc;\n" : epilogueStatements(element: "j") + "\n    out[j] = w\(epilogue.count - 1);\n"
        // The element count of an elementwise kernel is an argument, so kernels that differ
        // only in it (one optimizer update per weight shape, say) share one program.
        guard let reduction else {
            return "(\(parameters), int n) {\n    int e = get_global_id(0);\n    if (e >= n) return;\n"
                + statements(element: "e") + "\n" + store + "    out[e] = v\(last);\n}\n"
        }
        let (initial, combine) = accumulation(reduction.op)
        if rowGroups {
            let fold: String
            switch reduction.op {
            case .max: fold = "part[t] = BI_max(part[t], part[t + h]);"
            case .min: fold = "part[t] = BI_min(part[t], part[t + h]);"
            default: fold = "part[t] += part[t + h];"
            }
            let size = FusedKernel.rowGroupSize
            return "(\(parameters)) {\n    __local \(accumulatorType) part[\(size)];\n    int j = get_group_id(0), t = get_local_id(0);\n    \(accumulatorType) acc = \(initial);\n"
                + "    for (int l = t; l < \(reduction.length); l += \(size)) {\n    int e = j * \(reduction.length) + l;\n"
                + statements(element: "e") + "\n" + store + "    \(combine)\n    }\n    part[t] = acc;\n    barrier(CLK_LOCAL_MEM_FENCE);\n"
                + "    for (int h = \(size / 2); h > 0; h /= 2) {\n        if (t < h) \(fold)\n        barrier(CLK_LOCAL_MEM_FENCE);\n    }\n"
                + "    if (t == 0) {\n    acc = part[0];\n" + finish + "    }\n}\n"
        }
        return "(\(parameters)) {\n    int j = get_global_id(0);\n    if (j >= \(outputCount)) return;\n"
            + "    int o = j / \(reduction.inner), i = j % \(reduction.inner);\n    \(accumulatorType) acc = \(initial);\n"
            + "    for (int l = 0; l < \(reduction.length); l++) {\n    int e = (o * \(reduction.length) + l) * \(reduction.inner) + i;\n"
            + statements(element: "e") + "\n" + store + "    \(combine)\n    }\n" + finish + "}\n"
    }
}

/// A backend that runs jit's fused kernels; programs on other backends replay the
/// primitives unfused.
protocol FusingBackend: Backend {
    /// Whether a launch costs more here than the work jit's launch-saving passes add
    /// (fusion around reductions, split products summed by readers, kernels launched
    /// together): GPUs. On the CPU and PoCL they cost time (PoCL: W3's jitted step 162 against
    /// 62 ms, its six SGD updates as one branching kernel 60 times slower).
    var launchBound: Bool { get }
    /// Whether fused kernels are interpreted over float registers (the CPU) rather than
    /// generated per kernel (OpenCL): then no int32 comparison fuses, and a split long
    /// reduction sums contiguous pieces rather than interleaved ones.
    var interpretsFusedKernels: Bool { get }
    /// Whether float64 chains fuse: generated kernels on a device with doubles (an
    /// interpreter holds float registers only).
    var fusesFloat64: Bool { get }
    /// Whether products with a vector side run better as broadcast multiplies and lone
    /// broadcast binaries as fused kernels (`Fusion+Broadcasts.swift`): the CPU, whose GEMM
    /// makes a call per batch entry of such a product and whose elementwise primitives walk
    /// broadcasts element by element. An OpenCL GEMM or strided kernel is one launch either
    /// way (and W4 on the H200 beat JAX with its GEMM: not changed unmeasured).
    var fusesBroadcasts: Bool { get }
    /// What `runFused` looks up for `kernel` (its compiled kernel), for a program to keep
    /// per step so that replays skip hashing the kernel: nil where nothing is looked up, or
    /// where building failed (`runFused` then reports it).
    func prepare(_ kernel: FusedKernel) -> AnyObject?
    /// Runs `kernel` reading `inputs` (one view per operand) into the contiguous `output`,
    /// and each stored node's values into `sides` (one per `storedNodes` entry); `prepared`
    /// is what `prepare(kernel)` returned, if anything.
    func runFused(_ kernel: FusedKernel, prepared: AnyObject?, inputs: [BufferView], output: BufferView, sides: [BufferView]) throws
}

extension CPUBackend: FusingBackend {
    /// The CPU's launches are function calls.
    var launchBound: Bool { false }
    var interpretsFusedKernels: Bool { true }
    var fusesFloat64: Bool { false }
    var fusesBroadcasts: Bool { true }

    /// The CPU interprets the nodes: nothing to look up.
    func prepare(_ kernel: FusedKernel) -> AnyObject? { nil }

    func runFused(_ kernel: FusedKernel, prepared: AnyObject?, inputs: [BufferView], output: BufferView, sides: [BufferView]) throws {
        runFused(kernel, inputs: inputs, output: output, sides: sides)
    }
}
extension OpenCLBackend: FusingBackend {
    var interpretsFusedKernels: Bool { false }
    var fusesFloat64: Bool { supportsFloat64 }
    var fusesBroadcasts: Bool { false }
}

extension FusedKernel.Node {
    /// The node computing elementwise primitive `call` from the nodes `arguments` (nil for
    /// a primitive that is not elementwise).
    init?(_ call: Primitive, arguments: [Int]) {
        switch call {
        case .unary(let op): self = .unary(op, arguments[0])
        case .binary(let op): self = .binary(op, arguments[0], arguments[1])
        case .select: self = .select(arguments[0], arguments[1], arguments[2])
        case .cast: self = .cast(arguments[0])
        default: return nil
        }
    }

    /// The node with every argument index moved by `shift` (loads unchanged).
    func shifted(by shift: Int) -> Self { mappingArguments { $0 + shift } }

    /// The node with every argument index `a` replaced by `index(a)` (loads unchanged).
    func mappingArguments(_ index: (Int) -> Int) -> Self {
        switch self {
        case .load, .loadSum: return self
        case .unary(let op, let x): return .unary(op, index(x))
        case .binary(let op, let a, let b): return .binary(op, index(a), index(b))
        case .select(let c, let a, let b): return .select(index(c), index(a), index(b))
        case .cast(let x): return .cast(index(x))
        }
    }

    /// Whether the node reads an operand (`load` or `loadSum`) rather than computing.
    var isLoad: Bool {
        switch self {
        case .load, .loadSum: return true
        default: return false
        }
    }
}
