/// Fused kernels over the same rows (the leading axes of their index spaces), launched as
/// one with a work-item per row that runs each kernel's share of its row in turn.
///
/// Softmax cross-entropy over `[batch, classes]` is a chain of small kernels (the row max,
/// the sum of exponentials, the log-sum-exp, the picked log-probability, the gradient),
/// each reading what the one before wrote for the same row: with the rows owned by one
/// work-item, the chain needs no launch between its links. Intermediate results still go
/// through memory (a work-item reads back its own writes), so only launches are saved:
/// a pass for GPUs (`FusingBackend.launchBound`). Members are a row reduction folded by
/// one work-item per output, or an elementwise kernel of at most `maxWidth` elements per
/// row; a member reads another's output only at its own row (`JitGraph.rowGroups`).
struct RowKernel: Hashable, MemberKernels {
    var rows: Int
    /// The kernels, in program order.
    var members: [FusedKernel]

    /// The widest elementwise row a work-item walks: the work of `width` work-items in one,
    /// so a wide row with few rows would leave a GPU idle for longer than a launch costs.
    static let maxWidth = 32
    /// The most buffer parameters a row or horizontal kernel takes: 512 bytes of
    /// pointers, half the 1 KiB of arguments OpenCL 1.2 promises.
    static let maxParameters = 64

    /// `jit_r5_<hash>`: five kernels per row.
    static let namePrefix = "jit_r"

    func body(name: String) -> String {
        var text = "__kernel void \(name)(\(memberParameters.joined(separator: ", "))) {\n    int j = get_global_id(0);\n    if (j >= \(rows)) return;\n"
        for (m, member) in members.enumerated() {
            text += "    {\n" + member.rowStatements(member: m, rows: rows) + "    }\n"
        }
        return text + "}\n"
    }
}

extension FusedKernel {
    /// This kernel's work for row `j` inside a `RowKernel` as member `m`.
    fileprivate func rowStatements(member m: Int, rows: Int) -> String {
        let prefix = "in\(m)_", last = nodes.count - 1
        let store = sideStores(prefix: "side\(m)_", element: "e")
        if let reduction {
            let (initial, combine) = accumulation(reduction.op)
            let finish = epilogue.isEmpty ? "    out\(m)[j] = acc;\n"
                : epilogueStatements(element: "j", operandPrefix: prefix) + "\n    out\(m)[j] = w\(epilogue.count - 1);\n"
            return "    \(accumulatorType) acc = \(initial);\n    for (int l = 0; l < \(reduction.length); l++) {\n    int e = j * \(reduction.length) + l;\n"
                + statements(element: "e", operandPrefix: prefix) + "\n" + store + "    \(combine)\n    }\n" + finish
        }
        let width = count / rows
        return "    for (int l = 0; l < \(width); l++) {\n    int e = j * \(width) + l;\n"
            + statements(element: "e", operandPrefix: prefix) + "\n" + store + "    out\(m)[e] = v\(last);\n    }\n"
    }
}

/// A backend that launches row kernels (`RowKernel`).
protocol RowFusingBackend: FusingBackend {
    /// What `runRows` looks up for `kernel`, kept per step like `prepare(_: FusedKernel)`.
    func prepare(_ kernel: RowKernel) -> AnyObject?
    /// Runs `kernel`, member `m` reading `inputs[m]` into the contiguous `outputs[m]` (and
    /// its stored values into `sides[m]`).
    func runRows(_ kernel: RowKernel, prepared: AnyObject?, inputs: [[BufferView]], outputs: [BufferView], sides: [[BufferView]]) throws
}

extension JitGraph {
    /// The rows a fused step's work splits into with a work-item each, and their width
    /// (elements of its row-major index space per row). A reduction's rows are its outputs;
    /// an elementwise kernel's are `rows` when given (the group's), else all but its last
    /// axis. Nil: the step cannot join a row kernel.
    static func rowShape(_ step: JitStep, rows given: Int? = nil) -> (rows: Int, width: Int)? {
        guard case .fused(let kernel) = step.kernel else { return nil }
        if let reduction = kernel.reduction {
            guard reduction.inner == 1, !kernel.rowGroups, given == nil || given == reduction.outer,
                  kernel.epilogue.isEmpty || kernel.epilogueShape.reduce(1, *) == reduction.outer
            else { return nil }
            return (reduction.outer, reduction.length)
        }
        let count = kernel.count
        let rows = given ?? (kernel.shape.count >= 2 ? count / Swift.max(kernel.shape.last!, 1) : count)
        guard step.layout.isContiguous, step.layout.offset == 0, rows > 0, count % rows == 0, count / rows <= RowKernel.maxWidth else { return nil }
        return (rows, count / rows)
    }

