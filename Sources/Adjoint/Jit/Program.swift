import Foundation

/// What one compiled program does per call, for tests, benchmarks and curiosity.
public struct JitProgramSummary: Sendable, CustomStringConvertible {
    /// Primitive calls the trace recorded.
    public var tracedSteps: Int
    /// Steps removed by each pass.
    public var foldedSteps = 0, mergedSteps = 0, deadSteps = 0, fusedAwaySteps = 0
    /// Launches per call (primitives and fused kernels).
    public var launches: Int
    /// Generated kernels among them.
    public var fusedKernels: Int
    /// Tensors the program holds as constants (captured or folded).
    public var constants: Int
    /// Buffers allocated per call (after reuse planning).
    public var slots: Int
    /// Bytes of those buffers.
    public var slotBytes: Int
    /// Each launch, e.g. `matmul` or `fused(4 ops + reduce.sum)`.
    public var kernels: [String]
    /// Whether calls replay a recorded command list (one submission per call) where they
    /// can (`JitOptions.recordReplays`).
    public var recordsReplays = false
    /// Seconds the first call spent running the function on symbolic tensors.
    public var traceSeconds = 0.0
    /// Seconds the passes, the buffer plan and the generated kernels' builds took.
    public var compileSeconds = 0.0

    public var description: String {
        "\(tracedSteps) traced steps -> \(launches) launches (\(fusedKernels) fused; folded \(foldedSteps), merged \(mergedSteps), "
            + "dead \(deadSteps), fused away \(fusedAwaySteps)), \(constants) constants, \(slots) buffers (\(slotBytes) B)"
            + (recordsReplays ? ", recorded replays" : "")
    }
}

/// A traced graph after the passes, ready to replay against the device's backend.
final class JitProgram: @unchecked Sendable {
    let graph: JitGraph
    let plan: BufferPlan
    let summary: JitProgramSummary
    private let runsOnDevice: [Bool]
    /// Recorded replays (`RecordedReplays`), where the backend records and it pays.
    private let replays: RecordedReplays?
    /// Runs of steps launched as one kernel, by their first step (`launchTogether`).
    private let groupAt: [Int: (steps: Range<Int>, kernel: GroupKernel)]

    /// The kernel a run of steps launches as.
    private enum GroupKernel {
        /// Independent elementwise kernels (`HorizontalKernel`).
        case together(HorizontalKernel)
        /// Kernels over the rows of one domain, a work-item per row (`RowKernel`).
        case rows(RowKernel)
    }
    /// Per step: what the backend looked up for its generated kernel (`FusingBackend.prepare`).
    private let prepared: [AnyObject?]

