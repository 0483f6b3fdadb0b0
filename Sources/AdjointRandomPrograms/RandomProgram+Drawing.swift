import Adjoint

/// How a random program draws its steps.
extension RandomProgram {
    /// A step over the values so far, or nil when the drawn kind has no operands that fit.
    static func step(_ draw: inout Draw, shapes: [[Int]], family: [[Int]]) -> Step? {
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
            // Kernels of at most 25 taps: the window adjoint adds each tap in its own step,
            // and a 1500×4 kernel made a graph of tens of thousands of steps.
            guard let b = operand(all.filter { shapes[$0].count == 4 && shapes[$0][1] == image[1] && shapes[$0][0] > 0
                && shapes[$0][2] * shapes[$0][3] <= 25
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
public struct Draw {
    private var sampler: InputSampler

    /// A source seeded with `seed`.
    public init(seed: UInt64) { sampler = InputSampler(seed: seed &+ 0x5EED) }

    /// The next value in [0, 1).
    public mutating func uniform() -> Double { sampler.uniform() }

    /// A value in `range`.
    public mutating func int(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Swift.min(Int(uniform() * Double(range.count)), range.count - 1)
    }

    /// One of `values`.
    public mutating func pick<T>(_ values: [T]) -> T { values[int(0...(values.count - 1))] }

    /// `values` in a random order.
    public mutating func shuffled<T>(_ values: [T]) -> [T] {
        var values = values
        for i in values.indices.reversed() where i > 0 { values.swapAt(i, int(0...i)) }
        return values
    }

    /// One of the names, drawn with probability proportional to its weight.
    public mutating func weighted(_ choices: [(String, Double)]) -> String {
        var u = uniform() * choices.reduce(0) { $0 + $1.1 }
        for (name, weight) in choices {
            if u < weight { return name }
            u -= weight
        }
        return choices.last!.0
    }
}
