/// What a traced operand refers to: a buffer of the program (input, intermediate or
/// output) or a constant captured while tracing.
enum JitRef: Hashable {
    case buffer(Int)
    case constant(Int)
}

/// One read of a graph value: the referenced memory seen through a layout.
struct JitOperand: Hashable {
    var ref: JitRef
    var layout: Layout
    var dtype: DType

    /// The buffer read, when the operand is not a constant.
    var bufferID: Int? {
        if case .buffer(let id) = ref { return id }
        return nil
    }
}

/// What one step launches: a primitive of the backend contract or a generated kernel.
enum JitKernel {
    case primitive(Primitive)
    case fused(FusedKernel)
}

/// One launch of the traced graph, writing `layout` of buffer `output`.
struct JitStep {
    var kernel: JitKernel
    var inputs: [JitOperand]
    var output: Int
    var layout: Layout
    var dtype: DType
    /// Where a random draw's seed comes from at replay, when not from the trace.
    var redraw: Redraw?
    /// Buffers the step writes whole besides its output, one per stored node of its fused
    /// kernel (`FusedKernel.storedNodes`: a reduction's values, a producer's values).
    var sideOutputs: [Int] = []
    /// For a matmul: how many partial products over slices of k it writes (`[parts, m, n]`)
    /// for its readers to sum, instead of their sum (OpenCL; `sumPartialProductsInReaders`).
    var partialProducts: Int? = nil

    /// The stream a random step asks again at every replay, as eager calls would.
    enum Redraw {
        /// The process stream (`Tensor.randomNormal(shape)` without a seed).
        case processStream
        /// The graph's seed-stream draw of this index (`seed: stream.nextSeed()`).
        case seedStream(Int)
    }

    /// Whether every replay draws this step's numbers anew from the process stream (two
    /// such draws differ, so they never merge).
    var drawsFreshFromProcessStream: Bool {
        if case .processStream? = redraw { return true }
        return false
    }

    /// The buffers the step writes: its output, and its side outputs.
    var writtenBuffers: [Int] { [output] + sideOutputs }

    /// The primitive, when this step is not fused.
    var primitive: Primitive? {
        if case .primitive(let call) = kernel { return call }
        return nil
    }

    /// Whether the step writes its whole output buffer (a fresh contiguous result).
    func coversOutput(of buffer: JitBuffer) -> Bool {
        layout.isContiguous && layout.offset == 0 && layout.count == buffer.count
    }
}

/// A buffer of the traced graph: `count` elements of `dtype`; inputs are bound per call.
struct JitBuffer {
    var count: Int
    var dtype: DType
    var input: Int?

    /// Bytes of the values.
    var byteCount: Int { count * dtype.byteSize }
}

/// The primitive graph recorded by a trace, rewritten by the passes into a `JitProgram`.
struct JitGraph {
    var device: Device
    var buffers: [JitBuffer] = []
    var constants: [Storage] = []
    var steps: [JitStep] = []
    /// Buffer ids of the inputs, in the order of the flattened input tree.
    var inputs: [Int] = []
    var outputs: [JitOperand] = []
    /// The seed streams asked during the trace, one entry per `nextSeed()`, in order;
    /// a replay asks them again in the same order, so they advance as in eager calls.
    var seedStreams: [SeedStream] = []

    /// Ids of the steps writing each buffer, in order.
    func writers() -> [[Int]] {
        var result = [[Int]](repeating: [], count: buffers.count)
        for (index, step) in steps.enumerated() {
            for id in step.writtenBuffers { result[id].append(index) }
        }
        return result
    }

    /// Ids of the steps reading each buffer, in order, each once.
    func readers() -> [[Int]] {
        var result = [[Int]](repeating: [], count: buffers.count)
        for (index, step) in steps.enumerated() {
            for input in step.inputs {
                if let id = input.bufferID, result[id].last != index { result[id].append(index) }
            }
        }
        return result
    }

    /// The buffers the program returns (they keep their memory and cannot be fused away).
    var outputBuffers: Set<Int> { Set(outputs.compactMap(\.bufferID)) }

    /// Removes the steps at `indices`.
    mutating func removeSteps(_ indices: Set<Int>) {
        guard !indices.isEmpty else { return }
        steps = steps.enumerated().filter { !indices.contains($0.offset) }.map(\.element)
    }

    /// Replaces every read of `old` by `new` (same element positions).
    mutating func substitute(_ old: JitRef, with new: JitRef) {
        for index in steps.indices {
            for input in steps[index].inputs.indices where steps[index].inputs[input].ref == old {
                steps[index].inputs[input].ref = new
            }
        }
        for index in outputs.indices where outputs[index].ref == old { outputs[index].ref = new }
    }
}
