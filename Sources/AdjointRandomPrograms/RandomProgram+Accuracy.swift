import Adjoint

extension RandomProgram {
    /// The program's values and gradients compiled with jit and called three times on
    /// `device` (new inputs, then the same ones again: a replay on memory it has seen),
    /// each call held to the eager run's accuracy (`accuracyProblems`); `againstCPU` also
    /// holds the first eager run to the CPU's. Returns the problems, labelled by call,
    /// and the compiled function (its trace count and last program).
    public func jitProblems(on device: Device, againstCPU: Bool = false) throws
        -> (problems: [String], compiled: JitFunction<[Tensor], NoStaticArgument, [Tensor]>) {
        let compiled = jit(name: "random program \(seed)") { (x: [Tensor]) in valuesAndGradients(x) }
        var problems: [String] = []
        for call: UInt64 in [0, 1, 1] {
            let inputs = self.inputs(call: call, on: device)
            let cpuInputs = inputs.map { $0.to(.cpu) }
            let exact = valuesAndGradients(cpuInputs.map { $0.cast(to: .float64) })
            let eager = valuesAndGradients(inputs)
            problems += try accuracyProblems(compiled(inputs), eager, exact: exact).map { "jit call \(call) on \(device): \($0)" }
            if againstCPU && call == 0 {
                problems += try accuracyProblems(eager, valuesAndGradients(cpuInputs), exact: exact).map { "\(device) against the CPU: \($0)" }
            }
        }
        return (problems, compiled)
    }

    /// Where `actual` is less accurate than `reference` (both float32 results of
    /// `valuesAndGradients`): against `exact` (the program in float64), an element's error
    /// may be ten times the reference's largest (a value that is zero in exact arithmetic,
    /// the gradient of a softmax's sum, is rounding noise in both) plus 10⁻⁴ (10⁻³ past the
    /// program's own outputs: gradients) of the output's largest magnitude (a long sum adds
    /// in another order). NaN in both counts as equal. One line per output that fails.
    public func accuracyProblems(_ actual: [Tensor], _ reference: [Tensor], exact: [Tensor]) throws -> [String] {
        guard actual.count == reference.count, exact.count == reference.count else {
            return ["\(actual.count) outputs against \(reference.count) (\(exact.count) in float64)"]
        }
        var problems: [String] = []
        for (index, (a, r)) in zip(actual, reference).enumerated() {
            guard a.shape == r.shape else {
                problems.append("output \(index): shape \(a.shape) against \(r.shape)")
                continue
            }
            let values = try a.doubles(), referenceValues = try r.doubles(), exactValues = try exact[index].doubles()
            let scale = 1 + (exactValues.filter { !$0.isNaN }.map { Swift.abs($0) }.max() ?? 0)
            let referenceError = zip(referenceValues, exactValues).map { Swift.abs($0 - $1) }.filter { !$0.isNaN }.max() ?? 0
            let tolerance = (index < outputs.count ? 1e-4 : 1e-3) * scale + 10 * referenceError
            var worst = 0.0, worstIndex = -1
            for (i, (x, y)) in zip(values, exactValues).enumerated() where !(Swift.abs(x - y) <= tolerance) && !(x.isNaN && y.isNaN) {
                if !(Swift.abs(x - y) <= worst) { worst = Swift.abs(x - y); worstIndex = i }
            }
            if worstIndex >= 0 {
                problems.append("output \(index) element \(worstIndex): \(values[worstIndex]) against \(referenceValues[worstIndex]) "
                    + "(float64: \(exactValues[worstIndex]), tolerance \(tolerance))")
            }
        }
        return problems
    }
}
