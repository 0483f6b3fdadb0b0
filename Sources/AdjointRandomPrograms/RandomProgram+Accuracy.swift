import Adjoint

extension RandomProgram {
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
