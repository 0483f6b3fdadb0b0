import AdjointKernels

/// Independent elementwise kernels launched as one: each member keeps its own operands,
/// output and element count, and work-item `e` runs the member whose range of the
/// concatenated index space holds it. An optimizer's update of each variable (different
/// shapes, no data between them) is one launch instead of one per variable, which on a
/// GPU saves the host's enqueue and the device's launch latency per kernel.
struct HorizontalKernel: Hashable {
    /// The kernels, in program order; none reads another's output.
    var members: [FusedKernel]

    /// A stable name from the generated source (`jit_h6_<hash>`: six kernels in one).
    var name: String {
        let hash = OpenCLProgramCache.fnv1a(Array(body(name: "").utf8))
        return "jit_h\(members.count)_" + String(hash, radix: 16)
    }

    /// The complete OpenCL program: the functor macros, then the kernel.
    var openCLSource: String { FusedKernel.functors + "\n" + body(name: name) }

    private func body(name: String) -> String {
        var parameters: [String] = []
        for (m, member) in members.enumerated() {
            parameters.append("__global \(FusedKernel.cType(member.types.last!))* out\(m)")
            parameters += member.operandTypes.enumerated().map { "__global const \(FusedKernel.cType($0.element))* in\(m)_\($0.offset)" }
        }
        parameters += members.indices.map { "int n\($0)" }
        var text = "__kernel void \(name)(\(parameters.joined(separator: ", "))) {\n    int e = get_global_id(0);\n"
        for (m, member) in members.enumerated() {
            text += "    if (e < n\(m)) {\n" + member.statements(element: "e", operandPrefix: "in\(m)_")
                + "\n    out\(m)[e] = v\(member.nodes.count - 1);\n    return;\n    }\n    e -= n\(m);\n"
        }
        return text + "}\n"
    }
}

/// A backend that launches several independent fused kernels as one (`HorizontalKernel`).
protocol HorizontalFusingBackend: FusingBackend {
    /// What `runHorizontal` looks up for `kernel`, kept per step like `prepare(_: FusedKernel)`.
    func prepare(_ kernel: HorizontalKernel) -> AnyObject?
    /// Runs `kernel`, member `m` reading `inputs[m]` into the contiguous `outputs[m]`;
    /// `prepared` is what `prepare(kernel)` returned, if anything.
    func runHorizontal(_ kernel: HorizontalKernel, prepared: AnyObject?, inputs: [[BufferView]], outputs: [BufferView]) throws
}

extension JitGraph {
    /// Runs of adjacent fused elementwise steps that can launch together (at most
    /// `limit` each): no step reads or writes a buffer another step of the run writes.
    /// Steps in `taken` (row kernels' members) never join.
    func horizontalGroups(limit: Int = 16, taken: Set<Int> = []) -> [Range<Int>] {
        func elementwise(_ index: Int) -> Bool {
            if case .fused(let kernel) = steps[index].kernel { return kernel.reduction == nil && !taken.contains(index) }
            return false
        }
        func reads(_ step: JitStep) -> Set<Int> { Set(step.inputs.compactMap(\.bufferID)) }
        var groups: [Range<Int>] = []
        var start = 0
        while start < steps.count {
            guard elementwise(start) else {
                start += 1
                continue
            }
            var written: Set<Int> = [steps[start].output]
            var read = reads(steps[start])
            var end = start + 1
            while end < steps.count, end - start < limit, elementwise(end) {
                let step = steps[end], stepReads = reads(step)
                guard stepReads.isDisjoint(with: written), !read.contains(step.output), !written.contains(step.output) else { break }
                written.insert(step.output)
                read.formUnion(stepReads)
                end += 1
            }
            if end - start >= 2 { groups.append(start..<end) }
            start = end
        }
        return groups
    }
}
