import CVector
import Foundation

/// Generated (jit-fused) kernels on the CPU: the node list is interpreted over blocks of
/// elements held in registers (float32; bools as 0 or 1), so each node is one tight loop
/// per block and intermediates never reach memory.
extension CPUBackend {
    private static let block = 512

    /// Runs `kernel` reading `inputs` (one view per operand) into the contiguous `output`.
    func runFused(_ kernel: FusedKernel, inputs: [BufferView], output: BufferView, sides: [BufferView] = []) {
        precondition(kernel.storedNodes.count == sides.count, "runFused: one side output per stored node")
        precondition(kernel.epilogue.isEmpty && (kernel.reduction == nil || kernel.storedNodes.allSatisfy { $0 == kernel.nodes.count - 1 }),
                     "runFused: epilogues and stored sibling chains are fused for OpenCL programs only")
        precondition(zip(kernel.storedNodes, sides).allSatisfy { kernel.types[$0] == .float32 && $1.dtype == .float32 },
                     "runFused: the CPU stores float32 node values only")
        countLaunch()
        let count = kernel.count
        guard count > 0 || kernel.reduction != nil else { return }
        let rank = kernel.shape.count
        let scratch = UnsafeMutablePointer<Int>.allocate(capacity: Swift.max(1, inputs.count * 2 * rank))
        defer { scratch.deallocate() }
        let readerArray = inputs.enumerated().map { FusedReader(view: $0.element, shape: kernel.shape, scratch: scratch + $0.offset * 2 * rank) }
        // Readers hold no references and are borrowed through a pointer: copying a
        // view-holding reader per node and block was a third of a jitted MLP step in ARC.
        timed("\(kernel.summary) \(kernel.shape)") {
            readerArray.withUnsafeBufferPointer { readers in
                CPUBackend.uniformNodes(kernel, readers: readers).withUnsafeBufferPointer { uniform in
                    if let reduction = kernel.reduction {
                        runFusedReduction(kernel, reduction, readers: readers, uniform: uniform, output: output, side: sides.first.map { $0.base(Float.self) })
                    } else {
                        runFusedElementwise(kernel, readers: readers, uniform: uniform, output: output, sides: sides.map { $0.base(Float.self) })
                    }
                }
            }
        }
    }

    private func runFusedElementwise(_ kernel: FusedKernel, readers: UnsafeBufferPointer<FusedReader>, uniform: UnsafeBufferPointer<Bool>, output: BufferView,
                                     sides: [UnsafeMutablePointer<Float>]) {
        let count = kernel.count
        let grain = max(4096, CPUParallel.elementGrain / max(1, kernel.nodes.count))
        CPUParallel.forEachRange(count: count, grain: grain) { range in
            let registers = Registers(nodeCount: kernel.nodes.count, uniform: uniform)
            defer { registers.deallocate() }
            var start = range.lowerBound
            while start < range.upperBound {
                let length = min(CPUBackend.block, range.upperBound - start)
                if output.dtype == .bool {
                    let result = CPUBackend.evaluate(kernel, readers: readers, start: start, length: length, registers: registers)
                    let target = output.base(UInt8.self) + start
                    for index in 0..<length { target[index] = result[index] != 0 ? 1 : 0 }
                } else {
                    let target = output.base(Float.self) + start
                    let result = CPUBackend.evaluate(kernel, readers: readers, start: start, length: length, registers: registers, destination: target)
                    if result != target { target.update(from: result, count: length) }
                }
                // A stored node (never the last) has this block where `values` says: its
                // register, a uniform block, or an operand read in place.
                for (node, side) in zip(kernel.storedNodes, sides) {
                    (side + start).update(from: registers.values[node], count: length)
                }
                start += length
            }
        }
    }

