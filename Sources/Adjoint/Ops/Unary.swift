import Foundation

/// Elementwise functions of one tensor, each followed by its derivative. Batching rule
/// (vmap): the op applies to the physical tensor as is.
extension Tensor {
    /// Runs a unary primitive and records `pullback`.
    func unary(_ op: UnaryOp, _ name: String, floatOnly: Bool = true, file: StaticString, line: UInt, pullback: @escaping Pullback) -> Tensor {
        check(!floatOnly || dtype.isFloatingPoint, name.lowercased(), "needs a floating-point tensor, got \(dtype) of shape \(shape)", file: file, line: line)
        let output: Tensor
        if let box = batch {
            output = Tensor.batched(box.physical.unary(op, name, floatOnly: floatOnly, file: file, line: line, pullback: pullback), level: box.level)
        } else if let uniform = Tensor.uniformBroadcast([self], to: shape) {
            output = Tensor(storage: Dispatch.run(.unary(op), uniform, shape: [], dtype: dtype, device: device), layout: Layout(shape: shape, strides: Array(repeating: 0, count: rank)))
        } else {
            output = Tensor(storage: Dispatch.run(.unary(op), [value], shape: shape, dtype: dtype, device: device), layout: Layout(contiguous: shape))
        }
        return Tensor.record(name, [self], output: output, file: file, line: line, pullback: pullback)
    }

    /// `-self`.
    public static prefix func - (x: Tensor) -> Tensor {
        x.unary(.neg, "Neg", floatOnly: false, file: #fileID, line: #line) { g, _, _ in [-g] }
    }

    /// `e^x`. d/dx = e^x.
    public func exp(file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        unary(.exp, "Exp", file: file, line: line) { g, _, y in [g * y] }
    }

    /// Natural logarithm. d/dx = 1/x.
    public func log(file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        unary(.log, "Log", file: file, line: line) { g, x, _ in [g / x[0]] }
    }

    /// Sine. d/dx = cos x.
    public func sin(file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        unary(.sin, "Sin", file: file, line: line) { g, x, _ in [Tensor.derivative(.sin, g, x[0])] }
    }

    /// Cosine. d/dx = -sin x.
    public func cos(file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        unary(.cos, "Cos", file: file, line: line) { g, x, _ in [Tensor.derivative(.cos, g, x[0])] }
    }

    /// Hyperbolic tangent. d/dx = 1 - tanh² x.
    public func tanh(file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        unary(.tanh, "Tanh", file: file, line: line) { g, _, y in [Tensor.derivative(.tanh, g, y)] }
    }

    /// Square root. d/dx = 1 / (2 √x).
    public func sqrt(file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        unary(.sqrt, "Sqrt", file: file, line: line) { g, _, y in [Tensor.derivative(.sqrt, g, y)] }
    }

    /// Logistic sigmoid `1 / (1 + e^-x)`. d/dx = σ(x)(1 - σ(x)).
    public func sigmoid(file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        unary(.sigmoid, "Sigmoid", file: file, line: line) { g, _, y in [Tensor.derivative(.sigmoid, g, y)] }
    }

    /// Absolute value. d/dx = sign x (0 at 0).
    public func abs(file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        unary(.abs, "Abs", floatOnly: false, file: file, line: line) { g, x, _ in [g * x[0].sign()] }
    }

    /// -1, 0 or 1. Zero gradient.
    public func sign(file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        unary(.sign, "Sign", floatOnly: false, file: file, line: line) { g, _, _ in [g * 0] }
    }

    /// Rounds down. Zero gradient.
    public func floor(file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        unary(.floor, "Floor", file: file, line: line) { g, _, _ in [g * 0] }
    }

    /// Rounds to the nearest integer, halves away from zero. Zero gradient.
    public func round(file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        unary(.round, "Round", file: file, line: line) { g, _, _ in [g * 0] }
    }

    /// Logical not of a bool tensor.
    public func logicalNot(file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        check(dtype == .bool, "logicalNot", "needs a bool tensor, got \(dtype)", file: file, line: line)
        if let box = batch { return Tensor.batched(box.physical.logicalNot(file: file, line: line), level: box.level) }
        return Tensor(storage: Dispatch.run(.unary(.logicalNot), [value], shape: shape, dtype: .bool, device: device), layout: Layout(contiguous: shape))
    }

    /// Converts to `dtype`. Float-to-float casts pass gradients (cast back); others do not.
    public func cast(to dtype: DType, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        if dtype == self.dtype { return self }
        let source = self.dtype
        let output = batch.map { Tensor.batched($0.physical.cast(to: dtype, file: file, line: line), level: $0.level) }
            ?? Tensor(storage: Dispatch.run(.cast, [value], shape: shape, dtype: dtype, device: device), layout: Layout(contiguous: shape))
        guard source.isFloatingPoint, dtype.isFloatingPoint else { return output }
        return Tensor.record("Cast", [self], output: output, file: file, line: line) { g, _, _ in [g.cast(to: source)] }
    }
}

/// `e^x` elementwise.
public func exp(_ x: Tensor) -> Tensor { x.exp() }
/// Natural logarithm elementwise.
public func log(_ x: Tensor) -> Tensor { x.log() }
/// Sine elementwise.
public func sin(_ x: Tensor) -> Tensor { x.sin() }
/// Cosine elementwise.
public func cos(_ x: Tensor) -> Tensor { x.cos() }
/// Hyperbolic tangent elementwise.
public func tanh(_ x: Tensor) -> Tensor { x.tanh() }
/// Square root elementwise.
public func sqrt(_ x: Tensor) -> Tensor { x.sqrt() }
/// Absolute value elementwise.
public func abs(_ x: Tensor) -> Tensor { x.abs() }
/// Logistic sigmoid elementwise.
public func sigmoid(_ x: Tensor) -> Tensor { x.sigmoid() }
/// Rounds down elementwise.
public func floor(_ x: Tensor) -> Tensor { x.floor() }
/// Rounds to nearest elementwise (halves away from zero).
public func round(_ x: Tensor) -> Tensor { x.round() }

extension OpRegistry {
    static let unaryShapes: [[[Int]]] = [[[]], [[7]], [[3, 4]], [[2, 3, 2]]]

    /// The unary ops.
    public static let unary: [OpInfo] = [
        OpInfo("neg", shapes: unaryShapes) { -$0[0] },
        OpInfo("exp", shapes: unaryShapes) { $0[0].exp() },
        OpInfo("log", shapes: unaryShapes, domain: .positive) { $0[0].log() },
        OpInfo("sin", shapes: unaryShapes) { $0[0].sin() },
        OpInfo("cos", shapes: unaryShapes) { $0[0].cos() },
        OpInfo("tanh", shapes: unaryShapes) { $0[0].tanh() },
        OpInfo("sqrt", shapes: unaryShapes, domain: .positive) { $0[0].sqrt() },
        OpInfo("sigmoid", shapes: unaryShapes) { $0[0].sigmoid() },
        OpInfo("abs", shapes: unaryShapes, domain: .awayFromKinks, smooth: false) { $0[0].abs() },
        OpInfo("sign", shapes: unaryShapes, domain: .awayFromKinks, zeroGradient: true) { $0[0].sign() },
        OpInfo("floor", shapes: unaryShapes, domain: .awayFromKinks, zeroGradient: true) { $0[0].floor() },
        OpInfo("round", shapes: unaryShapes, domain: .awayFromKinks, zeroGradient: true) { $0[0].round() },
    ]
}
