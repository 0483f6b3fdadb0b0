import COpenCL
import Foundation

/// A kernel argument.
enum OpenCLArg {
    case mem(cl_mem)
    case int(Int32)
    case uint(UInt32)
    case float(Float)
    case double(Double)
    case uchar(UInt8)
    /// A struct of 32-bit ints passed by value (`adj_shape`, `adj_view`).
    case ints([Int32])
}

extension DType {
    /// The dtype's name in kernel names (`unary_exp_float32`).
    var kernelName: String { rawValue }
}

extension OpenCLBackend {
    // MARK: - Support

    func supports(_ call: Primitive, inputs: [DType], output: DType) -> Bool {
        if !supportsFloat64 && (output == .float64 || inputs.contains(.float64)) { return false }
        // Predicates rather than sets: this runs before every launch.
        func isFloat(_ dtype: DType) -> Bool { dtype.isFloatingPoint }
        func isNumber(_ dtype: DType) -> Bool { dtype.isFloatingPoint || dtype == .int32 }
        switch call {
        case .unary(let op):
            guard inputs.count == 1, inputs[0] == output else { return false }
            switch op {
            case .logicalNot: return output == .bool
            case .neg, .abs, .sign: return isNumber(output)
            default: return isFloat(output)
            }
        case .binary(let op):
            guard inputs.count == 2, inputs[0] == inputs[1] else { return false }
            let t = inputs[0]
            if op.isComparison { return output == .bool }
            guard output == t else { return false }
            switch op {
            case .logicalAnd, .logicalOr: return t == .bool
            case .pow: return isFloat(t)
            default: return isNumber(t)
            }
        case .select:
            return inputs.count == 3 && inputs[0] == .bool && inputs[1] == output && inputs[2] == output
        case .cast:
            return inputs.count == 1
        case .copy:
            return inputs.count == 1 && inputs[0] == output
        case .fill:
            return inputs.isEmpty
        case .reduce(let op, _, _, _):
            guard inputs.count == 1, isNumber(inputs[0]) else { return false }
            return op == .argmax || op == .argmin ? output == .int32 : output == inputs[0]
        case .matmul:
            return inputs.count == 2 && inputs[0] == output && inputs[1] == output && isFloat(output)
        case .gather:
            return inputs.count == 2 && inputs[0] == output && inputs[1] == .int32
        case .scatterAdd:
            return inputs.count == 2 && inputs[0] == output && inputs[1] == .int32 && isNumber(output)
        case .random(let distribution, _, _):
            guard inputs.isEmpty else { return false }
            return distribution == .bits ? output == .int32 : isFloat(output)
        }
    }

    // MARK: - Execute

