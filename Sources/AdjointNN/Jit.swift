import Adjoint

/// Objax's `Jit` as a module: compiles a function of tensors that reads and writes module
/// variables, such as a whole training step (forward, backward, optimizer update).
///
/// The variables' values (weights, optimizer moments, batch-norm statistics) are inputs of
/// the compiled program and their new values are outputs, written back after every call,
/// so the program never holds stale weights. Optimizer state, Adam's `StepCounter`
/// included, lives on the device, so SGD, Momentum and Adam steps replay one program.
/// `RandomState` streams stay on the host: a step that draws from one (dropout) traces
/// once, and every replay asks the stream for fresh seeds, as the eager step would.
/// See docs/JIT.md.
///
/// ```swift
/// let step = Jit({ x, y in
///     let (g, v) = gv(x, y)
///     opt(lr: 0.1, g)
///     return v
/// }, vars: gv.vars() + opt.vars())
/// let values = step(x, y)
/// ```
public final class Jit<Output: TensorTree>: Module, @unchecked Sendable {
    private let variables: VarCollection
    private let deviceVars: [BaseVar]
    private var compiled: JitFunction<[Tensor], NoStaticArgument, [Tensor]>!
    private var template: Output?

    /// Compiles `function` of any number of tensors; `vars` are the variables it reads or writes.
    public init(_ function: @escaping ([Tensor]) -> Output, vars: VarCollection, name: String = "Jit", options: JitOptions = JitOptions()) {
        variables = vars
        var seen = Set<ObjectIdentifier>()
        let unique = vars.variables.filter { seen.insert(ObjectIdentifier($0)).inserted }
        deviceVars = unique.filter { !($0 is RandomState) }
        super.init()
        compiled = jit(name: name, options: options) { [unowned self] (tensors: [Tensor]) -> [Tensor] in
            let inputCount = tensors.count - deviceVars.count
            for (variable, value) in zip(deviceVars, tensors[inputCount...]) { variable.assign(value) }
            let output = function(Array(tensors[..<inputCount]))
            template = output
            return output.tensors + deviceVars.map(\.value)
        }
    }

    /// Compiles a function of one tensor.
    public convenience init(_ function: @escaping (Tensor) -> Output, vars: VarCollection, name: String = "Jit", options: JitOptions = JitOptions()) {
        self.init({ function($0[0]) }, vars: vars, name: name, options: options)
    }

    /// Compiles a function of two tensors (inputs and labels, say).
    public convenience init(_ function: @escaping (Tensor, Tensor) -> Output, vars: VarCollection, name: String = "Jit", options: JitOptions = JitOptions()) {
        self.init({ function($0[0], $0[1]) }, vars: vars, name: name, options: options)
    }

    /// The variables the compiled function reads and writes.
    override public func vars(scope: String = "") -> VarCollection { variables }

    /// How many times the function has been traced.
    public var traceCount: Int { compiled.traceCount }
    /// Calls that replayed a compiled program.
    public var cacheHits: Int { compiled.cacheHits }
    /// Calls that ran as one recorded submission, and the recordings made for them.
    public var recordedReplays: (replays: Int, recordings: Int) { compiled.recordedReplays }
    /// The program the last call ran.
    public var lastProgram: JitProgramSummary? { compiled.lastProgram }

    /// Runs the compiled program and writes the variables' new values back.
    public func callAsFunction(_ inputs: [Tensor]) -> Output {
        let originals = deviceVars.map(\.value)
        let results = compiled(inputs.map { $0.detach() } + originals.map { $0.detach() })
        let outputCount = results.count - deviceVars.count
        for (variable, value) in zip(deviceVars, results[outputCount...]) { variable.assign(value) }
        return template!.replacingTensors(Array(results[..<outputCount]))
    }

    /// Runs the compiled function of one tensor.
    public func callAsFunction(_ input: Tensor) -> Output { self([input]) }

    /// Runs the compiled function of two tensors.
    public func callAsFunction(_ first: Tensor, _ second: Tensor) -> Output { self([first, second]) }
}

extension LossValues: TensorTree {
    /// The values, in order (named values in sorted key order).
    public var tensors: [Tensor] {
        switch self {
        case .single(let value): return [value]
        case .several(let values): return values
        case .named(let values, _): return values.keys.sorted().map { values[$0]! }
        }
    }

    /// The same case holding the next tensors.
    public func rebuilt(from tensors: inout ArraySlice<Tensor>) -> LossValues {
        switch self {
        case .single: return .single(tensors.popFirst()!)
        case .several(let values): return .several(values.map { _ in tensors.popFirst()! })
        case .named(let values, let primary):
            var result: [String: Tensor] = [:]
            for key in values.keys.sorted() { result[key] = tensors.popFirst()! }
            return .named(result, primary: primary)
        }
    }
}
