/// The batched-tensor representation behind `vmap` (the functorch design).
///
/// Inside `vmap` at level L, a batched tensor is a per-example view: its `shape` is the
/// logical (one-example) shape and its `batch` box holds the physical tensor, whose axis 0
/// is the batch. The physical tensor may itself be batched at a lower level (nested vmap).
/// Every op checks its inputs' boxes first and, when one is batched, runs its batching
/// rule: it calls itself on the physical tensors (axes shifted by one, unbatched inputs
/// broadcast) and wraps the result at the same level. Autodiff nodes live at each level:
/// a node on the batched view is recorded by transforms inside the vmap; nodes on the
/// physical tensors by transforms outside it.
final class BatchBox: @unchecked Sendable {
    /// The data of every example, batch on axis 0.
    let physical: Tensor
    /// The vmap level that batched it (1 for the outermost vmap).
    let level: Int

    init(physical: Tensor, level: Int) {
        self.physical = physical
        self.level = level
    }

    /// Number of examples.
    var size: Int { physical.shape[0] }
}

/// The innermost active vmap level of the current task (0 outside vmap).
enum VmapLevel {
    @TaskLocal static var current = 0
}

extension Tensor {
    /// Wraps `physical` (batch on axis 0) as a per-example tensor at `level`.
    static func batched(_ physical: Tensor, level: Int) -> Tensor {
        var example = physical.layout
        example.shape.removeFirst()
        example.strides.removeFirst()
        return Tensor(storage: physical.storage, layout: example, batch: BatchBox(physical: physical, level: level))
    }

    /// The highest vmap level among `tensors` and its batch size, or nil when none is batched.
    static func batchLevel(_ tensors: [Tensor]) -> (level: Int, size: Int)? {
        var found: (level: Int, size: Int)?
        for tensor in tensors {
            if let box = tensor.batch, box.level > (found?.level ?? 0) { found = (box.level, box.size) }
        }
        return found
    }

    /// The physical tensor when batched at `level` (batch on axis 0), else nil.
    func physical(at level: Int) -> Tensor? {
        guard let box = batch, box.level == level else { return nil }
        return box.physical
    }

    /// The physical tensor at `level` with the batch on axis 0; an input not batched at
    /// that level is broadcast (a stride-0 view) to `size` examples.
    func physical(at level: Int, size: Int) -> Tensor {
        if let physical = physical(at: level) { return physical }
        return unsqueezed(axis: 0).expanded(to: [size] + shape)
    }

    /// The physical tensor at `level` with unit axes after the batch axis up to logical
    /// rank `rank`, so numpy broadcasting lines it up with the other operands; an input not
    /// batched at that level is returned as is (it broadcasts along the batch axis).
    func aligned(at level: Int, rank: Int) -> Tensor {
        guard let physical = physical(at: level) else { return self }
        if self.rank == rank { return physical }
        return physical.reshaped([physical.shape[0]] + [Int](repeating: 1, count: rank - self.rank) + shape)
    }

    /// The same value without this level's autodiff node; the history of the physical
    /// tensor (recorded by transforms outside the vmap) is kept.
    var levelValue: Tensor {
        var copy = self
        copy.node = nil
        return copy
    }

    /// Whether no level of this tensor has an autodiff history (only leaves, or nothing).
    var isLeafAtEveryLevel: Bool {
        isLeaf && (batch?.physical.isLeafAtEveryLevel ?? true)
    }

    /// Stops a host read of a per-example view inside vmap.
    func checkNotBatched(_ op: String, file: StaticString, line: UInt) {
        check(batch == nil, op, "cannot read the values of a batched tensor (per-example shape \(shape)) inside vmap; return it from the vmapped function instead", file: file, line: line)
    }
}
