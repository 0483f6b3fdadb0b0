/// A value made of tensors that transforms can differentiate, map and batch: a tensor,
/// arrays and string-keyed dictionaries of trees, and user structs that conform.
///
/// ```swift
/// struct Params: TensorTree {
///     var w: Tensor, b: Tensor
///     var tensors: [Tensor] { [w, b] }
///     func rebuilt(from tensors: inout ArraySlice<Tensor>) -> Params {
///         Params(w: tensors.popFirst()!, b: tensors.popFirst()!)
///     }
/// }
/// ```
public protocol TensorTree {
    /// The tensors, in a fixed order.
    var tensors: [Tensor] { get }
    /// The same structure holding the next tensors of `tensors` (consumed from the front).
    func rebuilt(from tensors: inout ArraySlice<Tensor>) -> Self
}

extension TensorTree {
    /// The same structure holding `replacements` (one per element of `tensors`, in order).
    public func replacingTensors(_ replacements: [Tensor]) -> Self {
        var remaining = replacements[...]
        let result = rebuilt(from: &remaining)
        precondition(remaining.isEmpty, "TensorTree: \(replacements.count) tensors given for a tree of \(replacements.count - remaining.count)")
        return result
    }

    /// Applies `transform` to every tensor.
    public func mapTensors(_ transform: (Tensor) -> Tensor) -> Self {
        replacingTensors(tensors.map(transform))
    }
}

extension Tensor: TensorTree {
    /// Itself.
    public var tensors: [Tensor] { [self] }
    /// The next tensor.
    public func rebuilt(from tensors: inout ArraySlice<Tensor>) -> Tensor { tensors.popFirst()! }
}

extension Array: TensorTree where Element: TensorTree {
    /// The elements' tensors, in order.
    public var tensors: [Tensor] {
        // `[Tensor]`, the common case (every jitted call and transform reads it), without
        // an array per element.
        if Element.self == Tensor.self { return unsafeBitCast(self, to: [Tensor].self) }
        var result: [Tensor] = []
        result.reserveCapacity(count)
        for element in self { result.append(contentsOf: element.tensors) }
        return result
    }
    /// Each element rebuilt in turn.
    public func rebuilt(from tensors: inout ArraySlice<Tensor>) -> [Element] {
        if Element.self == Tensor.self {
            precondition(tensors.count >= count, "TensorTree: \(tensors.count) tensors left for an array of \(count)")
            let taken = Array<Tensor>(tensors.prefix(count))
            tensors.removeFirst(count)
            return unsafeBitCast(taken, to: [Element].self)
        }
        return map { $0.rebuilt(from: &tensors) }
    }
}

extension Dictionary: TensorTree where Key == String, Value: TensorTree {
    /// The values' tensors, in sorted key order.
    public var tensors: [Tensor] { keys.sorted().flatMap { self[$0]!.tensors } }
    /// Each value rebuilt in sorted key order.
    public func rebuilt(from tensors: inout ArraySlice<Tensor>) -> [String: Value] {
        var result: [String: Value] = [:]
        for key in keys.sorted() { result[key] = self[key]!.rebuilt(from: &tensors) }
        return result
    }
}
