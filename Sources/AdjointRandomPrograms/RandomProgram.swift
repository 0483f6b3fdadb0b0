import Adjoint

/// A random composition of ops over a few float32 inputs, drawn from a seed: chains of
/// elementwise work, broadcasts, reductions along any axis, matrix, vector and batched
/// products, permuted and sliced views, concatenations, labels picked by argmax; and for
/// some programs a Hessian-vector product on top of the gradient. The differential tests run it eagerly and through `jit`, whose
/// passes then see graphs no hand-written test composes.
///
/// Every op keeps values in a moderate range (exponentials of tanh, logarithms of
/// `|x| + 1`, products and sums scaled by `1/√k`), so float32 differences stay at rounding
/// level.
public struct RandomProgram: CustomStringConvertible, Sendable {
    enum Unary: String, CaseIterable, Sendable { case tanh, sin, cos, sigmoid, neg, abs, relu, softExp, logAbs, sqrtAbs, xTanhX, affine }
    enum Binary: String, CaseIterable, Sendable { case add, sub, mul, max, min, div, pow, greater }
    enum Reduction: String, CaseIterable, Sendable { case sum, mean, max, min }

    /// One op; its operands are indices into the values (the inputs, then each step's result).
    enum Op: Sendable {
        case unary(Unary)
        case binary(Binary)
        /// `where(a > b, c, d)`.
        case select
        /// Sums are scaled by `1/√length`.
        case reduce(Reduction, axis: Int?, keepDims: Bool)
        case logSumExp(axis: Int, keepDims: Bool)
        case softmax(axis: Int)
        /// `a.matmul(b) / √k`.
        case matmul
        /// Reversed axes of a matrix, a permutation of a rank-3 value.
        case permute([Int])
        /// `Σ where(argmax(b) == index, a, 0)` along the last axis: a label's value, as
        /// cross-entropy picks it (int32 comparisons, a one-hot select).
        case pick
        case slice(axis: Int, start: Int, end: Int, step: Int)
        /// `take` along an axis, by indices fixed when the program was drawn (repeats
        /// included: the pullback adds them up).
        case take(axis: Int, indices: [Int32])
        case pad([Int], [Int], value: Double)
        case stack(axis: Int)
        case unsqueeze(axis: Int)
        case squeeze(axis: Int)
        case clamp
        /// `conv2d(a, weight: b)` over `[N, C, H, W]`, scaled by `1/√(C·kh·kw)`.
        case conv(stride: Int, padding: Int)
        /// Max or average pooling of `[N, C, H, W]`.
        case pool(max: Bool, kernel: Int, stride: Int)
        case concat(axis: Int)
        case expand([Int])
        case reshape([Int])
    }

    struct Step: Sendable {
        let op: Op
        let operands: [Int]
        let shape: [Int]
    }

    /// The seed the program was drawn from.
    public let seed: UInt64
    /// The shapes of its float32 inputs.
    public let inputShapes: [[Int]]
    /// Whether `valuesAndGradients` also returns a Hessian-vector product.
    public let secondOrder: Bool
    let steps: [Step]
    /// Indices of the values the program returns (never inputs).
    public let outputs: [Int]

    /// The most elements a step's result may have.
    static let maximumElements = 400_000

    /// The program drawn from `seed` (the same program for a seed while this generator
    /// stays the same).
    public init(seed: UInt64) {
        self.seed = seed
        var draw = Draw(seed: seed)
        // Now and then no rows at all: every op must take empty tensors.
        let rows = draw.pick([1, 2, 7, 130, 1, 2, 7, 130, 0])
        var columns = draw.pick([1, 3, 33, 200, 1500])
        if rows == 130 && columns == 1500 { columns = 200 }
        let inner = draw.pick([4, 17])
        var family = [[rows, columns], [columns], [rows, 1], [1, columns], [], [rows, inner], [inner, columns], [columns, rows]]
        if draw.uniform() < 0.3 {
            let batch = draw.pick([2, 3])
            family += [[batch, rows, columns], [batch, 1, columns], [batch, rows, 1], [batch, columns, inner]]
        }
        secondOrder = draw.uniform() < 0.25
        var shapes = [[rows, columns]]
        for _ in 0..<draw.int(1...3) { shapes.append(draw.pick(family)) }
        if draw.uniform() < 0.15 {
            // Images, a convolution's weights and per-channel shapes.
            let size = draw.pick([5, 8])
            family += [[2, 3, size, size], [1, 3, 1, 1], [1, 4, 1, 1], [4, 3, 3, 3]]
            shapes += [[2, 3, size, size], [4, 3, 3, 3]]
        }
        inputShapes = shapes
        var steps: [Step] = []
        for _ in 0..<draw.int(4...13) {
            for _ in 0..<30 {
                // A bounded size: a flattened matrix broadcast against itself transposed
                // would hold 26,000² elements (the test process ran out of memory).
                if let step = Self.step(&draw, shapes: shapes, family: family.filter { $0.count >= 2 }),
                   step.shape.reduce(1, *) <= Self.maximumElements {
                    steps.append(step)
                    shapes.append(step.shape)
                    break
                }
            }
        }
        self.steps = steps
        let results = Array(inputShapes.count..<shapes.count)
        var outputs = results.isEmpty ? [] : [results.last!]
        if results.count > 1, draw.uniform() < 0.7 { outputs.insert(draw.pick(Array(results.dropLast())), at: 0) }
        self.outputs = outputs
    }

    /// The program's outputs for `inputs`.
    public func callAsFunction(_ inputs: [Tensor]) -> [Tensor] {
        var values = inputs
        for step in steps { values.append(Self.apply(step.op, step.operands.map { values[$0] })) }
        return outputs.map { values[$0] }
    }