    private func runFusedReduction(_ kernel: FusedKernel, _ reduction: FusedKernel.Reduction, readers: UnsafeBufferPointer<FusedReader>,
                                   uniform: UnsafeBufferPointer<Bool>, output: BufferView, side: UnsafeMutablePointer<Float>?) {
        let target = output.base(Float.self)
        let span = reduction.length * reduction.inner
        CPUParallel.forEachRange(count: reduction.outer, grain: max(1, CPUParallel.elementGrain / max(1, span * kernel.nodes.count))) { outers in
            let registers = Registers(nodeCount: kernel.nodes.count, uniform: uniform)
            defer { registers.deallocate() }
            let inner = reduction.inner, op = reduction.op
            let sums = UnsafeMutablePointer<Double>.allocate(capacity: inner)
            let extremes = UnsafeMutablePointer<Float>.allocate(capacity: inner)
            defer {
                sums.deallocate()
                extremes.deallocate()
            }
            func reset() {
                sums.update(repeating: 0, count: inner)
                extremes.update(repeating: op == .max ? -.infinity : .infinity, count: inner)
            }
            func store(_ outer: Int) {
                for index in 0..<inner {
                    target[outer * inner + index] = op == .sum ? Float(sums[index]) : extremes[index]
                }
            }
            // Short spans (a pooling window's 2 × a row) are evaluated several outers per
            // block: one node pass per outer of 56 elements cost more than the arithmetic.
            let outersPerBlock = span > 0 ? Swift.max(1, CPUBackend.block / span) : 1
            var outer = outers.lowerBound
            while outer < outers.upperBound {
                let count = Swift.min(outersPerBlock, outers.upperBound - outer)
                if count > 1 {
                    let values = CPUBackend.evaluate(kernel, readers: readers, start: outer * span, length: count * span, registers: registers)
                    side?.advanced(by: outer * span).update(from: values, count: count * span)
                    for offset in 0..<count {
                        reset()
                        CPUBackend.accumulate(op, values + offset * span, count: span, from: 0, inner: inner, sums: sums, extremes: extremes)
                        store(outer + offset)
                    }
                    outer += count
                    continue
                }
                reset()
                var start = outer * span
                let end = start + span
                while start < end {
                    let length = min(CPUBackend.block, end - start)
                    let values = CPUBackend.evaluate(kernel, readers: readers, start: start, length: length, registers: registers)
                    side?.advanced(by: start).update(from: values, count: length)
                    let position = (start - outer * span) % inner
                    CPUBackend.accumulate(op, values, count: length, from: position, inner: inner, sums: sums, extremes: extremes)
                    start += length
                }
                store(outer)
                outer += 1
            }
        }
    }

    /// Folds `count` values into the per-column accumulators, starting at column `position`
    /// of `inner`: float64 sums, or NaN-propagating extremes. One loop per op.
    @inline(__always)
    private static func accumulate(_ op: ReduceOp, _ values: UnsafeMutablePointer<Float>, count: Int, from start: Int, inner: Int,
                                   sums: UnsafeMutablePointer<Double>, extremes: UnsafeMutablePointer<Float>) {
        var position = start
        switch op {
        case .max, .min:
            let isMax = op == .max
            for index in 0..<count {
                let value = values[index], current = extremes[position]
                if current == current && (value != value || (isMax ? value > current : value < current)) { extremes[position] = value }
                position += 1
                if position == inner { position = 0 }
            }
        default:
            if inner == 1 {
                // Eight running sums: one chained float64 add per element held a whole-tensor
                // sum to the add latency.
                var lanes = SIMD8<Double>(repeating: 0)
                var index = 0
                while index + 8 <= count {
                    lanes += SIMD8<Double>(UnsafeRawPointer(values + index).loadUnaligned(as: SIMD8<Float>.self))
                    index += 8
                }
                var total = lanes.sum()
                while index < count {
                    total += Double(values[index])
                    index += 1
                }
                sums[0] += total
            } else {
                for index in 0..<count {
                    sums[position] += Double(values[index])
                    position += 1
                    if position == inner { position = 0 }
                }
            }
        }
    }

