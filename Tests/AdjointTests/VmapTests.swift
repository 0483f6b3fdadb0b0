import Adjoint
import AdjointTestSupport
import Foundation
import Testing

/// vmap: every registry op against the loop-and-stack reference (batch axis in every
/// position, unbatched inputs too, forward and per-example VJP), the JAX worked examples,
/// composition with the other transforms, and programmer errors; on every device.
@Suite struct VmapTests {
    typealias Case = OpCase

    static var cases: [Case] { OpCase.all }

    /// Every assignment of a batch axis (0...rank) or nil to each input, not all nil.
    static func axisChoices(_ shapes: [[Int]]) -> [[Int?]] {
        var choices: [[Int?]] = [[]]
        for shape in shapes {
            choices = choices.flatMap { prefix in ([nil] + (0...shape.count).map { Optional($0) }).map { prefix + [$0] } }
        }
        return choices.filter { $0.contains { $0 != nil } }
    }

    /// `values` (one example after another) stacked into a tensor with the batch at `axis`.
    static func stacked(_ examples: [[Double]], shape: [Int], axis: Int, device: Device) -> Tensor {
        let rows = examples.map { Tensor(doubles: $0, shape: shape, dtype: .float64, on: device) }
        return Tensor.stack(rows, axis: axis)
    }

    @Test(arguments: cases)
    func everyOpMatchesLoopAndStack(_ testCase: Case) throws {
        let op = testCase.op, device = testCase.device
        let batch = 3
        var data = TestData(seed: 17 &+ UInt64(op.name.utf8.reduce(0) { $0 &* 31 &+ UInt64($1) }))
        for shapes in op.shapes {
            for axes in Self.axisChoices(shapes) {
                let examples = shapes.map { shape in (0..<batch).map { _ in data.values(shape.reduce(1, *), domain: op.domain) } }
                let inputs = shapes.indices.map { index -> Tensor in
                    guard let axis = axes[index] else { return Tensor(doubles: examples[index][0], shape: shapes[index], dtype: .float64, on: device) }
                    return Self.stacked(examples[index], shape: shapes[index], axis: axis, device: device)
                }
                let reference = (0..<batch).map { example in
                    op.apply(shapes.indices.map { index in
                        Tensor(doubles: examples[index][axes[index] == nil ? 0 : example], shape: shapes[index], dtype: .float64, on: device)
                    })
                }
                let expected = try Tensor.stack(reference).doubles()
                let batched = vmap({ (x: [Tensor]) in op.apply(x) }, inAxes: axes)(inputs)
                #expect(batched.shape == [batch] + reference[0].shape, "\(op.name) \(shapes) axes \(axes)")
                expectClose(batched, expected, tolerance: 1e-10, "\(op.name) \(shapes) axes \(axes) on \(device)")
            }
        }
    }

    /// Per-example VJPs of every op: vmap over the inputs and the cotangent of the pullback
    /// equals the stacked single-example gradients.
    @Test(arguments: cases.filter { !$0.op.zeroGradient })
    func everyOpVJPMatchesLoopAndStack(_ testCase: Case) throws {
        let op = testCase.op, device = testCase.device
        let batch = 3
        var data = TestData(seed: 29 &+ UInt64(op.name.utf8.count))
        for shapes in op.shapes {
            let outputShape = noGrad { op.apply(shapes.map { Tensor.zeros($0, dtype: .float64, on: device) + 0.5 }) }.shape
            for firstAxis in [0, shapes[0].count] {
                for othersBatched in [true, false] {
                    let axes: [Int?] = shapes.indices.map { $0 == 0 ? firstAxis : (othersBatched ? 0 : nil) }
                    let examples = shapes.map { shape in (0..<batch).map { _ in data.values(shape.reduce(1, *), domain: op.domain) } }
                    let cotangents = (0..<batch).map { _ in data.values(outputShape.reduce(1, *), domain: .any) }
                    func pullback(_ tensors: [Tensor]) -> [Tensor] {
                        let (inputs, seed) = (Array(tensors.dropLast()), tensors.last!)
                        let (_, back) = vjp({ (x: [Tensor]) in op.apply(x) }, inputs)
                        return back(seed)
                    }
                    let reference = (0..<batch).map { example in
                        pullback(shapes.indices.map { index in
                            Tensor(doubles: examples[index][axes[index] == nil ? 0 : example], shape: shapes[index], dtype: .float64, on: device)
                        } + [Tensor(doubles: cotangents[example], shape: outputShape, dtype: .float64, on: device)])
                    }
                    let inputs = shapes.indices.map { index -> Tensor in
                        guard let axis = axes[index] else { return Tensor(doubles: examples[index][0], shape: shapes[index], dtype: .float64, on: device) }
                        return Self.stacked(examples[index], shape: shapes[index], axis: axis, device: device)
                    } + [Self.stacked(cotangents, shape: outputShape, axis: 0, device: device)]
                    let batched = vmap(pullback, inAxes: axes + [0])(inputs)
                    for index in shapes.indices {
                        expectClose(batched[index], try Tensor.stack(reference.map { $0[index] }).doubles(), tolerance: 1e-10,
                                    "\(op.name) \(shapes) axes \(axes) gradient of input \(index) on \(device)")
                    }
                }
            }
        }
    }