    init(graph traced: JitGraph, options: JitOptions, traceSeconds: Double = 0) {
        let start = DispatchTime.now().uptimeNanoseconds
        var graph = traced
        var summary = JitProgramSummary(tracedSteps: graph.steps.count, launches: 0, fusedKernels: 0, constants: 0, slots: 0, slotBytes: 0, kernels: [])
        summary.traceSeconds = traceSeconds
        if options.foldConstants { summary.foldedSteps = graph.foldConstants() }
        if options.mergeCommonSubexpressions { summary.mergedSteps = graph.mergeCommonSubexpressions() }
        if options.eliminateDeadCode { summary.deadSteps = graph.eliminateDeadCode() }
        let backend = try? DeviceRegistry.shared.backend(for: graph.device)
        let launchBound = (backend as? FusingBackend)?.launchBound ?? false
        if options.fuseElementwise, let fusing = backend as? FusingBackend {
            if fusing.fusesBroadcasts { graph.rewriteRankOneProducts() }
            summary.fusedAwaySteps = graph.fuseElementwise(interpreted: fusing.interpretsFusedKernels, float64: fusing.fusesFloat64)
            // Lone broadcast binaries as one-node fused kernels: the CPU's interpreter reads
            // broadcasts a block at a time, and where jit saves launches the row pass can
            // launch them with their neighbours (a softmax of an input is one launch).
            if fusing.fusesBroadcasts || (launchBound && options.launchTogether) { graph.fuseBroadcastBinaries() }
            summary.fusedAwaySteps += graph.fuseProducersIntoReaders()
            // Where a launch costs more than a pass over the data (`launchBound`: GPUs).
            if launchBound {
                summary.fusedAwaySteps += graph.fuseReductionsIntoProducers()
                summary.fusedAwaySteps += graph.fuseSiblingsIntoReductions()
                summary.fusedAwaySteps += graph.fuseEpilogues()
                // Lone row reductions as one-node fused kernels, likewise for the row pass.
                if options.launchTogether { graph.fuseLoneRowReductions() }
                if let backend = backend as? SplitProductBackend { graph.sumPartialProductsInReaders(backend) }
            }
        }
        var groups: [Range<Int>] = []
        var groupAt: [Int: (steps: Range<Int>, kernel: GroupKernel)] = [:]
        func members(_ group: Range<Int>) -> [FusedKernel] {
            graph.steps[group].map { step in
                guard case .fused(let kernel) = step.kernel else { preconditionFailure("a launch group of a primitive step") }
                return kernel
            }
        }
        if options.fuseElementwise && options.launchTogether && launchBound, backend is RowFusingBackend {
            // Before anything is planned: the pass reorders steps.
            for (group, rows) in graph.rowGroups() {
                groupAt[group.lowerBound] = (group, .rows(RowKernel(rows: rows, members: members(group))))
                groups.append(group)
            }
        }
        if options.fuseElementwise && options.launchTogether && launchBound, backend is HorizontalFusingBackend {
            for group in graph.horizontalGroups(taken: Set(groups.joined())) {
                groupAt[group.lowerBound] = (group, .together(HorizontalKernel(members: members(group))))
                groups.append(group)
            }
        }
        groups.sort { $0.lowerBound < $1.lowerBound }
        self.groupAt = groupAt
        let grouped = Set(groups.joined())
        prepared = graph.steps.indices.map { index in
            switch groupAt[index]?.kernel {
            case .together(let kernel)?: return (backend as? HorizontalFusingBackend)?.prepare(kernel)
            case .rows(let kernel)?: return (backend as? RowFusingBackend)?.prepare(kernel)
            case nil:
                guard case .fused(let kernel) = graph.steps[index].kernel, !grouped.contains(index) else { return nil }
                return (backend as? FusingBackend)?.prepare(kernel)
            }
        }
        plan = BufferPlan(graph: graph, reuse: options.reuseBuffers, groups: groups)
        runsOnDevice = graph.steps.map { step in
            guard let call = step.primitive, let backend else { return true }
            return backend.supports(call, inputs: step.inputs.map(\.dtype), output: step.dtype)
        }
        summary.launches = graph.steps.count - groups.reduce(0) { $0 + $1.count - 1 }
        // Recorded commands replay the trace's seeds (and a replay must advance the seed
        // streams the trace asked, as the launching path does) and cannot fall back to the host.
        if let backend = backend as? RecordingBackend, backend.canRecord, options.recordReplays ?? backend.recordsByDefault,
           !graph.steps.isEmpty, runsOnDevice.allSatisfy({ $0 }), !graph.steps.contains(where: { $0.redraw != nil }), graph.seedStreams.isEmpty {
            replays = RecordedReplays(backend: backend, graph: graph)
        } else {
            replays = nil
        }
        summary.recordsReplays = replays != nil
        summary.constants = graph.constants.count
        summary.slots = plan.slotBytes.count
        summary.slotBytes = plan.slotBytes.reduce(0, +)
        summary.kernels = graph.steps.map { step in
            switch step.kernel {
            case .primitive(let call): return call.description + (step.partialProducts.map { " (\($0) partial products, summed by readers)" } ?? "")
            case .fused(let kernel): return kernel.summary
            }
        }
        for group in groups.reversed() {
            let kind = if case .rows? = groupAt[group.lowerBound]?.kernel { "rows" } else { "together" }
            summary.kernels.replaceSubrange(group, with: ["\(kind)(" + summary.kernels[group].joined(separator: ", ") + ")"])
        }
        summary.fusedKernels = summary.kernels.filter { $0.hasPrefix("fused") || $0.hasPrefix("together") || $0.hasPrefix("rows") }.count
        summary.compileSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        self.graph = graph
        self.summary = summary
        if ProcessInfo.processInfo.environment["ADJOINT_DUMP_KERNELS"] == "1" { dump() }
    }

    /// Calls replayed from a recording, and recordings made (zeros without recorded replays).
    var recordedReplays: (replays: Int, recordings: Int) { replays?.counts ?? (0, 0) }

    /// Prints every generated kernel (OpenCL source; the CPU interprets the same nodes).
    private func dump() {
        let note = "(after the UN_/BI_/CV_ functors of elementwise.cl)"
        var index = 0
        while index < graph.steps.count {
            if let (group, kernel) = groupAt[index] {
                let (name, source): (String, String) = switch kernel {
                case .together(let kernel): (kernel.name, kernel.body(name: kernel.name))
                case .rows(let kernel): (kernel.name, kernel.body(name: kernel.name))
                }
                print("// adjoint jit: \(name) on \(graph.device), \(group.count) fused kernels in one launch \(note)\n\(source)")
                index = group.upperBound
                continue
            }
            if case .fused(let kernel) = graph.steps[index].kernel {
                print("// adjoint jit: \(kernel.name) on \(graph.device), \(kernel.fusedLaunches) launches in one \(note)\n\(kernel.kernelSource)")
            }
            index += 1
        }
    }

