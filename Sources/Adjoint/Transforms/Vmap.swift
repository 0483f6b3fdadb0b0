/// `vmap`, JAX's vectorizing map, by batching rules (see docs/VMAP.md).
///
/// The function is called once, on per-example views of its arguments; every op runs its
/// batching rule on the whole batch, so there is no loop over examples. It composes with
/// the other transforms in any order: `vmap(grad(f))` gives per-example gradients.
enum Vectorization {
    /// Runs `function` once on per-example views of `arguments`, batched along `inAxes`
    /// (nil: not batched, the same value for every example), and returns its outputs with
    /// the batch at `outAxes` (one axis for all outputs, or one per output).
    static func map(
        _ arguments: [Tensor], inAxes: [Int?], outAxes: [Int], file: StaticString, line: UInt,
        _ function: ([Tensor]) -> [Tensor]
    ) -> [Tensor] {
        check(inAxes.count == arguments.count, "vmap", "\(inAxes.count) in-axes for \(arguments.count) argument tensors (shapes \(arguments.map(\.shape)))", file: file, line: line)
        var axes: [Int?] = []
        for (index, (argument, axis)) in zip(arguments, inAxes).enumerated() {
            guard let axis else { axes.append(nil); continue }
            let normalized = axis < 0 ? axis + argument.rank : axis
            check(normalized >= 0 && normalized < argument.rank, "vmap", "in-axis \(axis) is out of range for argument \(index) of shape \(argument.shape)", file: file, line: line)
            axes.append(normalized)
        }
        if let message = batchSizeMismatch(arguments.map(\.shape), axes: axes) {
            fatalError("Adjoint.vmap: \(message) (at \(file):\(line))")
        }
        guard let size = zip(arguments, axes).first(where: { $0.1 != nil }).map({ $0.0.shape[$0.1!] }) else {
            fatalError("Adjoint.vmap: no argument is batched (every in-axis is nil) for shapes \(arguments.map(\.shape)) (at \(file):\(line))")
        }
        let level = VmapLevel.current + 1
        let inputs = zip(arguments, axes).map { argument, axis in
            axis.map { Tensor.batched(argument.movingAxis($0, to: 0), level: level) } ?? argument
        }
        let outputs = VmapLevel.$current.withValue(level) { function(inputs) }
        check(outAxes.count == 1 || outAxes.count == outputs.count, "vmap", "\(outAxes.count) out-axes for \(outputs.count) outputs", file: file, line: line)
        return outputs.enumerated().map { index, output in
            let axis = outAxes.count == 1 ? outAxes[0] : outAxes[index]
            let normalized = axis < 0 ? axis + output.rank + 1 : axis
            check(normalized >= 0 && normalized <= output.rank, "vmap", "out-axis \(axis) is out of range for output \(index) of per-example shape \(output.shape)", file: file, line: line)
            if let box = output.batch, box.level > level {
                fatalError("Adjoint.vmap: output \(index) is batched by an inner vmap that has returned (at \(file):\(line))")
            }
            let physical = output.physical(at: level) ?? output.unsqueezed(axis: 0).expanded(to: [size] + output.shape)
            return physical.movingAxis(0, to: normalized)
        }
    }

    /// The programmer-error text when batched arguments disagree in batch size (naming both
    /// sizes and the arguments), or nil when they agree.
    static func batchSizeMismatch(_ shapes: [[Int]], axes: [Int?]) -> String? {
        var first: (index: Int, size: Int)?
        for (index, (shape, axis)) in zip(shapes, axes).enumerated() {
            guard let axis else { continue }
            let size = shape[axis]
            guard let reference = first else { first = (index, size); continue }
            if size != reference.size {
                return "batched inputs disagree in batch size: argument \(reference.index) (shape \(shapes[reference.index]), axis \(axes[reference.index]!)) has \(reference.size) examples but argument \(index) (shape \(shape), axis \(axis)) has \(size)"
            }
        }
        return nil
    }
}

extension Tensor {
    /// The same tensor with axis `source` moved to position `destination` (a view).
    func movingAxis(_ source: Int, to destination: Int) -> Tensor {
        if source == destination { return self }
        var order = Array(0..<rank)
        order.remove(at: source)
        order.insert(source, at: destination)
        return permuted(order)
    }
}

// MARK: One argument (a tensor or any tensor tree)

