extension Tensor {
    /// Attaches a graph node to `output` when gradients are being recorded and any of
    /// `inputs` requires grad; the one way ops join the autodiff graph.
    static func record(
        _ name: String, _ inputs: [Tensor], output: Tensor, file: StaticString, line: UInt,
        pullback: @escaping Pullback
    ) -> Tensor {
        guard GradMode.isEnabled, output.dtype.isFloatingPoint, inputs.contains(where: { $0.node != nil }) else {
            return output
        }
        var result = output
        result.node = GradNode(op: name, inputs: inputs, pullback: pullback, output: output, file: file, line: line)
        return result
    }
}

/// Stops an op with a programmer-error message that names the op and the call site.
/// (`fatalError`, not `precondition`, so release builds with -Ounchecked keep the check.)
@inline(__always)
func check(_ condition: @autoclosure () -> Bool, _ op: String, _ message: @autoclosure () -> String, file: StaticString, line: UInt) {
    if !condition() {
        fatalError("Adjoint.\(op): \(message()) (at \(file):\(line))")
    }
}