    /// Per node: whether it has one value for every element (a broadcast scalar operand,
    /// or arithmetic on such values only: an optimizer's bias correction), which a task
    /// computes over a whole block once instead of once per block. Found once per launch.
    private static func uniformNodes(_ kernel: FusedKernel, readers: UnsafeBufferPointer<FusedReader>) -> [Bool] {
        var uniform: [Bool] = []
        uniform.reserveCapacity(kernel.nodes.count)
        for (index, node) in kernel.nodes.enumerated() {
            // The last node writes the destination; a cast to float aliases its input.
            uniform.append(index != kernel.nodes.count - 1 && {
                switch node {
                case .load(let operand):
                    readers[operand].contiguousFloats == nil && readers[operand].constant && !readers[operand].isBool
                case .unary(_, let x): uniform[x]
                case .binary(_, let a, let b): uniform[a] && uniform[b]
                case .select(let c, let a, let b): uniform[c] && uniform[a] && uniform[b]
                case .cast, .loadSum: false
                }
            }())
        }
        return uniform
    }

    /// One block's worth of values per node, and where each node's values are: its own
    /// register, or straight in a contiguous float32 operand or the output.
    private struct Registers {
        let storage: UnsafeMutablePointer<Float>
        let values: UnsafeMutablePointer<UnsafeMutablePointer<Float>>
        /// The launch's `uniformNodes`.
        let uniform: UnsafeBufferPointer<Bool>
        /// Per uniform node: whether its register holds that block already.
        let filled: UnsafeMutablePointer<Bool>

        init(nodeCount: Int, uniform: UnsafeBufferPointer<Bool>) {
            storage = .allocate(capacity: nodeCount * CPUBackend.block)
            values = .allocate(capacity: nodeCount)
            self.uniform = uniform
            filled = .allocate(capacity: nodeCount)
            filled.initialize(repeating: false, count: nodeCount)
        }

        func deallocate() {
            storage.deallocate()
            values.deallocate()
            filled.deallocate()
        }
    }

    /// Evaluates every node for elements `start..<start + length` and returns where the
    /// last node's values are. Contiguous float32 loads are read in place, and the last
    /// node is computed straight into `destination` when one is given, so a fused
    /// elementwise kernel copies nothing it does not transform. An operand aliasing the
    /// destination is safe: every node reads element i before writing element i.
    @inline(__always)
    private static func evaluate(_ kernel: FusedKernel, readers: UnsafeBufferPointer<FusedReader>, start: Int, length: Int, registers: Registers,
                                 destination: UnsafeMutablePointer<Float>? = nil) -> UnsafeMutablePointer<Float> {
        let values = registers.values, last = kernel.nodes.count - 1
        for (index, node) in kernel.nodes.enumerated() {
            let out = index == last ? destination ?? registers.storage + index * block : registers.storage + index * block
            values[index] = out
            let uniform = registers.uniform[index]
            if uniform && registers.filled[index] { continue }
            let length = uniform ? block : length
            switch node {
            case .load(let operand):
                if let direct = readers[operand].contiguousFloats {
                    values[index] = direct + start
                } else {
                    readers[operand].read(start: uniform ? 0 : start, length: length, into: out)
                }
            case .loadSum:
                preconditionFailure("split products are summed in readers on OpenCL only")
            case .unary(let op, let x):
                unary(op, values[x], out, length)
            case .binary(let op, let a, let b):
                binary(op, values[a], values[b], out, length)
            case .select(let c, let a, let b):
                adjoint_select_f32(values[c], values[a], values[b], out, length)
            case .cast(let x):
                let source = values[x]
                if kernel.types[index] == .bool {
                    for i in 0..<length { out[i] = source[i] != 0 ? 1 : 0 }
                } else {
                    values[index] = source
                }
            }
            if uniform { registers.filled[index] = true }
        }
        return values[last]
    }

    private static func unary(_ op: UnaryOp, _ x: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ length: Int) {
        switch op {
        case .neg: adjoint_unary_f32(ADJOINT_NEG, x, out, length)
        case .abs: adjoint_unary_f32(ADJOINT_ABS, x, out, length)
        case .sqrt: adjoint_unary_f32(ADJOINT_SQRT, x, out, length)
        case .sign: adjoint_unary_f32(ADJOINT_SIGN, x, out, length)
        case .floor: adjoint_unary_f32(ADJOINT_FLOOR, x, out, length)
        case .round: adjoint_unary_f32(ADJOINT_ROUND, x, out, length)
        case .logicalNot: adjoint_unary_f32(ADJOINT_NOT, x, out, length)
        case .exp, .sin, .cos: FastFloat32.map(op, x, into: out, count: length)
        case .log: for i in 0..<length { out[i] = Foundation.log(x[i]) }
        case .tanh: for i in 0..<length { out[i] = Foundation.tanh(x[i]) }
        case .sigmoid:
            for i in 0..<length {
                let decay = Foundation.exp(-x[i].magnitude)
                out[i] = x[i] >= 0 ? 1 / (1 + decay) : decay / (1 + decay)
            }
        }
    }