    static let tdLoss: @Sendable (Tensor, Tensor, Tensor, Tensor) -> Tensor = { theta, previous, reward, next in
        let value: (Tensor, Tensor) -> Tensor = { theta, state in theta.matmul(state) }
        return (stopGradient(reward + value(theta, next)) - value(theta, previous)).squared()
    }

    @Test(arguments: TestDevices.all)
    func perExampleTDGradients(device: Device) {
        withDevice(device) {
            let theta = Tensor([0.1, -0.1, 0] as [Float])
            let previous = Tensor([1, 2, -1] as [Float]), reward = Tensor(Float(1)), next = Tensor([2, 1, 0] as [Float])
            let batchedPrevious = Tensor.stack([previous, previous]), batchedReward = Tensor.stack([reward, reward])
            let batchedNext = Tensor.stack([next, next])
            let perExample = vmap(grad(Self.tdLoss), inAxes: (nil, 0, 0, 0))
            let gradients = perExample(theta, batchedPrevious, batchedReward, batchedNext)
            #expect(gradients.shape == [2, 3])
            expectClose(gradients, [-2.4, -4.8, 2.4, -2.4, -4.8, 2.4])
            let allBatched = vmap(grad(Self.tdLoss))(Tensor.stack([theta, theta]), batchedPrevious, batchedReward, batchedNext)
            expectClose(allBatched, [-2.4, -4.8, 2.4, -2.4, -4.8, 2.4], "θ batched too")
        }
    }

    @Test(arguments: TestDevices.all)
    func perExampleMLPGradientsEqualSingleExampleGradients(device: Device) throws {
        try withDevice(device) { () throws in
            let w1 = Tensor.randomNormal([5, 8], standardDeviation: 0.5, seed: 1), b1 = Tensor.randomNormal([8], seed: 2)
            let w2 = Tensor.randomNormal([8, 3], standardDeviation: 0.5, seed: 3), b2 = Tensor.randomNormal([3], seed: 4)
            let x = Tensor.randomNormal([64, 5], seed: 5), y = Tensor.randomNormal([64, 3], seed: 6)
            let loss: ([Tensor], Tensor, Tensor) -> Tensor = { p, x, y in
                let hidden = (x.matmul(p[0]) + p[1]).relu()
                return (hidden.matmul(p[2]) + p[3] - y).squared().mean()
            }
            let params = [w1, b1, w2, b2]
            let perExample = vmap({ (x: Tensor, y: Tensor) in grad { (p: [Tensor]) in loss(p, x, y) }(params) })(x, y)
            #expect(perExample.map(\.shape) == [[64, 5, 8], [64, 8], [64, 8, 3], [64, 3]])
            for example in 0..<64 {
                let single = grad { (p: [Tensor]) in loss(p, x[example], y[example]) }(params)
                for index in params.indices {
                    expectClose(perExample[index][example], try single[index].doubles(), tolerance: 1e-5, "example \(example) parameter \(index)")
                }
            }
        }
    }

    @Test(arguments: TestDevices.all)
    func axesNestingAndSeveralOutputs(device: Device) throws {
        try withDevice(device) { () throws in
            let m = Tensor([[1, 2, 3], [4, 5, 6]] as [[Float]])
            expectClose(vmap({ (row: Tensor) in row.sum() })(m), [6, 15])
            expectClose(vmap({ (column: Tensor) in column.sum() }, inAxes: -1)(m), [5, 7, 9], "negative in-axis")
            let doubled = vmap({ (column: Tensor) in column * 2 }, inAxes: 1, outAxes: 1)(m)
            expectClose(doubled, [2, 4, 6, 8, 10, 12], "out-axis puts the batch back")
            let transposed = vmap({ (row: Tensor) in row * 1 }, inAxes: 0, outAxes: -1)(m)
            #expect(transposed.shape == [3, 2])
            expectClose(transposed, [1, 4, 2, 5, 3, 6])
            let outer = vmap({ (a: Tensor) in vmap({ (b: Tensor) in a * b })(Tensor([1, 10] as [Float])) })(Tensor([1, 2, 3] as [Float]))
            #expect(outer.shape == [3, 2])
            expectClose(outer, [1, 10, 2, 20, 3, 30], "nested vmap: outer product")
            let pairwise = vmap({ (x: Tensor) in vmap({ (y: Tensor) in (x - y).squared().sum() })(m) })(m)
            expectClose(pairwise, [0, 27, 27, 0], "nested vmap over both operands")
            let (sums, maxima) = vmap({ (row: Tensor) in (row.sum(), row.max()) }, outAxes: (0, 0))(m)
            expectClose(sums, [6, 15])
            expectClose(maxima, [3, 6])
            let constant = vmap({ (_: Tensor) in Tensor(Float(7)) })(m)
            expectClose(constant, [7, 7], "an unbatched output is broadcast")
            let tree = vmap({ (p: [String: Tensor]) in ["s": p["a"]! + p["b"]!] })(["a": m, "b": m * 10])
            expectClose(tree["s"]!, [11, 22, 33, 44, 55, 66])
        }
    }

