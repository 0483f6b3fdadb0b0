import Adjoint

/// Objax's `Vectorize` as a module: calls a function or layer on a batch as if on each
/// example, by `vmap` (batching rules, no loop over examples).
///
/// Each input is batched along its entry of `batchAxis` (nil: the same input for every
/// example); the output's batch is axis 0. Variables are not batched: every example sees
/// the module's current values, and gradients with respect to them sum over the batch.
/// `vars()` returns the variables of the wrapped function or layer, so `GradValues` and
/// optimizers can be built on the vectorized module directly.
///
/// ```swift
/// let batched = Vectorize(nestedLoss, vars: gv.vars(), batchAxis: [0, 0, 0, 0, nil])
/// let meanLoss = batched(x1, y1, x2, y2, mu).mean()
/// ```
public final class Vectorize: Module, @unchecked Sendable {
    let function: ([Tensor]) -> Tensor
    let variables: VarCollection
    /// The batch axis of each input (nil: not batched).
    public let batchAxis: [Int?]

    /// Vectorizes `function` (of `batchAxis.count` tensors) whose variables are `vars`.
    public init(_ function: @escaping ([Tensor]) -> Tensor, vars: VarCollection = VarCollection(), batchAxis: [Int?]) {
        self.function = function
        self.variables = vars
        self.batchAxis = batchAxis
    }

    /// Vectorizes a layer over axis `batchAxis` of its input; `vars()` are the layer's.
    public convenience init(_ layer: some Layer, batchAxis: Int = 0) {
        self.init({ layer($0[0]) }, vars: layer.vars(), batchAxis: [batchAxis])
    }

    /// The wrapped function's or layer's variables (not copies).
    override public func vars(scope: String = "") -> VarCollection { variables }

    /// The function applied to every example of `inputs`, results stacked on axis 0.
    public func callAsFunction(_ inputs: [Tensor], file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        guard inputs.count == batchAxis.count else {
            fatalError("AdjointNN.Vectorize: \(inputs.count) inputs for \(batchAxis.count) batch axes \(batchAxis) (at \(file):\(line))")
        }
        return vmap(function, inAxes: batchAxis, file: file, line: line)(inputs)
    }

    /// The function applied to every example of the inputs, results stacked on axis 0.
    public func callAsFunction(_ inputs: Tensor..., file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        self(inputs, file: file, line: line)
    }
}
