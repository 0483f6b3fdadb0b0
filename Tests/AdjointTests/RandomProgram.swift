import Adjoint
import AdjointTestSupport

/// A random composition of ops over a few float32 inputs, drawn from a seed: chains of
/// elementwise work, broadcasts, reductions along any axis, matrix, vector and batched
/// products, permuted and sliced views, concatenations, labels picked by argmax; and for
/// some programs a Hessian-vector product on top of the gradient. The differential tests run it eagerly and through `jit`, whose
/// passes then see graphs no hand-written test composes.
///
/// Every op keeps values in a moderate range (exponentials of tanh, logarithms of
/// `|x| + 1`, products and sums scaled by `1/√k`), so float32 differences stay at rounding
/// level.
struct RandomProgram: CustomStringConvertible, Sendable {
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

    let seed: UInt64
    let inputShapes: [[Int]]
    /// Whether `valuesAndGradients` also returns a Hessian-vector product.
    let secondOrder: Bool
    let steps: [Step]
    /// Indices of the values the program returns (never inputs).
    let outputs: [Int]

    /// The program drawn from `seed`.
    init(seed: UInt64) {
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
                if let step = Self.step(&draw, shapes: shapes, family: family.filter { $0.count >= 2 }) {
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
    func callAsFunction(_ inputs: [Tensor]) -> [Tensor] {
        var values = inputs
        for step in steps { values.append(Self.apply(step.op, step.operands.map { values[$0] })) }
        return outputs.map { values[$0] }
    }

    /// The outputs, then the gradient of `½ Σ output²` with respect to every input, and
    /// for `secondOrder` programs the Hessian of that loss times the direction `cos(xᵢ)`.
    func valuesAndGradients(_ inputs: [Tensor]) -> [Tensor] {
        let loss = { (x: [Tensor]) -> Tensor in
            let losses = self(x).map { ($0 * $0).sum() * 0.5 }
            return losses.dropFirst().reduce(losses[0], +)
        }
        let values = self(inputs) + grad(loss)(inputs)
        guard secondOrder else { return values }
        let direction = inputs.map { $0.cos() }
        let product = grad { (x: [Tensor]) -> Tensor in
            let products = zip(grad(loss)(x), direction).map { ($0 * $1).sum() }
            return products.dropFirst().reduce(products[0], +)
        }
        return values + product(inputs)
    }

    /// Normal draws for the inputs, reproducible per `call`.
    func inputs(call: UInt64, on device: Device) -> [Tensor] {
        inputShapes.enumerated().map { index, shape in
            Tensor.randomNormal(shape, seed: seed &* 1_000 &+ call &* 10 &+ UInt64(index), on: device)
        }
    }

    var description: String {
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

    // MARK: Drawing a step

    /// A step over the values so far, or nil when the drawn kind has no operands that fit.
    private static func step(_ draw: inout Draw, shapes: [[Int]], family: [[Int]]) -> Step? {
        func operand(_ candidates: [Int]) -> Int? {
            guard !candidates.isEmpty else { return nil }
            // Half the time the newest candidate: long chains are what fusion works on.
            return draw.uniform() < 0.5 ? candidates.last! : draw.pick(candidates)
        }
        func broadcasting(with shape: [Int]) -> [Int] {
            shapes.indices.filter { Tensor.broadcastShape(shape, shapes[$0]) != nil }
        }
        let all = Array(shapes.indices)
        let ranked = all.filter { !shapes[$0].isEmpty && shapes[$0].allSatisfy { $0 > 0 } }
        let kind = draw.weighted([("unary", 3), ("binary", 4), ("select", 1), ("reduce", 2), ("logSumExp", 0.7), ("softmax", 0.7),
                                  ("matmul", 1.5), ("permute", 1), ("pick", 0.5), ("slice", 1), ("take", 0.6), ("pad", 0.5),
                                  ("stack", 0.4), ("unsqueeze", 0.3), ("squeeze", 0.3), ("clamp", 0.3), ("conv", 1), ("pool", 1), ("concat", 0.7), ("expand", 0.7), ("reshape", 0.5)])
        switch kind {
        case "unary":
            guard let a = operand(all) else { return nil }
            return Step(op: .unary(draw.pick(Unary.allCases)), operands: [a], shape: shapes[a])
        case "binary":
            guard let a = operand(all), let b = operand(broadcasting(with: shapes[a])) else { return nil }
            return Step(op: .binary(draw.pick(Binary.allCases)), operands: [a, b], shape: Tensor.broadcastShape(shapes[a], shapes[b])!)
        case "select":
            guard let a = operand(all), let b = operand(broadcasting(with: shapes[a])) else { return nil }
            var shape = Tensor.broadcastShape(shapes[a], shapes[b])!
            guard let c = operand(broadcasting(with: shape)) else { return nil }
            shape = Tensor.broadcastShape(shape, shapes[c])!
            guard let d = operand(broadcasting(with: shape)) else { return nil }
            return Step(op: .select, operands: [a, b, c, d], shape: Tensor.broadcastShape(shape, shapes[d])!)
        case "reduce":
            guard let a = operand(all.filter { !shapes[$0].isEmpty }) else { return nil }
            let axis: Int? = draw.uniform() < 0.3 ? nil : draw.int(0...(shapes[a].count - 1))
            let keepDims = draw.uniform() < 0.5
            var shape = shapes[a]
            // Only a sum reduces an empty axis (a max of nothing stops with a message).
            let reduction = ranked.contains(a) ? draw.pick(Reduction.allCases) : .sum
            if let axis { if keepDims { shape[axis] = 1 } else { shape.remove(at: axis) } } else { shape = keepDims ? shape.map { _ in 1 } : [] }
            return Step(op: .reduce(reduction, axis: axis, keepDims: keepDims), operands: [a], shape: shape)
        case "logSumExp":
            guard let a = operand(ranked) else { return nil }
            let axis = draw.int(0...(shapes[a].count - 1)), keepDims = draw.uniform() < 0.5
            var shape = shapes[a]
            if keepDims { shape[axis] = 1 } else { shape.remove(at: axis) }
            return Step(op: .logSumExp(axis: axis, keepDims: keepDims), operands: [a], shape: shape)
        case "softmax":
            guard let a = operand(ranked) else { return nil }
            return Step(op: .softmax(axis: draw.int(0...(shapes[a].count - 1))), operands: [a], shape: shapes[a])
        case "matmul":
            guard let a = operand(all.filter { !shapes[$0].isEmpty }) else { return nil }
            let left = shapes[a], k = left.last!
            // Matrix and vector products, and batched ones ([b, m, k] by [k, n] or [b, k, n]).
            let right = all.filter { index in
                let shape = shapes[index]
                switch (left.count, shape.count) {
                case (1, 2), (2, 1), (2, 2), (3, 2): return shape[0] == k
                case (3, 3): return shape[0] == left[0] && shape[1] == k
                default: return false
                }
            }
            guard k > 0, let b = operand(right) else { return nil }
            let shape: [Int]
            switch (left.count, shapes[b].count) {
            case (1, _): shape = [shapes[b][1]]
            case (_, 1): shape = Array(left.dropLast())
            default: shape = Array(left.dropLast()) + [shapes[b].last!]
            }
            return Step(op: .matmul, operands: [a, b], shape: shape)
        case "permute":
            guard let a = operand(all.filter { shapes[$0].count >= 2 }) else { return nil }
            var axes = Array(shapes[a].indices)
            while axes == Array(shapes[a].indices) { axes = draw.shuffled(axes) }
            return Step(op: .permute(axes), operands: [a], shape: axes.map { shapes[a][$0] })
        case "pick":
            guard let a = operand(ranked), let b = operand(all.filter { shapes[$0] == shapes[a] }) else { return nil }
            return Step(op: .pick, operands: [a, b], shape: Array(shapes[a].dropLast()))
        case "slice":
            guard let a = operand(all.filter { shapes[$0].contains { $0 >= 2 } }) else { return nil }
            let axis = draw.pick(shapes[a].indices.filter { shapes[a][$0] >= 2 })
            let length = shapes[a][axis], start = draw.int(0...1), end = length - draw.int(0...1), step = draw.int(1...2)
            guard start < end else { return nil }
            var shape = shapes[a]
            shape[axis] = (end - start + step - 1) / step
            return Step(op: .slice(axis: axis, start: start, end: end, step: step), operands: [a], shape: shape)
        case "concat":
            guard let a = operand(ranked) else { return nil }
            let axis = draw.int(0...(shapes[a].count - 1))
            let fits = all.filter { b in
                shapes[b].count == shapes[a].count && shapes[b].indices.allSatisfy { $0 == axis || shapes[b][$0] == shapes[a][$0] }
            }
            guard let b = operand(fits) else { return nil }
            var shape = shapes[a]
            shape[axis] += shapes[b][axis]
            return Step(op: .concat(axis: axis), operands: [a, b], shape: shape)
        case "expand":
            guard let a = operand(all), let target = operand(family.indices.filter {
                family[$0] != shapes[a] && Tensor.broadcastShape(shapes[a], family[$0]) == family[$0]
            }) else { return nil }
            return Step(op: .expand(family[target]), operands: [a], shape: family[target])
        case "take":
            guard let a = operand(all.filter { shapes[$0].contains { $0 > 0 } }) else { return nil }
            let axis = draw.pick(shapes[a].indices.filter { shapes[a][$0] > 0 })
            let indices = (0..<draw.int(1...5)).map { _ in Int32(draw.int(0...(shapes[a][axis] - 1))) }
            var shape = shapes[a]
            shape[axis] = indices.count
            return Step(op: .take(axis: axis, indices: indices), operands: [a], shape: shape)
        case "pad":
            guard let a = operand(all.filter { !shapes[$0].isEmpty }) else { return nil }
            let before = shapes[a].map { _ in draw.int(0...2) }, after = shapes[a].map { _ in draw.int(0...1) }
            let shape = zip(shapes[a], zip(before, after)).map { $0 + $1.0 + $1.1 }
            return Step(op: .pad(before, after, value: draw.pick([0, 0.5])), operands: [a], shape: shape)
        case "stack":
            guard let a = operand(all.filter { shapes[$0].count <= 3 }), let b = operand(all.filter { shapes[$0] == shapes[a] }) else { return nil }
            let axis = draw.int(0...shapes[a].count)
            var shape = shapes[a]
            shape.insert(2, at: axis)
            return Step(op: .stack(axis: axis), operands: [a, b], shape: shape)
        case "unsqueeze":
            guard let a = operand(all.filter { shapes[$0].count <= 3 }) else { return nil }
            let axis = draw.int(0...shapes[a].count)
            var shape = shapes[a]
            shape.insert(1, at: axis)
            return Step(op: .unsqueeze(axis: axis), operands: [a], shape: shape)
        case "squeeze":
            guard let a = operand(all.filter { shapes[$0].contains(1) }) else { return nil }
            let axis = draw.pick(shapes[a].indices.filter { shapes[a][$0] == 1 })
            var shape = shapes[a]
            shape.remove(at: axis)
            return Step(op: .squeeze(axis: axis), operands: [a], shape: shape)
        case "clamp":
            guard let a = operand(all) else { return nil }
            return Step(op: .clamp, operands: [a], shape: shapes[a])
        case "conv":
            guard let a = operand(all.filter { shapes[$0].count == 4 && shapes[$0][2] >= 2 && shapes[$0][3] >= 2 }) else { return nil }
            let image = shapes[a], stride = draw.int(1...2), padding = draw.int(0...1)
            guard let b = operand(all.filter { shapes[$0].count == 4 && shapes[$0][1] == image[1] && shapes[$0][0] > 0
                && shapes[$0][2] <= image[2] + 2 * padding && shapes[$0][3] <= image[3] + 2 * padding }) else { return nil }
            let weight = shapes[b]
            let shape = [image[0], weight[0], (image[2] + 2 * padding - weight[2]) / stride + 1, (image[3] + 2 * padding - weight[3]) / stride + 1]
            return Step(op: .conv(stride: stride, padding: padding), operands: [a, b], shape: shape)
        case "pool":
            guard let a = operand(all.filter { shapes[$0].count == 4 && shapes[$0][2] >= 3 && shapes[$0][3] >= 3 && !shapes[$0].contains(0) }) else { return nil }
            let (kernel, stride) = draw.pick([(2, 2), (3, 2), (2, 1)])
            let image = shapes[a]
            let shape = [image[0], image[1], (image[2] - kernel) / stride + 1, (image[3] - kernel) / stride + 1]
            return Step(op: .pool(max: draw.uniform() < 0.5, kernel: kernel, stride: stride), operands: [a], shape: shape)
        default:
            guard let a = operand(all.filter { shapes[$0].count >= 1 }) else { return nil }
            let shape = shapes[a]
            let target: [Int]
            switch shape.count {
            case 1: target = [1, shape[0]]
            case 2: target = draw.uniform() < 0.5 ? [shape[1], shape[0]] : [shape[0] * shape[1]]
            case 3: target = [shape[0] * shape[1], shape[2]]
            default: target = [shape[0] * shape[1], shape[2] * shape[3]]
            }
            return Step(op: .reshape(target), operands: [a], shape: target)
        }
    }
}

/// The generator's random source (xorshift, as the library's `InputSampler`).
struct Draw {
    private var sampler: InputSampler

    init(seed: UInt64) { sampler = InputSampler(seed: seed &+ 0x5EED) }

    mutating func uniform() -> Double { sampler.uniform() }

    mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Swift.min(Int(uniform() * Double(range.count)), range.count - 1)
    }

    mutating func pick<T>(_ values: [T]) -> T { values[int(0...(values.count - 1))] }

    mutating func shuffled<T>(_ values: [T]) -> [T] {
        var values = values
        for i in values.indices.reversed() where i > 0 { values.swapAt(i, int(0...i)) }
        return values
    }

    mutating func weighted(_ choices: [(String, Double)]) -> String {
        var u = uniform() * choices.reduce(0) { $0 + $1.1 }
        for (name, weight) in choices {
            if u < weight { return name }
            u -= weight
        }
        return choices.last!.0
    }
}