    @Test(arguments: TestDevices.all)
    func compositionWithDerivativeTransforms(device: Device) throws {
        try withDevice(device) { () throws in
            let f: (Tensor) -> Tensor = { x in (x.sin() * x).sum() }
            let xs = Tensor([[0.5, -1, 2], [1.5, 0.3, -0.7]] as [[Double]])
            let rows = try (0..<2).map { try xs[$0].doubles() }
            let gradient: (Double) -> Double = { Foundation.sin($0) + $0 * Foundation.cos($0) }
            let second: (Double) -> Double = { 2 * Foundation.cos($0) - $0 * Foundation.sin($0) }
            expectClose(vmap(grad(f))(xs), rows.flatMap { $0.map(gradient) }, tolerance: 1e-10, "vmap(grad)")
            let total: (Tensor) -> Tensor = { xs in vmap(f)(xs).sum() }
            expectClose(grad(total)(xs), rows.flatMap { $0.map(gradient) }, tolerance: 1e-10, "grad(vmap then sum)")
            let hessians = vmap(hessian(f))(xs)
            #expect(hessians.shape == [2, 3, 3])
            let expected = rows.flatMap { row in (0..<3).flatMap { i in (0..<3).map { j in i == j ? second(row[i]) : 0 } } }
            expectClose(hessians, expected, tolerance: 1e-10, "vmap(hessian)")
            expectClose(grad { (x: Tensor) in vmap(grad(f))(x).sum() }(xs), rows.flatMap { $0.map(second) }, tolerance: 1e-10, "grad(vmap(grad))")
            let weight = Tensor([2, -1, 0.5] as [Double]).requiringGrad()
            vmap({ (x: Tensor) in (x * weight).sin().sum() })(xs).sum().backward()
            let cosines = rows.flatMap { row in zip(row, [2, -1, 0.5]).map { Foundation.cos($0 * $1) * $0 } }
            expectClose(weight.grad!, (0..<3).map { cosines[$0] + cosines[3 + $0] }, tolerance: 1e-10, "backward() through vmap into a closed-over leaf")
            let w = Tensor([[0.5, -1, 2], [1, 0.25, -0.5]] as [[Double]])
            let g: (Tensor) -> Tensor = { x in w.matmul(x.tanh()) }
            let jacobians = vmap(jacrev(g))(xs), forward = vmap(jacfwd(g))(xs)
            #expect(jacobians.shape == [2, 2, 3])
            expectClose(forward, try jacobians.doubles(), tolerance: 1e-10, "vmap(jacfwd) = vmap(jacrev)")
            let manual = rows.flatMap { row in (0..<2).flatMap { i in (0..<3).map { j in (try! w[i, j].item(as: Double.self)) * (1 - Foundation.pow(Foundation.tanh(row[j]), 2)) } } }
            expectClose(jacobians, manual, tolerance: 1e-10, "vmap(jacrev) against the closed form")
        }
    }

    @Test func batchSizeMismatchNamesBothSizes() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = vmap({ (a: Tensor, b: Tensor) in a + b })(Tensor.zeros([3, 2], on: .cpu), Tensor.zeros([4, 2], on: .cpu))
        }.map { result in
            let message = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(message.contains("Adjoint.vmap: batched inputs disagree in batch size: argument 0 (shape [3, 2], axis 0) has 3 examples but argument 1 (shape [4, 2], axis 0) has 4"), "\(message)")
            #expect(message.contains("VmapTests.swift"), "the message names the caller")
        }
    }

    @Test func readingABatchedTensorInsideVmapIsRefused() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = vmap({ (row: Tensor) -> Tensor in _ = try? row.doubles(); return row })(Tensor.zeros([2, 2], on: .cpu))
        }.map { result in
            let message = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(message.contains("cannot read the values of a batched tensor"), "\(message)")
        }
    }
}