    func execute(_ call: Primitive, inputs: [BufferView], output: BufferView) throws {
        guard supports(call, inputs: inputs.map(\.dtype), output: output.dtype) else {
            throw AdjointError.unsupported("\(call) on \(device) for inputs \(inputs.map(\.dtype)) -> \(output.dtype)")
        }
        func indexable(_ view: BufferView) -> Bool {
            view.layout.count == 0 || (view.layout.requiredElements < Int(Int32.max) && view.layout.count < Int(Int32.max))
        }
        guard indexable(output), inputs.allSatisfy(indexable) else {
            throw AdjointError.unsupported("\(call) on \(device): views of 2^31 elements or more")
        }
        lock.lock()
        defer { lock.unlock() }
        let out = output.dtype.kernelName
        switch call {
        case .unary(let op):
            try elementwise("unary_\(op.rawValue)_\(inputs[0].dtype.kernelName)", output: output, inputs: inputs)
        case .binary(let op):
            try elementwise("binary_\(op.rawValue)_\(inputs[0].dtype.kernelName)", output: output, inputs: inputs)
        case .select:
            try elementwise("select_\(out)", output: output, inputs: inputs)
        case .cast, .copy:
            try elementwise("cast_\(inputs[0].dtype.kernelName)_\(out)", output: output, inputs: inputs)
        case .fill(let value):
            try elementwise("fill_\(out)", output: output, inputs: [], value: OpenCLBackend.scalar(value, output.dtype))
        case let .reduce(op, outer, length, inner):
            try reduce(op, outer: outer, length: length, inner: inner, input: inputs[0], output: output)
        case .matmul:
            try matmul(inputs[0], inputs[1], output: output)
        case let .gather(outer, length, count, inner):
            let total = outer * count * inner
            guard total > 0 else { return }
            let k = try kernel("gather_\(out)", family: "movement")
            try launch(k, args: [.mem(mem(inputs[0])), .int(i32(inputs[0].layout.offset)), .mem(mem(inputs[1])), .int(i32(inputs[1].layout.offset)),
                                 .mem(mem(output)), .int(i32(output.layout.offset)), .int(i32(outer)), .int(i32(length)), .int(i32(count)), .int(i32(inner))],
                       global: [roundUp(total, k.local)], local: [k.local])
        case let .scatterAdd(outer, length, count, inner):
            let total = outer * inner
            guard total > 0, length > 0 else { return }
            let k = try kernel("scatterAdd_\(out)", family: "movement")
            try launch(k, args: [.mem(mem(inputs[0])), .int(i32(inputs[0].layout.offset)), .mem(mem(inputs[1])), .int(i32(inputs[1].layout.offset)),
                                 .mem(mem(output)), .int(i32(output.layout.offset)), .int(i32(outer)), .int(i32(length)), .int(i32(count)), .int(i32(inner))],
                       global: [roundUp(total, k.local)], local: [k.local])
        case let .random(distribution, seed, offset):
            let n = output.layout.count
            guard n > 0 else { return }
            let k = try kernel("random_\(distribution.rawValue)_\(out)", family: "random")
            let blocks = (n + 3) / 4
            try launch(k, args: [.mem(mem(output)), .int(i32(output.layout.offset)), .int(i32(n)),
                                 .uint(UInt32(truncatingIfNeeded: seed)), .uint(UInt32(truncatingIfNeeded: seed >> 32)),
                                 .uint(UInt32(truncatingIfNeeded: offset)), .uint(UInt32(truncatingIfNeeded: offset >> 32))],
                       global: [roundUp(blocks, k.local)], local: [k.local])
        }
    }

    // MARK: - Elementwise

