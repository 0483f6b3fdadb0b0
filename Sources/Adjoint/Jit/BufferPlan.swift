/// Which memory slot holds each buffer of a program while it runs.
///
/// Without reuse every buffer has its own slot, held to the end of the call. With reuse a
/// slot returns to a free list after the last step that touches its buffer and the next
/// buffer takes the smallest free slot that fits (or grows the largest), so a long chain
/// runs in a few slots. Output buffers always get their own slots: they leave the
/// program as tensors.
struct BufferPlan {
    /// Slot of each buffer the steps write (nil for inputs and unused buffers).
    var slotOf: [Int?]
    /// Bytes of each slot.
    var slotBytes: [Int]
    /// Slots whose buffers are dead after each step.
    var releasedAfter: [[Int]]

    init(graph: JitGraph, reuse: Bool) {
        var lastUse = [Int](repeating: -1, count: graph.buffers.count)
        for (index, step) in graph.steps.enumerated() {
            lastUse[step.output] = max(lastUse[step.output], index)
            for input in step.inputs {
                if case .buffer(let id) = input.ref { lastUse[id] = max(lastUse[id], index) }
            }
        }
        var pinned = Set<Int>()
        for output in graph.outputs {
            if case .buffer(let id) = output.ref { pinned.insert(id) }
        }
        slotOf = [Int?](repeating: nil, count: graph.buffers.count)
        slotBytes = []
        releasedAfter = [[Int]](repeating: [], count: graph.steps.count)
        var free: [Int] = []
        for (index, step) in graph.steps.enumerated() {
            let id = step.output
            if slotOf[id] == nil {
                let bytes = max(graph.buffers[id].count * graph.buffers[id].dtype.byteSize, 1)
                if reuse, !pinned.contains(id), let position = BufferPlan.pick(free, slotBytes, bytes) {
                    let slot = free.remove(at: position)
                    slotBytes[slot] = max(slotBytes[slot], bytes)
                    slotOf[id] = slot
                } else {
                    slotBytes.append(bytes)
                    slotOf[id] = slotBytes.count - 1
                }
            }
            guard reuse else { continue }
            var touched = Set([id])
            for input in step.inputs {
                if case .buffer(let used) = input.ref { touched.insert(used) }
            }
            for used in touched.sorted() where lastUse[used] == index && !pinned.contains(used) {
                if let slot = slotOf[used] { releasedAfter[index].append(slot) }
            }
            free += releasedAfter[index]
        }
    }

    private static func pick(_ free: [Int], _ bytes: [Int], _ need: Int) -> Int? {
        guard !free.isEmpty else { return nil }
        let fitting = free.indices.filter { bytes[free[$0]] >= need }.min { bytes[free[$0]] < bytes[free[$1]] }
        return fitting ?? free.indices.max { bytes[free[$0]] < bytes[free[$1]] }
    }
}