    private static func binary(_ op: BinaryOp, _ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ length: Int) {
        let code: adjoint_binary_op
        switch op {
        case .add: code = ADJOINT_ADD
        case .sub: code = ADJOINT_SUB
        case .mul: code = ADJOINT_MUL
        case .div: code = ADJOINT_DIV
        case .maximum: code = ADJOINT_MAX
        case .minimum: code = ADJOINT_MIN
        case .lt: code = ADJOINT_LT
        case .le: code = ADJOINT_LE
        case .gt: code = ADJOINT_GT
        case .ge: code = ADJOINT_GE
        case .eq: code = ADJOINT_EQ
        case .ne: code = ADJOINT_NE
        case .logicalAnd: code = ADJOINT_AND
        case .logicalOr: code = ADJOINT_OR
        case .pow:
            for i in 0..<length { out[i] = Foundation.pow(a[i], b[i]) }
            return
        }
        adjoint_binary_f32(code, a, b, out, length)
    }
}

/// Reads a block of an operand (float32 or bool, any layout of the kernel's shape) as floats.
struct FusedReader {
    /// Element `[0, 0, ...]` of the view.
    let base: UnsafeMutableRawPointer
    let isBool: Bool
    let contiguous: Bool
    let constant: Bool
    /// The kernel's shape and the view's strides (adjacent axes merged where the view
    /// allows), `rank` each, in scratch memory the launch owns: the reader holds no
    /// references, so reading a block costs no retain/release.
    let rank: Int
    let shape: UnsafePointer<Int>
    let strides: UnsafePointer<Int>

    init(view: BufferView, shape: [Int], scratch: UnsafeMutablePointer<Int>) {
        base = view.dtype == .bool ? UnsafeMutableRawPointer(view.base(UInt8.self)) : UnsafeMutableRawPointer(view.base(Float.self))
        isBool = view.dtype == .bool
        contiguous = view.layout.isContiguous && view.layout.shape == shape
        constant = view.layout.strides.enumerated().allSatisfy { $0.element == 0 || shape[$0.offset] == 1 }
        // Adjacent axes this operand steps through as one (a broadcast row of a pooling
        // window's [.., Wo, 2] read as 2·Wo elements) merge, so its runs are as long as
        // its layout allows; merging keeps the kernel's row-major element order.
        // Written straight into the launch's scratch (extents first, strides `shape.count`
        // further on): this runs for every operand of every fused launch.
        let extents = scratch, steps = scratch + shape.count
        var merged = 0
        for axis in shape.indices where shape[axis] != 1 {
            let stride = view.layout.strides[axis]
            if merged > 0, steps[merged - 1] == stride * shape[axis] {
                extents[merged - 1] *= shape[axis]
                steps[merged - 1] = stride
            } else {
                extents[merged] = shape[axis]
                steps[merged] = stride
                merged += 1
            }
        }
        rank = merged
        self.shape = UnsafePointer(extents)
        strides = UnsafePointer(steps)
    }

    /// The operand's floats when it is float32 and laid out exactly as the kernel's
    /// elements, so a block can be read where it lies.
    var contiguousFloats: UnsafeMutablePointer<Float>? {
        contiguous && !isBool ? base.assumingMemoryBound(to: Float.self) : nil
    }