    /// The program's scalar loss, `½ Σ output²` over every output.
    public func loss(_ inputs: [Tensor]) -> Tensor {
        Self.total(self(inputs).map { ($0 * $0).sum() * 0.5 })
    }

    /// The outputs, then the gradient of `loss` with respect to every input, and for
    /// `secondOrder` programs the Hessian of that loss times the direction `cos(xᵢ)`.
    public func valuesAndGradients(_ inputs: [Tensor]) -> [Tensor] {
        let values = self(inputs) + grad(loss)(inputs)
        guard secondOrder else { return values }
        let direction = inputs.map { $0.cos() }
        let product = grad { (x: [Tensor]) -> Tensor in Self.total(zip(grad(loss)(x), direction).map { ($0 * $1).sum() }) }
        return values + product(inputs)
    }

    /// The sum of scalar terms (at least one).
    private static func total(_ terms: [Tensor]) -> Tensor { terms.dropFirst().reduce(terms[0], +) }

    /// Normal draws for the inputs, reproducible per `call`.
    public func inputs(call: UInt64, on device: Device) -> [Tensor] {
        inputShapes.enumerated().map { index, shape in
            Tensor.randomNormal(shape, seed: seed &* 1_000 &+ call &* 10 &+ UInt64(index), on: device)
        }
    }

    /// The program, one step per line (`v3 = unary(tanh)(v1) [2, 3]`).
    public var description: String {
        var lines = ["random program \(seed): inputs \(inputShapes)" + (secondOrder ? ", with a Hessian-vector product" : "")]
        for (index, step) in steps.enumerated() {
            let name = "v\(inputShapes.count + index)"
            lines.append("  \(name) = \(step.op)(\(step.operands.map { "v\($0)" }.joined(separator: ", "))) \(step.shape)")
        }
        lines.append("  outputs \(outputs.map { "v\($0)" })")
        return lines.joined(separator: "\n")
    }

    // MARK: Running an op

    static func apply(_ op: Op, _ x: [Tensor]) -> Tensor {
        switch op {
        case .unary(let unary):
            let a = x[0]
            switch unary {
            case .tanh: return a.tanh()
            case .sin: return a.sin()
            case .cos: return a.cos()
            case .sigmoid: return a.sigmoid()
            case .neg: return -a
            case .abs: return a.abs()
            case .relu: return a.relu()
            case .softExp: return a.tanh().exp()
            case .logAbs: return (a.abs() + 1).log()
            case .sqrtAbs: return (a.abs() + 0.25).sqrt()
            case .xTanhX: return a * a.tanh()
            case .affine: return a * 0.5 + 0.25
            }
        case .binary(let binary):
            let (a, b) = (x[0], x[1])
            switch binary {
            case .add: return a + b
            case .sub: return a - b
            case .mul: return a * b
            case .max: return a.maximum(b)
            case .min: return a.minimum(b)
            case .div: return a / (b.abs() + 1)
            case .pow: return (a.abs() + 0.5).pow(b.tanh())
            case .greater: return (a .> b).cast(to: a.dtype)
            }
        case .select:
            return Tensor.where(x[0] .> x[1], x[2], x[3])
        case .reduce(let reduction, let axis, let keepDims):
            let axes = axis.map { [$0] }
            switch reduction {
            case .sum:
                let length = axis.map { x[0].shape[$0] } ?? x[0].count
                return x[0].sum(axes: axes, keepDims: keepDims) * (1 / Double(Swift.max(length, 1)).squareRoot())
            case .mean: return x[0].mean(axes: axes, keepDims: keepDims)
            case .max: return x[0].max(axes: axes, keepDims: keepDims)
            case .min: return x[0].min(axes: axes, keepDims: keepDims)
            }
        case .logSumExp(let axis, let keepDims):
            return x[0].logSumExp(axes: [axis], keepDims: keepDims)
        case .softmax(let axis):
            return x[0].softmax(axis: axis)
        case .matmul:
            let k = x[0].shape.last!
            return x[0].matmul(x[1]) * (1 / Double(k).squareRoot())
        case .permute(let axes):
            return x[0].permuted(axes)
        case .pick:
            let labels = x[1].argmax(axis: -1)
            let hits = labels.unsqueezed(axis: -1) .== Tensor.indices(x[1].shape.last!, on: x[1].device)
            return Tensor.where(hits, x[0], x[0] * 0).sum(axes: [-1])
        case .slice(let axis, let start, let end, let step):
            return x[0].slice(axis: axis, start: start, end: end, step: step)
        case .take(let axis, let indices):
            return x[0].take(Tensor(indices, shape: [indices.count], on: x[0].device), axis: axis)
        case .pad(let before, let after, let value):
            return x[0].padded(Array(zip(before, after)).map { (before: $0.0, after: $0.1) }, value: value)
        case .stack(let axis):
            return Tensor.stack([x[0], x[1]], axis: axis)
        case .unsqueeze(let axis):
            return x[0].unsqueezed(axis: axis)
        case .squeeze(let axis):
            return x[0].squeezed(axis: axis)
        case .clamp:
            return x[0].clamp(min: -0.5, max: 0.7)
        case .conv(let stride, let padding):
            let fanIn = x[1].shape.dropFirst().reduce(1, *)
            return x[0].conv2d(x[1], stride: stride, padding: padding) * (1 / Double(Swift.max(fanIn, 1)).squareRoot())
        case .pool(let max, let kernel, let stride):
            return max ? x[0].maxPool2d(kernel: kernel, stride: stride) : x[0].avgPool2d(kernel: kernel, stride: stride)
        case .concat(let axis):
            return Tensor.concat([x[0], x[1]], axis: axis)
        case .expand(let shape):
            return x[0].expanded(to: shape)
        case .reshape(let shape):
            return x[0].reshaped(shape)
        }
    }
}