    /// Whether reading `layout` over `shape` (row-major, `rows` rows) at row `j` touches
    /// only row `j` of a buffer of `rowSize` elements per row: the leading axes that make
    /// up the rows step `rowSize` apart, and the rest stay within one row (in order, a
    /// value broadcast along it, or any forward strides that reach less than a row).
    static func readsOwnRow(_ layout: Layout, shape: [Int], rows: Int, rowSize: Int) -> Bool {
        guard layout.offset == 0, layout.shape == shape, rows > 0 else { return false }
        var split = 0, leading = 1
        while leading < rows, split < shape.count {
            leading *= shape[split]
            split += 1
        }
        guard leading == rows else { return false }
        // Row-major strides of the leading axes in units of rowSize, of the rest in elements.
        var unit = rowSize
        for axis in stride(from: split - 1, through: 0, by: -1) where shape[axis] != 1 {
            guard layout.strides[axis] == unit else { return false }
            unit *= shape[axis]
        }
        let trailing = split..<shape.count
        let reach = trailing.reduce(0) { $0 + (shape[$1] - 1) * layout.strides[$1] }
        return trailing.allSatisfy { layout.strides[$0] >= 0 } && reach < rowSize
    }

    /// Groups runs of steps into row kernels (at most `limit` members each), moving a step
    /// that sits between members and that no later member reads to after the group
    /// (cross-entropy's mean over the batch, between its forward and backward row work).
    /// Returns the groups' step ranges, in the reordered steps.
    mutating func rowGroups(limit: Int = 16) -> [(steps: Range<Int>, rows: Int)] {
        let writers = writers()
        var groups: [(steps: Range<Int>, rows: Int)] = []
        var start = 0
        while start < steps.count {
            guard let (rows, _) = JitGraph.rowShape(steps[start]), rows > 1 else {
                start += 1
                continue
            }
            var members = [start], moved: [Int] = []
            var parameters = steps[start].writtenBuffers.count + steps[start].inputs.count
            var rowSize: [Int: Int] = [:]
            var touched = Set<Int>(), movedWrites = Set<Int>()
            func join(_ step: JitStep) {
                for id in step.writtenBuffers { rowSize[id] = buffers[id].count / rows }
                touched.formUnion(step.writtenBuffers + step.inputs.compactMap(\.bufferID))
            }
            join(steps[start])
            var index = start + 1
            while index < steps.count, members.count < limit {
                let step = steps[index], reads = Set(step.inputs.compactMap(\.bufferID))
                let stepParameters = step.writtenBuffers.count + step.inputs.count
                if JitGraph.rowShape(step, rows: rows) != nil, reads.isDisjoint(with: movedWrites), readsOwnRows(step, rows: rows, rowSize: rowSize),
                   parameters + stepParameters <= RowKernel.maxParameters {
                    members.append(index)
                    parameters += stepParameters
                    join(step)
                } else if moved.count < 4, step.writtenBuffers.allSatisfy({ writers[$0].count == 1 && !touched.contains($0) }) {
                    moved.append(index)
                    movedWrites.formUnion(step.writtenBuffers)
                } else {
                    break
                }
                index += 1
            }
            guard members.count >= 2 else {
                start += 1
                continue
            }
            let last = members.last!
            let order = members + moved.filter { $0 < last }
            steps.replaceSubrange(start...last, with: order.map { steps[$0] })
            groups.append((start..<start + members.count, rows))
            start += members.count
        }
        return groups
    }

    /// Whether every read `step` makes of a buffer the group wrote is of its own row.
    private func readsOwnRows(_ step: JitStep, rows: Int, rowSize: [Int: Int]) -> Bool {
        guard case .fused(let kernel) = step.kernel else { return false }
        for (k, operand) in step.inputs.enumerated() {
            guard let id = operand.bufferID, let size = rowSize[id] else { continue }
            guard buffers[id].count == size * rows else { return false }
            let summed = kernel.nodes.contains { if case .loadSum(k, _, _) = $0 { return true }; return false }
            let inNodes = kernel.nodes.contains { $0 == .load(k) }, inEpilogue = kernel.epilogue.contains { $0 == .load(k) }
            if summed { return false }
            if inNodes && !JitGraph.readsOwnRow(kernel.operands[k], shape: kernel.shape, rows: rows, rowSize: size) { return false }
            if inEpilogue && !JitGraph.readsOwnRow(kernel.operands[k], shape: kernel.epilogueShape, rows: rows, rowSize: size) { return false }
        }
        return true
    }
}