/// Vectorizes `function` over axis `inAxes` of every tensor of its argument (nil: the
/// argument is the same for every example), stacking its outputs along `outAxes`.
///
/// The function runs once, on per-example views; every op applies its batching rule, so
/// there is no loop over the batch.
///
/// ```swift
/// let perExample = vmap(grad { (x: Tensor) in (x * x).sum() })   // 2x, row by row
/// let rows = perExample(Tensor([[1, 2], [3, 4]] as [[Float]]))   // [[2, 4], [6, 8]]
/// ```
public func vmap<T: TensorTree, R: TensorTree>(
    _ function: @escaping (T) -> R, inAxes: Int? = 0, outAxes: Int = 0,
    file: StaticString = #fileID, line: UInt = #line
) -> (T) -> R {
    { argument in
        let tensors = argument.tensors
        var result: R?
        let outputs = Vectorization.map(tensors, inAxes: Array(repeating: inAxes, count: tensors.count), outAxes: [outAxes], file: file, line: line) { inputs in
            let value = function(argument.replacingTensors(inputs))
            result = value
            return value.tensors
        }
        return result!.replacingTensors(outputs)
    }
}

/// Vectorizes a function of a list of tensors with one in-axis per tensor (nil: not
/// batched), e.g. `inAxes: [0, 0, nil]`.
public func vmap<R: TensorTree>(
    _ function: @escaping ([Tensor]) -> R, inAxes: [Int?], outAxes: Int = 0,
    file: StaticString = #fileID, line: UInt = #line
) -> ([Tensor]) -> R {
    { arguments in
        var result: R?
        let outputs = Vectorization.map(arguments, inAxes: inAxes, outAxes: [outAxes], file: file, line: line) { inputs in
            let value = function(inputs)
            result = value
            return value.tensors
        }
        return result!.replacingTensors(outputs)
    }
}

/// Vectorizes a function with two outputs; each output's batch goes to its own out-axis.
public func vmap(
    _ function: @escaping (Tensor) -> (Tensor, Tensor), inAxes: Int? = 0, outAxes: (Int, Int) = (0, 0),
    file: StaticString = #fileID, line: UInt = #line
) -> (Tensor) -> (Tensor, Tensor) {
    { argument in
        let outputs = Vectorization.map([argument], inAxes: [inAxes], outAxes: [outAxes.0, outAxes.1], file: file, line: line) { inputs in
            let (first, second) = function(inputs[0])
            return [first, second]
        }
        return (outputs[0], outputs[1])
    }
}

// MARK: Two to four tensor arguments

/// Vectorizes a function of two tensors; `inAxes` gives each argument's batch axis (nil:
/// not batched).
///
/// ```swift
/// let dots = vmap({ (a: Tensor, b: Tensor) in (a * b).sum() }, inAxes: (0, nil))
/// ```
public func vmap<R: TensorTree>(
    _ function: @escaping (Tensor, Tensor) -> R, inAxes: (Int?, Int?) = (0, 0), outAxes: Int = 0,
    file: StaticString = #fileID, line: UInt = #line
) -> (Tensor, Tensor) -> R {
    { a, b in vmap({ (x: [Tensor]) in function(x[0], x[1]) }, inAxes: [inAxes.0, inAxes.1], outAxes: outAxes, file: file, line: line)([a, b]) }
}

/// Vectorizes a function of three tensors (see the two-tensor form).
public func vmap<R: TensorTree>(
    _ function: @escaping (Tensor, Tensor, Tensor) -> R, inAxes: (Int?, Int?, Int?) = (0, 0, 0), outAxes: Int = 0,
    file: StaticString = #fileID, line: UInt = #line
) -> (Tensor, Tensor, Tensor) -> R {
    { a, b, c in vmap({ (x: [Tensor]) in function(x[0], x[1], x[2]) }, inAxes: [inAxes.0, inAxes.1, inAxes.2], outAxes: outAxes, file: file, line: line)([a, b, c]) }
}

/// Vectorizes a function of four tensors (see the two-tensor form), e.g. per-example
/// gradients with shared parameters: `vmap(grad(loss), inAxes: (nil, 0, 0, 0))`.
public func vmap<R: TensorTree>(
    _ function: @escaping (Tensor, Tensor, Tensor, Tensor) -> R, inAxes: (Int?, Int?, Int?, Int?) = (0, 0, 0, 0), outAxes: Int = 0,
    file: StaticString = #fileID, line: UInt = #line
) -> (Tensor, Tensor, Tensor, Tensor) -> R {
    { a, b, c, d in vmap({ (x: [Tensor]) in function(x[0], x[1], x[2], x[3]) }, inAxes: [inAxes.0, inAxes.1, inAxes.2, inAxes.3], outAxes: outAxes, file: file, line: line)([a, b, c, d]) }
}