    /// Launches `<name>` (1-D views) or `<name>_strided` over the output's shape, after
    /// dropping size-1 axes and merging axes that are contiguous in every view.
    func elementwise(_ name: String, output: BufferView, inputs: [BufferView], value: OpenCLArg? = nil) throws {
        let count = output.layout.count
        guard count > 0 else { return }
        let views = [output] + inputs
        for input in inputs { precondition(input.layout.shape == output.layout.shape, "\(name): input shape \(input.layout.shape) != output shape \(output.layout.shape)") }
        var (shape, strides) = OpenCLBackend.collapse(shape: output.layout.shape, strides: views.map(\.layout.strides))
        let buffers = try views.map { try mem($0) }
        let offsets = views.map(\.layout.offset)
        let value = value.map { [$0] } ?? []
        if shape.count <= 1 {
            let k = try kernel(name, family: "elementwise")
            var args: [OpenCLArg] = [.mem(buffers[0]), .int(i32(offsets[0])), .int(i32(strides[0].first ?? 0))] + value
            for v in 1..<views.count { args += [.mem(buffers[v]), .int(i32(offsets[v])), .int(i32(strides[v].first ?? 0))] }
            args.append(.int(i32(count)))
            try launch(k, args: args, global: [roundUp(count, k.local)], local: [k.local])
            return
        }
        let k = try kernel(name + "_strided", family: "elementwise")
        // More than ADJ_MAX_RANK axes: one launch per index of the leading axes.
        let maxRank = 8
        let lead = max(shape.count - maxRank, 0)
        let leadShape = Array(shape[0..<lead])
        let leadStrides = strides.map { Array($0[0..<lead]) }
        shape = Array(shape[lead...])
        strides = strides.map { Array($0[lead...]) }
        let inner = shape.reduce(1, *)
        func padded(_ values: [Int]) -> [Int32] { values.map { Int32($0) } + Array(repeating: 0, count: maxRank - values.count) }
        let shapeArg = OpenCLArg.ints([Int32(shape.count), Int32(inner)] + padded(shape))
        var index = [Int](repeating: 0, count: lead)
        while true {
            var args: [OpenCLArg] = buffers.prefix(1).map { .mem($0) } + value + buffers.dropFirst().map { .mem($0) } + [shapeArg]
            for v in 0..<views.count {
                var offset = offsets[v]
                for axis in 0..<lead { offset += index[axis] * leadStrides[v][axis] }
                args.append(.ints([Int32(offset)] + padded(strides[v])))
            }
            try launch(k, args: args, global: [roundUp(inner, k.local)], local: [k.local])
            var axis = lead - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < leadShape[axis] { break }
                index[axis] = 0
                axis -= 1
            }
            if axis < 0 { break }
        }
    }

    /// Drops extent-1 axes and merges neighbours that are contiguous in every view.
    static func collapse(shape: [Int], strides: [[Int]]) -> (shape: [Int], strides: [[Int]]) {
        var outShape: [Int] = []
        var outStrides = [[Int]](repeating: [], count: strides.count)
        for axis in 0..<shape.count where shape[axis] != 1 {
            if let last = outShape.last,
               strides.indices.allSatisfy({ outStrides[$0].last! == strides[$0][axis] * shape[axis] }) {
                outShape[outShape.count - 1] = last * shape[axis]
                for v in strides.indices { outStrides[v][outStrides[v].count - 1] = strides[v][axis] }
            } else {
                outShape.append(shape[axis])
                for v in strides.indices { outStrides[v].append(strides[v][axis]) }
            }
        }
        return (outShape, outStrides)
    }

    /// `value` as a kernel argument of `dtype` (float -> int truncates and saturates; NaN -> 0).
    static func scalar(_ value: Double, _ dtype: DType) -> OpenCLArg {
        switch dtype {
        case .float32: return .float(Float(value))
        case .float64: return .double(value)
        case .int32: return .int(value.isNaN ? 0 : Int32(max(min(value.rounded(.towardZero), Double(Int32.max)), Double(Int32.min))))
        case .bool: return .uchar(value != 0 ? 1 : 0)
        }
    }

    // MARK: - Reduce

    func reduce(_ op: ReduceOp, outer: Int, length: Int, inner: Int, input: BufferView, output: BufferView) throws {
        let rows = outer * inner
        guard rows > 0 else { return }
        let name = "reduce_\(op.rawValue)_\(input.dtype.kernelName)"
        let x = try mem(input), out = try mem(output)
        let splittable = op == .sum || op == .max || op == .min
        if splittable && inner == 1 && length >= 1 << 16 && outer < 64 {
            // Few long rows: fold chunks in parallel into partials, then fold the partials.
            let chunk = Swift.max(1 << 14, (length + 1023) / 1024)
            let parts = (length + chunk - 1) / chunk
            let partials = try allocate(byteCount: outer * parts * input.dtype.byteSize)
            let k = try kernel(name + "_partial", family: "reduce")
            var local = 1
            while local * 2 <= Swift.min(256, k.maxWorkGroup) { local *= 2 }
            try launch(k, args: [.mem(x), .int(i32(input.layout.offset)), .mem(try mem(BufferView(buffer: partials, layout: Layout(contiguous: [outer * parts]), dtype: input.dtype))),
                                 .int(i32(length)), .int(i32(chunk)), .int(i32(parts))],
                       global: [outer * parts * local], local: [local])
            let partialView = BufferView(buffer: partials, layout: Layout(contiguous: [outer, parts]), dtype: input.dtype)
            try reduce(op, outer: outer, length: parts, inner: 1, input: partialView, output: output)
            return
        }
        if splittable && inner > 1 && splitting, let parts = OpenCLBackend.columnParts(columns: rows, length: length, computeUnits: splitKUnits ?? computeUnits) {
            // Few long columns: chunks of each column fold in parallel into partials.
            let chunk = (length + parts - 1) / parts
            let partials = try allocate(byteCount: outer * parts * inner * input.dtype.byteSize)
            let k = try kernel(name + "_colsplit", family: "reduce")
            try launch(k, args: [.mem(x), .int(i32(input.layout.offset)), .mem(try mem(BufferView(buffer: partials, layout: Layout(contiguous: [outer * parts * inner]), dtype: input.dtype))),
                                 .int(i32(outer)), .int(i32(length)), .int(i32(inner)), .int(i32(chunk)), .int(i32(parts))],
                       global: [roundUp(outer * parts * inner, k.local)], local: [k.local])
            let partialView = BufferView(buffer: partials, layout: Layout(contiguous: [outer, parts, inner]), dtype: input.dtype)
            try reduce(op, outer: outer, length: parts, inner: inner, input: partialView, output: output)
            return
        }
        if inner == 1 && length >= 64 {
            let k = try kernel(name + "_rows", family: "reduce")
            var local = 1
            while local * 2 <= min(256, k.maxWorkGroup, length) { local *= 2 }
            try launch(k, args: [.mem(x), .int(i32(input.layout.offset)), .mem(out), .int(i32(output.layout.offset)), .int(i32(length))],
                       global: [outer * local], local: [local])
        } else {
            let k = try kernel(name + "_cols", family: "reduce")
            try launch(k, args: [.mem(x), .int(i32(input.layout.offset)), .mem(out), .int(i32(output.layout.offset)),
                                 .int(i32(outer)), .int(i32(length)), .int(i32(inner))],
                       global: [roundUp(rows, k.local)], local: [k.local])
        }
    }

    /// Into how many chunks a column reduction splits (nil: none): when its columns are
    /// too few to give each compute unit 512 work-items and each column is 256 or longer,
    /// the smallest power of two (at most 64) that does, keeping chunks of at least 32.
    /// (Columns of 128, W3's bias gradients at batch 128, took longer split in two launches
    /// than folded in one on the H200.)
    static func columnParts(columns: Int, length: Int, computeUnits: Int) -> Int? {
        guard length >= 256 else { return nil }
        var parts = 1
        while columns * parts < computeUnits * 512 && length / (parts * 2) >= 32 && parts < 64 { parts *= 2 }
        return parts > 1 ? parts : nil
    }

    // MARK: - Matmul

    func matmul(_ a: BufferView, _ b: BufferView, output: BufferView) throws {
        try matmul(a, b, output: output, keepPartials: false)
    }

    /// Into how many partial products over slices of k this backend runs the product of
    /// these views (1: none), as `matmul` decides (lock taken here).
    func gemmParts(a: Layout, b: Layout, output: Layout, dtype: DType) throws -> Int {
        lock.lock()
        defer { lock.unlock() }
        let batch = output.shape[0], m = a.shape[1], k = a.shape[2], n = b.shape[2]
        guard batch * m * n > 0, !(gemmLibrary.runs(m: m, n: n, k: k) && CLBlast.library != nil) else { return 1 }
        return try gemmPlan(dtype: dtype, batch: batch, m: m, n: n, k: k, rowMajorA: a.strides[2] == 1).parts
    }

    /// The kernel a product runs and its k-slices: `parts` partial products of `depth`
    /// (the last one shorter when k is not a multiple).
    private func gemmPlan(dtype: DType, batch: Int, m: Int, n: Int, k: Int, rowMajorA: Bool) throws
        -> (choice: OpenCLGEMMKernel, chosen: Kernel, parts: Int, depth: Int) {
        // Memoized (lock held): the choice depends on the shape and on settings fixed at
        // start, and naming and looking up the kernel cost more than the launch's own work.
        let key = GEMMPlanKey(dtype: dtype, batch: batch, m: m, n: n, k: k, rowMajorA: rowMajorA, rowDot: gemvRowDot)
        if let plan = gemmPlans[key] { return plan }
        let plan = try makeGEMMPlan(dtype: dtype, batch: batch, m: m, n: n, k: k, rowMajorA: rowMajorA)
        if gemmPlans.count >= 4096 { gemmPlans.removeAll() }
        gemmPlans[key] = plan
        return plan
    }

    /// What `gemmPlan` memoizes.
    private func makeGEMMPlan(dtype: DType, batch: Int, m: Int, n: Int, k: Int, rowMajorA: Bool) throws
        -> (choice: OpenCLGEMMKernel, chosen: Kernel, parts: Int, depth: Int) {
        let name = dtype.kernelName
        // Tiled kernels need 256 work-items per group (the row-dot one 64); a device that
        // allows fewer runs the one-item-per-output kernel.
        var choice = gemmTiles.kernel(m: m, n: n, k: k, batch: batch, computeUnits: computeUnits, rowMajorA: rowMajorA, rowDot: gemvRowDot)
        var chosen = try kernel(OpenCLBackend.gemmKernelName(choice, name, prefetch: gemmPrefetch), family: "matmul")
        if choice != .naive && chosen.maxWorkGroup < (choice == .rowDot ? 64 : 256) {
            choice = .naive
            chosen = try kernel(OpenCLBackend.gemmKernelName(.naive, name), family: "matmul")
        }
        let slices = batch == 1 && splitting ? OpenCLGEMMTiles.kSlices(choice, m: m, n: n, k: k, computeUnits: splitKUnits ?? computeUnits) : 1
        guard slices > 1 else { return (choice, chosen, 1, k) }
        let depth = (k + slices - 1) / slices
        return (choice, chosen, k / depth + (k % depth > 0 ? 1 : 0), depth)
    }

    /// `keepPartials`: `output` holds the k-slices' partial products, `[parts, m, n]`
    /// contiguous from its offset, and whoever reads it sums them (jit's split products,
    /// whose readers load the sum); the product must be one that splits (`gemmParts`).
    func matmul(_ a: BufferView, _ b: BufferView, output: BufferView, keepPartials: Bool) throws {
        precondition(a.layout.rank == 3 && b.layout.rank == 3 && output.layout.rank == 3, "matmul: rank-3 views expected")
        // Recursive: `execute` holds it already; jit's partial products arrive directly.
        lock.lock()
        defer { lock.unlock() }
        let batch = output.layout.shape[0], m = a.layout.shape[1], k = a.layout.shape[2], n = b.layout.shape[2]
        guard batch * m * n > 0 else { return }
        let sa = a.layout.strides, sb = b.layout.strides
        let operands = GEMMOperands(
            a: try mem(a), ao: a.layout.offset, sab: a.layout.shape[0] == 1 ? 0 : sa[0], sam: sa[1], sak: sa[2],
            b: try mem(b), bo: b.layout.offset, sbb: b.layout.shape[0] == 1 ? 0 : sb[0], sbk: sb[1], sbn: sb[2],
            c: try mem(output), co: output.layout.offset)
        if !keepPartials && recording == nil && gemmLibrary.runs(m: m, n: n, k: k) && clblastGEMM(operands, dtype: output.dtype, batch: batch, m: m, n: n, k: k) { return }
        let (choice, chosen, parts, depth) = try gemmPlan(dtype: output.dtype, batch: batch, m: m, n: n, k: k, rowMajorA: sa[2] == 1)
        precondition(!keepPartials || parts > 1, "matmul: partial products asked of a product that does not split")
        guard parts > 1 else {
            try enqueueGEMM(chosen, choice, operands, batch: batch, m: m, n: n, k: k)
            return
        }
        // Few outputs over a long k: slices of k run as a batch into partial products,
        // which a column sum adds up (the last slice is a separate launch when it is shorter).
        let whole = k / depth, rest = k - whole * depth
        let partials = keepPartials ? output.buffer : try allocate(byteCount: parts * m * n * output.dtype.byteSize)
        var sliced = operands
        sliced.sab = depth * operands.sak
        sliced.sbb = depth * operands.sbk
        sliced.c = clBuffer(partials).mem
        sliced.co = keepPartials ? output.layout.offset : 0
        try enqueueGEMM(chosen, choice, sliced, batch: whole, m: m, n: n, k: depth)
        if rest > 0 {
            var last = sliced
            last.ao += whole * depth * operands.sak
            last.bo += whole * depth * operands.sbk
            last.co = sliced.co + whole * m * n
            try enqueueGEMM(chosen, choice, last, batch: 1, m: m, n: n, k: rest)
        }
        guard !keepPartials else { return }
        try reduce(.sum, outer: 1, length: parts, inner: m * n,
                   input: BufferView(buffer: partials, layout: Layout(contiguous: [parts, m * n]), dtype: output.dtype), output: output)
    }

    /// A GEMM launch's operands: buffers, offsets and strides in elements (batch strides
    /// 0 broadcast), C contiguous.
    struct GEMMOperands {
        var a: cl_mem, ao: Int, sab: Int, sam: Int, sak: Int
        var b: cl_mem, bo: Int, sbb: Int, sbk: Int, sbn: Int
        var c: cl_mem, co: Int
    }

    /// The kernel function of `choice` for `dtype`; `prefetch`: the 128×128 kernel that
    /// loads the next k slice while it multiplies the current one.
    static func gemmKernelName(_ choice: OpenCLGEMMKernel, _ dtype: String, prefetch: Bool = false) -> String {
        switch choice {
        case .naive: "matmul_naive_\(dtype)"
        case .rowDot: "matmul_rowdot_\(dtype)"
        case .tile32: "matmul_small_\(dtype)"
        case .tile64: "matmul_\(dtype)"
        case .tile128: prefetch ? "matmul_large_prefetch_\(dtype)" : "matmul_large_\(dtype)"
        }
    }

    /// Enqueues one batched GEMM with the chosen kernel (lock held).
    func enqueueGEMM(_ chosen: Kernel, _ choice: OpenCLGEMMKernel, _ o: GEMMOperands, batch: Int, m: Int, n: Int, k: Int) throws {
        let args: [OpenCLArg] = [
            .mem(o.a), .int(i32(o.ao)), .int(i32(o.sab)), .int(i32(o.sam)), .int(i32(o.sak)),
            .mem(o.b), .int(i32(o.bo)), .int(i32(o.sbb)), .int(i32(o.sbk)), .int(i32(o.sbn)),
            .mem(o.c), .int(i32(o.co)), .int(i32(m)), .int(i32(n)), .int(i32(k)),
        ]
        switch choice {
        case .naive: try launch(chosen, args: args, global: [n, m, batch], local: nil)
        case .rowDot: try launch(chosen, args: args, global: [64, m, batch], local: [64, 1, 1])
        case .tile32, .tile64, .tile128:
            let tile = choice == .tile32 ? 32 : choice == .tile64 ? 64 : 128
            try launch(chosen, args: args, global: [(n + tile - 1) / tile * 16, (m + tile - 1) / tile * 16, batch], local: [16, 16, 1])
        }
    }

    // MARK: - Launch

    func mem(_ view: BufferView) throws -> cl_mem { clBuffer(view.buffer).mem }

    func i32(_ value: Int) -> Int32 { Int32(truncatingIfNeeded: value) }

    func roundUp(_ value: Int, _ multiple: Int) -> Int { (value + multiple - 1) / multiple * multiple }

    /// Sets the arguments and enqueues (lock held). A launch that fails for lack of memory
    /// empties the pool and retries once, then throws `outOfMemory`.
    func launch(_ kernel: Kernel, args: [OpenCLArg], global: [Int], local: [Int]?) throws {
        guard global.allSatisfy({ $0 > 0 }) else { return }
        if let recording { return try recordLaunch(kernel, args: args, global: global, local: local, into: recording) }
        try setArgs(kernel.handle, named: kernel.name, args)
        for attempt in 0..<2 {
            var event: cl_event?
            let status = profiling
                ? enqueue(kernel.handle, global: global, local: local, event: &event)
                : enqueue(kernel.handle, global: global, local: local, event: nil)
            if status == CL_SUCCESS {
                if let event { keep(event, named: kernel.name) }
                countLaunch()
                return
            }
            guard OpenCLBufferPool.isOutOfMemory(status), status != CL_INVALID_BUFFER_SIZE else {
                throw OpenCLStatus.error(status, "clEnqueueNDRangeKernel(\(kernel.name), global \(global), local \(local.map { "\($0)" } ?? "NULL"))")
            }
            if attempt == 0 { pool.empty() }
        }
        throw AdjointError.outOfMemory(device: "\(device) (\(info.name))", bytes: 0)
    }

    /// Enqueues `kernel`, its arguments already set, over `global` work-items in groups of
    /// `local` (nil: the driver's choice), putting its event in `event` when asked (lock
    /// held). The sizes are read in place: copying them into mutable arrays cost an
    /// allocation each per launch.
    func enqueue(_ kernel: cl_kernel, global: [Int], local: [Int]?, event: UnsafeMutablePointer<cl_event?>?) -> cl_int {
        global.withUnsafeBufferPointer { g in
            (local ?? []).withUnsafeBufferPointer { l in
                clEnqueueNDRangeKernel(queue, kernel, cl_uint(g.count), nil, g.baseAddress, local == nil ? nil : l.baseAddress, 0, nil, event)
            }
        }
    }

    /// Sets a kernel's arguments (lock held).
    func setArgs(_ handle: cl_kernel, named name: String, _ args: [OpenCLArg]) throws {
        for (index, arg) in args.enumerated() {
            let status: cl_int
            let slot = cl_uint(index)
            switch arg {
            case .mem(var value): status = clSetKernelArg(handle, slot, MemoryLayout<cl_mem>.size, &value)
            case .int(var value): status = clSetKernelArg(handle, slot, 4, &value)
            case .uint(var value): status = clSetKernelArg(handle, slot, 4, &value)
            case .float(var value): status = clSetKernelArg(handle, slot, 4, &value)
            case .double(var value): status = clSetKernelArg(handle, slot, 8, &value)
            case .uchar(var value): status = clSetKernelArg(handle, slot, 1, &value)
            case .ints(let values): status = values.withUnsafeBytes { clSetKernelArg(handle, slot, $0.count, $0.baseAddress) }
            }
            try OpenCLStatus.check(status, "clSetKernelArg(\(name), \(index))")
        }
    }
}