    /// Runs the program on `inputs` (one per input placeholder, matching the traced
    /// shapes and dtypes). Environment errors come back as failed output tensors.
    ///
    /// With `freshDraws`, random draws from the process stream and from seed streams take
    /// new seeds, advancing the streams as the traced function would; without, they use
    /// the seeds of the trace (the run right after tracing, which already advanced them).
    func run(_ inputs: [Tensor], freshDraws: Bool) -> [Tensor] {
        let device = graph.device
        let bound = inputs.map { $0.value.contiguous() }
        if let failure = bound.lazy.compactMap(\.failure).first ?? graph.constants.lazy.compactMap(\.failure).first { return failed(failure) }
        if let replays, let outputs = replays.run(self, bound) { return outputs }
        let seeds = freshDraws ? graph.seedStreams.map { $0.nextSeed() } : []
        var buffers = [DeviceBuffer?](repeating: nil, count: graph.buffers.count)
        for (index, id) in graph.inputs.enumerated() { buffers[id] = bound[index].storage.buffer }
        var slots = [DeviceBuffer?](repeating: nil, count: plan.slotBytes.count)
        do {
            let backend = try DeviceRegistry.shared.backend(for: device)
            // A buffer's memory; a written one takes its slot's, allocated on first use.
            try launchSteps(on: backend, freshDraws: freshDraws, seeds: seeds) { id in
                if buffers[id] == nil, let slot = plan.slotOf[id] {
                    if slots[slot] == nil { slots[slot] = try backend.allocate(byteCount: plan.slotBytes[slot]) }
                    buffers[id] = slots[slot]
                }
                return buffers[id]!
            }
        } catch {
            return failed(error)
        }
        var storages: [Int: Storage] = [:]
        return outputs { id in
            let storage = storages[id] ?? Storage(device: device, dtype: graph.buffers[id].dtype, buffer: buffers[id]!)
            storages[id] = storage
            return storage
        }
    }

    /// The outputs as tensors, `storage(id)` holding buffer `id`'s values.
    func outputs(_ storage: (Int) -> Storage) -> [Tensor] {
        graph.outputs.map { output in
            switch output.ref {
            case .constant(let id): return Tensor(storage: graph.constants[id], layout: output.layout)
            case .buffer(let id): return Tensor(storage: storage(id), layout: output.layout)
            }
        }
    }

    /// Every output failed with `error` (an environment error while running).
    func failed(_ error: Error) -> [Tensor] {
        let error = error as? AdjointError ?? .unsupported("jit replay: \(error)")
        return graph.outputs.map { Tensor(storage: Storage(device: graph.device, dtype: $0.dtype, failure: error), layout: $0.layout) }
    }

    /// Launches every step in order (or records them, while the backend records), reading
    /// and writing `memory(id)`: the memory of graph buffer `id`.
    func launchSteps(on backend: Backend, freshDraws: Bool, seeds: [UInt64], memory: (Int) throws -> DeviceBuffer) throws {
        func view(_ operand: JitOperand) throws -> BufferView {
            switch operand.ref {
            case .constant(let id): return BufferView(buffer: graph.constants[id].buffer!, layout: operand.layout, dtype: operand.dtype)
            case .buffer(let id): return BufferView(buffer: try memory(id), layout: operand.layout, dtype: operand.dtype)
            }
        }
        func outputView(_ step: JitStep) throws -> BufferView {
            BufferView(buffer: try memory(step.output), layout: step.layout, dtype: step.dtype)
        }
        func sideViews(_ step: JitStep) throws -> [BufferView] {
            try step.sideOutputs.map { id in BufferView(buffer: try memory(id), layout: Layout(contiguous: [graph.buffers[id].count]), dtype: graph.buffers[id].dtype) }
        }
        var index = 0
        while index < graph.steps.count {
            if let (group, kernel) = groupAt[index] {
                // Groups exist only on backends that launch them (see init).
                let members = graph.steps[group]
                let outputs = try members.map(outputView), inputs = try members.map { try $0.inputs.map(view) }
                switch kernel {
                case .together(let kernel):
                    try (backend as! HorizontalFusingBackend).runHorizontal(kernel, prepared: prepared[index], inputs: inputs, outputs: outputs, sides: members.map(sideViews))
                case .rows(let kernel):
                    try (backend as! RowFusingBackend).runRows(kernel, prepared: prepared[index], inputs: inputs, outputs: outputs, sides: members.map(sideViews))
                }
                index = group.upperBound
                continue
            }
            let step = graph.steps[index]
            let output = try outputView(step)
            let views = try step.inputs.map(view)
            defer { index += 1 }
            switch step.kernel {
            case .primitive(var call):
                if freshDraws, case .random(let distribution, _, _) = call {
                    switch step.redraw {
                    case .processStream?:
                        let (seed, offset) = RandomStream.next()
                        call = .random(distribution, seed: seed, offset: offset)
                    case .seedStream(let draw)?:
                        call = .random(distribution, seed: seeds[draw], offset: 0)
                    case nil:
                        break
                    }
                }
                if step.partialProducts != nil {
                    try (backend as! SplitProductBackend).matmul(views[0], views[1], output: output, keepPartials: true)
                } else if runsOnDevice[index] {
                    try backend.execute(call, inputs: views, output: output)
                } else {
                    try Dispatch.fallback(call, views, output: output, backend: backend)
                }
            case .fused(let kernel):
                // Fusion only ran when the backend fuses (see init).
                try (backend as! FusingBackend).runFused(kernel, prepared: prepared[index], inputs: views, output: output, sides: try sideViews(step))
            }
        }
    }
}
