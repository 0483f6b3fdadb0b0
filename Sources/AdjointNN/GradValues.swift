import Adjoint

/// The values a loss function returns to `GradValues`: the first is differentiated, the
/// rest are passed through.
public enum LossValues: @unchecked Sendable {
    /// A single loss.
    case single(Tensor)
    /// The loss followed by extra values.
    case several([Tensor])
    /// Named values; `primary` names the one differentiated.
    case named([String: Tensor], primary: String)

    /// The differentiated value.
    var loss: Tensor {
        switch self {
        case .single(let value): return value
        case .several(let values): return values[0]
        case .named(let values, let primary): return values[primary]!
        }
    }

    /// The same values, detached.
    var detached: LossValues {
        switch self {
        case .single(let value): return .single(value.detach())
        case .several(let values): return .several(values.map { $0.detach() })
        case .named(let values, let primary): return .named(values.mapValues { $0.detach() }, primary: primary)
        }
    }
}

/// Objax's `GradValues` as a module: calling it returns the gradients of a loss with
/// respect to chosen inputs and variables, and the loss values.
///
/// Its `vars()` are the very variables it differentiates (shared with the model, not
/// copies). Gradients come back inputs first (in `inputArgnums` order), then variables
/// (in `vars` order).
///
/// ```swift
/// let gv = GradValues({ x, y in .single(crossEntropyLogits(model(x), y).mean()) }, vars: model.vars())
/// let (gradients, values) = gv(x, y)
/// ```
public final class GradValues: Module, @unchecked Sendable {
    let function: ([Tensor]) -> LossValues
    let variables: VarCollection
    /// The positions of the inputs to differentiate.
    public let inputArgnums: [Int]

    /// Differentiates `function` (of any number of tensor inputs) w.r.t. the TrainVars in
    /// `vars` and the inputs at `inputArgnums`.
    public init(_ function: @escaping ([Tensor]) -> LossValues, vars: VarCollection, inputArgnums: [Int] = []) {
        self.function = function
        self.variables = vars.subset(TrainVar.self)
        self.inputArgnums = inputArgnums
    }

    /// Two-input convenience (e.g. data and labels).
    public convenience init(_ function: @escaping (Tensor, Tensor) -> LossValues, vars: VarCollection, inputArgnums: [Int] = []) {
        self.init({ function($0[0], $0[1]) }, vars: vars, inputArgnums: inputArgnums)
    }

    override public func vars(scope: String = "") -> VarCollection { variables }

    /// Gradients (inputs first, then variables) and the loss values.
    public func callAsFunction(_ inputs: [Tensor]) -> (gradients: [Tensor], values: LossValues) {
        for index in inputArgnums where index < 0 || index >= inputs.count {
            fatalError("AdjointNN.GradValues: inputArgnums \(inputArgnums) out of range for \(inputs.count) inputs")
        }
        let trainVars = variables.trainVars
        let saved = trainVars.map(\.value)
        defer { zip(trainVars, saved).forEach { $0.value = $1 } }
        var values: LossValues?
        let argnums = inputArgnums, function = self.function
        let arguments = argnums.map { inputs[$0] } + saved
        let gradients = grad { (tensors: [Tensor]) -> Tensor in
            var callInputs = inputs
            for (position, index) in argnums.enumerated() { callInputs[index] = tensors[position] }
            for (variable, tensor) in zip(trainVars, tensors.dropFirst(argnums.count)) { variable.value = tensor }
            let computed = function(callInputs)
            values = computed
            return computed.loss
        }(arguments)
        return (gradients, values!.detached)
    }

    /// Gradients and values for two inputs.
    public func callAsFunction(_ first: Tensor, _ second: Tensor) -> (gradients: [Tensor], values: LossValues) {
        self([first, second])
    }
}
