import CParallel
import Foundation

/// Splits loops across cores on a pool of worker threads (`CParallel`: one per other
/// CPU the process may use, spinning briefly between loops, then parked) when they are
/// large enough to pay for the fan-out. `DispatchQueue.concurrentPerform` woke a parked
/// thread per loop, and the main job's jitted MLP step ran faster pinned to one core than
/// on two (`adjoint-bench FM-MLP --mode jit`: 1.04-1.07 against 1.18-1.25 ms).
enum CPUParallel {
    /// Threads one loop runs on: the CPUs of the process's affinity mask.
    static let threadCount = Int(adjoint_available_cpus())
    /// Elements of a cheap elementwise loop below which one thread is faster.
    static let elementGrain = 131_072

    /// Runs `body` over contiguous ranges covering `0..<count`, each at least `grain`
    /// units long (except when `count` is smaller), in parallel when there is more than
    /// one range. Ranges are disjoint and `body` may run on any thread.
    @inline(__always)
    static func forEachRange(count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
        let taskCount = threadCount == 1 ? 1 : min(threadCount * 4, count / max(grain, 1))
        if taskCount <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        perform(iterations: taskCount) { task in
            let start = count * task / taskCount
            let end = count * (task + 1) / taskCount
            body(start..<end)
        }
    }

    /// Runs `body(i)` for every i in `0..<iterations`, on the pool and this thread; on
    /// this thread alone when the pool is busy with another thread's loop (or this is a
    /// loop inside one). The callers hand each iteration disjoint memory.
    static func perform(iterations: Int, _ body: (Int) -> Void) {
        guard iterations > 1 else {
            if iterations == 1 { body(0) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            var closure = escapable
            let ran = withUnsafeMutablePointer(to: &closure) { pointer in
                adjoint_parallel_run({ context, iteration in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(iteration)
                }, pointer, iterations)
            }
            if ran != 0 {
                for iteration in 0..<iterations { escapable(iteration) }
            }
        }
    }
}

/// An iteration over up to four views of one shape (inputs and output), with the axes
/// collapsed as far as their strides allow: the last remaining axis becomes a run of
/// `innerCount` elements stepping by `innerStrides`, the rest are walked as rows.
///
/// Contiguous views collapse to a single run; a broadcast scalar keeps stride 0 in every
/// lane, so row kernels can spot both cases and use straight loops.
struct StridedPlan {
    /// Extents of the row axes (all but the innermost), outermost first.
    var outerShape: [Int]
    /// Per row axis, the step of each operand (lanes beyond the operand count are 0).
    var outerStrides: [SIMD4<Int>]
    /// Length of the innermost run.
    var innerCount: Int
    /// Step of each operand along the innermost run.
    var innerStrides: SIMD4<Int>
    /// Total elements.
    var count: Int

    /// A plan over `shape` where operand `k` steps by `strides[k][axis]`.
    init(shape: [Int], strides: [[Int]]) {
        precondition(strides.count <= 4, "StridedPlan takes at most four operands")
        count = shape.reduce(1, *)
        var extents: [Int] = []
        var steps: [SIMD4<Int>] = []
        for axis in shape.indices where shape[axis] != 1 {
            var step = SIMD4<Int>(repeating: 0)
            for operand in strides.indices {
                precondition(strides[operand].count == shape.count, "StridedPlan: operand \(operand) has rank \(strides[operand].count), shape \(shape)")
                step[operand] = strides[operand][axis]
            }
            if let previousStep = steps.last, previousStep == step &* SIMD4(repeating: shape[axis]) {
                extents[extents.count - 1] *= shape[axis]
                steps[steps.count - 1] = step
            } else {
                extents.append(shape[axis])
                steps.append(step)
            }
        }
        innerCount = extents.popLast() ?? 1
        innerStrides = steps.popLast() ?? SIMD4(repeating: 0)
        outerShape = extents
        outerStrides = steps
    }

    /// A plan over views of one shape (the first view's), output included.
    init(_ layouts: Layout...) {
        let shape = layouts[0].shape
        for layout in layouts {
            precondition(layout.count == layouts[0].count, "CPU elementwise: views \(layouts.map(\.shape)) differ in size")
        }
        // A view of the same size but another shape (rank 0 against [1], say) can only be
        // matched element for element when it is contiguous.
        self.init(shape: shape, strides: layouts.map { layout in
            if layout.shape == shape { return layout.strides }
            precondition(layout.isContiguous, "CPU elementwise: view \(layout) does not match shape \(shape)")
            return Layout.contiguousStrides(for: shape)
        })
    }

    /// Calls `run(offsets, length)` for every run of elements: `offsets[k]` is operand
    /// `k`'s element offset at the run's start, and the run continues for `length`
    /// elements stepping by `innerStrides`. Large iterations are split across cores.
    @inline(__always)
    func forEachRun(grain: Int = CPUParallel.elementGrain, _ run: (SIMD4<Int>, Int) -> Void) {
        CPUParallel.forEachRange(count: count, grain: grain) { range in
            forEachRun(in: range, run)
        }
    }

    /// The runs covering elements `range` (row-major numbering).
    @inline(__always)
    func forEachRun(in range: Range<Int>, _ run: (SIMD4<Int>, Int) -> Void) {
        if outerShape.isEmpty {
            run(innerStrides &* SIMD4(repeating: range.lowerBound), range.count)
            return
        }
        var row = range.lowerBound / innerCount
        var column = range.lowerBound % innerCount
        var counter = [Int](repeating: 0, count: outerShape.count)
        var rowOffsets = SIMD4<Int>(repeating: 0)
        for axis in stride(from: outerShape.count - 1, through: 0, by: -1) {
            counter[axis] = row % outerShape[axis]
            row /= outerShape[axis]
            rowOffsets &+= outerStrides[axis] &* SIMD4(repeating: counter[axis])
        }
        var remaining = range.count
        while remaining > 0 {
            let length = min(innerCount - column, remaining)
            run(rowOffsets &+ innerStrides &* SIMD4(repeating: column), length)
            remaining -= length
            column = 0
            var axis = outerShape.count - 1
            while axis >= 0 {
                counter[axis] += 1
                rowOffsets &+= outerStrides[axis]
                if counter[axis] < outerShape[axis] { break }
                rowOffsets &-= outerStrides[axis] &* SIMD4(repeating: outerShape[axis])
                counter[axis] = 0
                axis -= 1
            }
        }
    }
}