    func read(start: Int, length: Int, into out: UnsafeMutablePointer<Float>) {
        if isBool {
            let source = base.assumingMemoryBound(to: UInt8.self)
            if contiguous {
                let block = source + start
                for index in 0..<length { out[index] = block[index] != 0 ? 1 : 0 }
            } else if rank >= 2 && shape[rank - 1] < 16 {
                readShortRows(start: start, length: length, into: out) { source[$0] != 0 ? 1 : 0 }
            } else {
                forEachRun(start: start, length: length) { index, position, count, step in
                    for offset in 0..<count { out[index + offset] = source[position + offset * step] != 0 ? 1 : 0 }
                }
            }
            return
        }
        let source = base.assumingMemoryBound(to: Float.self)
        if contiguous {
            out.update(from: source + start, count: length)
        } else if constant {
            out.update(repeating: source[0], count: length)
        } else if rank >= 2 && shape[rank - 1] < 16 {
            readShortRows(start: start, length: length, into: out) { source[$0] }
        } else {
            // A copy for stride 1, a fill for stride 0 (broadcast bias rows and columns).
            forEachRun(start: start, length: length) { index, position, count, step in
                let runSource = source + position
                if step == 1 {
                    (out + index).update(from: runSource, count: count)
                } else if step == 0 {
                    (out + index).update(repeating: runSource[0], count: count)
                } else {
                    for offset in 0..<count { out[index + offset] = runSource[offset * step] }
                }
            }
        }
    }

    /// Writes the coordinates of row-major element `index` of the kernel's shape into
    /// `coordinate` (stack scratch: this runs once per operand and block) and returns its
    /// position in the view.
    @inline(__always)
    private func locate(_ index: Int, into coordinate: UnsafeMutableBufferPointer<Int>) -> Int {
        coordinate.initialize(repeating: 0)
        var remainder = index
        var position = 0
        for axis in stride(from: rank - 1, through: 0, by: -1) where shape[axis] > 0 {
            coordinate[axis] = remainder % shape[axis]
            remainder /= shape[axis]
            position += coordinate[axis] * strides[axis]
        }
        return position
    }

    /// Element by element with the two innermost axes stepped inline: for short innermost
    /// runs (pooling windows of 2, say), where a call and a carry per run cost more than
    /// the copy.
    @inline(__always)
    private func readShortRows(start: Int, length: Int, into out: UnsafeMutablePointer<Float>, _ load: (Int) -> Float) {
        withUnsafeTemporaryAllocation(of: Int.self, capacity: rank) { coordinate in
            var position = locate(start, into: coordinate)
            let (inner, outer) = (rank - 1, rank - 2)
            let (innerExtent, innerStep, outerExtent, outerStep) = (shape[inner], strides[inner], shape[outer], strides[outer])
            var (column, row) = (coordinate[inner], coordinate[outer])
            for index in 0..<length {
                out[index] = load(position)
                column += 1
                position += innerStep
                guard column == innerExtent else { continue }
                column = 0
                position += outerStep - innerExtent * innerStep
                row += 1
                guard row == outerExtent else { continue }
                row = 0
                position -= outerExtent * outerStep
                var axis = outer - 1
                while axis >= 0 {
                    coordinate[axis] += 1
                    position += strides[axis]
                    if coordinate[axis] < shape[axis] { break }
                    position -= coordinate[axis] * strides[axis]
                    coordinate[axis] = 0
                    axis -= 1
                }
            }
        }
    }

    /// Calls `body(index, position, count, step)` for each innermost-axis run covering
    /// elements `start..<start + length`: `count` elements from `index` in the block, read
    /// from `position` (relative to the view's base) stepping by `step`.
    @inline(__always)
    private func forEachRun(start: Int, length: Int, _ body: (Int, Int, Int, Int) -> Void) {
        guard length > 0 else { return }
        guard rank > 0 else { return body(0, 0, length, 0) }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: rank) { coordinate in
            var position = locate(start, into: coordinate)
            let last = rank - 1, step = strides[last]
            var index = 0
            while index < length {
                let count = Swift.min(shape[last] - coordinate[last], length - index)
                body(index, position, count, step)
                index += count
                coordinate[last] += count
                position += count * step
                var axis = last
                while axis > 0 && coordinate[axis] == shape[axis] {
                    position -= coordinate[axis] * strides[axis]
                    coordinate[axis] = 0
                    axis -= 1
                    coordinate[axis] += 1
                    position += strides[axis]
                }
            }
        }
    }
}
