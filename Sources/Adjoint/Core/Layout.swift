/// How a tensor's elements sit in its buffer: a shape, a stride per axis (in elements,
/// 0 for a broadcast axis), and the offset of the first element.
///
/// Views (reshape of contiguous data, permute, expand, slices) change the layout only;
/// primitives read any layout and write contiguous results.
public struct Layout: Hashable, Sendable, CustomStringConvertible {
    /// Extent of each axis.
    public var shape: [Int]
    /// Elements to step in the buffer per unit step along each axis.
    public var strides: [Int]
    /// Position of element `[0, 0, ...]` in the buffer, in elements.
    public var offset: Int

    /// A row-major contiguous layout of `shape` starting at `offset`.
    public init(contiguous shape: [Int], offset: Int = 0) {
        self.shape = shape
        self.strides = Layout.contiguousStrides(for: shape)
        self.offset = offset
    }

    /// A layout with explicit strides.
    public init(shape: [Int], strides: [Int], offset: Int = 0) {
        precondition(shape.count == strides.count, "Layout: \(shape.count) extents but \(strides.count) strides")
        self.shape = shape
        self.strides = strides
        self.offset = offset
    }

    /// Row-major strides: the last axis is contiguous.
    public static func contiguousStrides(for shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var step = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = step
            step *= max(shape[axis], 1)
        }
        return strides
    }

    /// Number of axes.
    public var rank: Int { shape.count }
    /// Number of elements (1 for rank 0, 0 when any extent is 0).
    public var count: Int { shape.reduce(1, *) }

    /// Whether the elements are row-major and dense (strides of size-1 axes are ignored;
    /// an empty layout is).
    public var isContiguous: Bool {
        // An empty layout touches no memory (and `contiguousStrides` steps over its zero
        // extents as over ones).
        if shape.contains(0) { return true }
        var expected = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) where shape[axis] != 1 {
            if strides[axis] != expected { return false }
            expected *= shape[axis]
        }
        return true
    }

    /// The smallest number of buffer elements (from 0) that this layout can touch.
    public var requiredElements: Int {
        if count == 0 { return 0 }
        var last = offset
        for (extent, step) in zip(shape, strides) where step > 0 { last += (extent - 1) * step }
        return last + 1
    }

    /// Buffer position of the element at a multi-index.
    @inlinable
    public func position(of index: [Int]) -> Int {
        var position = offset
        for axis in 0..<index.count { position += index[axis] * strides[axis] }
        return position
    }

    public var description: String { "Layout(shape: \(shape), strides: \(strides), offset: \(offset))" }
}
