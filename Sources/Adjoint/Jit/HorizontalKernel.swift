import AdjointKernels

/// Independent elementwise kernels launched as one: each member keeps its own operands,
/// output and element count, and work-item `e` runs the member whose range of the
/// concatenated index space holds it. An optimizer's update of each variable (different
/// shapes, no data between them) is one launch instead of one per variable, which on a
/// GPU saves the host's enqueue and the device's launch latency per kernel.
struct HorizontalKernel: Hashable, MemberKernels {
    /// The kernels, in program order; none reads another's output.
    var members: [FusedKernel]

    /// `jit_h6_<hash>`: six kernels in one.
    static let namePrefix = "jit_h"

    func body(name: String) -> String {
        let parameters = memberParameters + members.indices.map { "int n\($0)" }
        var text = "__kernel void \(name)(\(parameters.joined(separator: ", "))) {\n    int e = get_global_id(0);\n    "
        for (m, member) in members.enumerated() {
            // One if-else chain rather than early returns: PoCL ran W3's update (four
            // members, 1.9M elements) in 38 ms against 59 ms with returns (GPUs branch
            // either way per work-item).
            let condition = m == 0 ? "e < n0" : "(e -= n\(m - 1)) < n\(m)"
            text += (m == 0 ? "" : " else ") + "if (\(condition)) {\n" + member.statements(element: "e", operandPrefix: "in\(m)_")
                + "\n" + member.sideStores(prefix: "side\(m)_", element: "e") + "    out\(m)[e] = v\(member.nodes.count - 1);\n    }"
        }
        return text + "\n}\n"
    }
}

/// A generated kernel made of several fused kernels, each with its own parameters
/// (`HorizontalKernel`, `RowKernel`).
protocol MemberKernels: GeneratedKernel {
    var members: [FusedKernel] { get }
    /// The name's lead; the member count and a hash of the source follow.
    static var namePrefix: String { get }
    /// The kernel's source, named `name`.
    func body(name: String) -> String
}

extension MemberKernels {
    /// A stable name from the generated source (`jit_h6_<hash>`: six kernels in one).
    var name: String {
        let hash = OpenCLProgramCache.fnv1a(Array(body(name: "").utf8))
        return "\(Self.namePrefix)\(members.count)_" + String(hash, radix: 16)
    }

    /// The complete OpenCL program: the functor macros, then the kernel.
    var openCLSource: String { FusedKernel.header(float64: members.contains { $0.usesFloat64 }) + "\n" + body(name: name) }

    /// Every member's parameters in turn: its output `out<m>`, its stored values
    /// `side<m>` if it keeps them, and its operands `in<m>_<k>`.
    var memberParameters: [String] {
        members.enumerated().flatMap { m, member in
            ["__global \(FusedKernel.cType(member.outputType))* out\(m)"]
                + member.sideParameters(prefix: "side\(m)_")
                + member.operandTypes.enumerated().map { "__global const \(FusedKernel.cType($0.element))* in\(m)_\($0.offset)" }
        }
    }
}

/// A backend that launches several independent fused kernels as one (`HorizontalKernel`).
protocol HorizontalFusingBackend: FusingBackend {
    /// What `runHorizontal` looks up for `kernel`, kept per step like `prepare(_: FusedKernel)`.
    func prepare(_ kernel: HorizontalKernel) -> AnyObject?
    /// Runs `kernel`, member `m` reading `inputs[m]` into the contiguous `outputs[m]` (and
    /// its stored values into `sides[m]`); `prepared` is what `prepare(kernel)` returned,
    /// if anything.
    func runHorizontal(_ kernel: HorizontalKernel, prepared: AnyObject?, inputs: [[BufferView]], outputs: [BufferView], sides: [[BufferView]]) throws
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
            var written = Set(steps[start].writtenBuffers)
            var read = reads(steps[start])
            var parameters = 1 + steps[start].writtenBuffers.count + steps[start].inputs.count
            var end = start + 1
            while end < steps.count, end - start < limit, elementwise(end) {
                let step = steps[end], stepReads = reads(step), stepWrites = Set(step.writtenBuffers)
                // Each member adds its outputs (stored values included), its operands and
                // its element count.
                parameters += 1 + stepWrites.count + step.inputs.count
                guard stepReads.isDisjoint(with: written), read.isDisjoint(with: stepWrites), written.isDisjoint(with: stepWrites),
                      parameters <= RowKernel.maxParameters else { break }
                written.formUnion(stepWrites)
                read.formUnion(stepReads)
                end += 1
            }
            if end - start >= 2 { groups.append(start..<end) }
            start = end
        }
        return groups
    }
}
