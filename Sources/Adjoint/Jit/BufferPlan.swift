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

    /// `groups`: runs of steps launched together; a buffer one of them touches stays
    /// live to the end of its run, so no member's output takes memory another reads.
    init(graph: JitGraph, reuse: Bool, groups: [Range<Int>] = []) {
        var groupEnd = Array(graph.steps.indices)
        for group in groups {
            for index in group { groupEnd[index] = group.upperBound - 1 }
        }
        var lastUse = [Int](repeating: -1, count: graph.buffers.count)
        for (index, step) in graph.steps.enumerated() {
            let end = groupEnd[index]
            for id in step.writtenBuffers + step.inputs.compactMap(\.bufferID) { lastUse[id] = max(lastUse[id], end) }
        }
        var dying = [[Int]](repeating: [], count: graph.steps.count)
        for (id, index) in lastUse.enumerated() where index >= 0 { dying[index].append(id) }
        let pinned = graph.outputBuffers
        slotOf = [Int?](repeating: nil, count: graph.buffers.count)
        slotBytes = []
        releasedAfter = [[Int]](repeating: [], count: graph.steps.count)
        var free: [Int] = []
        for (index, step) in graph.steps.enumerated() {
            for id in step.writtenBuffers where slotOf[id] == nil {
                let bytes = max(graph.buffers[id].byteCount, 1)
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
            for used in dying[index] where !pinned.contains(used) {
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
