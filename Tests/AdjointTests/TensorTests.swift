@testable import Adjoint
import AdjointTestSupport
import Foundation
import Testing

/// Forward values of tensor creation and ops against closed forms, on every device.
@Suite struct TensorTests {
    @Test(arguments: TestDevices.all)
    func creationAndProperties(device: Device) throws {
        try withDevice(device) { () throws in
            let m = Tensor([[1, 2, 3], [4, 5, 6]] as [[Float]])
            #expect(m.shape == [2, 3] && m.rank == 2 && m.count == 6 && m.dtype == .float32 && m.device == device)
            #expect(try m.scalars(as: Float.self) == [1, 2, 3, 4, 5, 6])
            let scalar = Tensor(Float(2.5))
            #expect(scalar.shape == [] && scalar.count == 1)
            #expect(try scalar.item(as: Float.self) == 2.5)
            #expect(try Tensor.zeros([2, 2]).doubles() == [0, 0, 0, 0])
            #expect(try Tensor.ones([3], dtype: .int32).scalars(as: Int32.self) == [1, 1, 1])
            #expect(try Tensor.full([2], 7, dtype: .float64).scalars(as: Double.self) == [7, 7])
            #expect(try Tensor.arange(0, 5).doubles() == [0, 1, 2, 3, 4])
            #expect(try Tensor.arange(1, 2, step: 0.25).doubles() == [1, 1.25, 1.5, 1.75])
            expectClose(Tensor.linspace(0, 1, count: 5), [0, 0.25, 0.5, 0.75, 1])
            let empty = Tensor([] as [Float], shape: [0, 3])
            #expect(empty.count == 0 && empty.shape == [0, 3])
            #expect(try empty.scalars(as: Float.self) == [])
            #expect(try empty.sum(axes: [0]).doubles() == [0, 0, 0])
            let cube = Tensor([[[1, 2], [3, 4]], [[5, 6], [7, 8]]] as [[[Int32]]])
            #expect(cube.shape == [2, 2, 2] && cube.dtype == .int32)
            #expect(try Tensor([true, false]).scalars(as: Bool.self) == [true, false])
        }
    }

    /// Tensors with a zero extent in the middle or at the end (the random programs found
    /// draws of `[3, 0, 1]` stopping on a contiguity check, and sums over an axis of such
    /// a tensor that leave nothing dividing by zero on the CPU; jit splitting a long
    /// reduction into nothing, `[0, 2048]` summed along its rows, never stopped doubling;
    /// vmap's product rule inferring `-1` rows of nothing).
    @Test(arguments: TestDevices.all)
    func emptyTensorsDrawReduceAndDifferentiate(device: Device) throws {
        for shape in [[3, 0, 1], [2, 0], [0], [1, 0, 4], [0, 2048]] {
            let x = Tensor.randomNormal(shape, seed: 3, on: device)
            #expect(x.shape == shape)
            #expect(try x.doubles() == [])
            #expect(try Tensor.randomUniform(shape, seed: 4, on: device).doubles() == [])
            for axis in shape.indices {
                var reduced = shape
                reduced.remove(at: axis)
                let sum = x.sum(axes: [axis])
                #expect(sum.shape == reduced)
                #expect(try sum.doubles() == [Double](repeating: 0, count: reduced.reduce(1, *)), "sum over axis \(axis) of \(shape)")
            }
            #expect(try x.sum().item() == 0)
            let gradient = grad { (t: Tensor) in (t.sin() * t).sum(axes: [0]).sum() }(x)
            #expect(gradient.shape == shape)
            #expect(try gradient.doubles() == [])
            #expect(try jit { (t: Tensor) in (t.exp() + 1).sum(axes: [shape.count - 1]) }(x).doubles()
                == [Double](repeating: 0, count: shape.dropLast().reduce(1, *)))
        }
        // Products over an empty inner axis are zeros, batched on either side.
        let rows = Tensor.randomNormal([4, 2, 0], seed: 5, on: device), matrix = Tensor.randomNormal([0, 3], seed: 6, on: device)
        let left = vmap { (a: Tensor) in a.matmul(matrix) }(rows)
        #expect(left.shape == [4, 2, 3])
        #expect(try left.doubles() == [Double](repeating: 0, count: 24))
        let columns = Tensor.randomNormal([4, 0, 3], seed: 7, on: device), square = Tensor.randomNormal([2, 0], seed: 8, on: device)
        let right = vmap { (b: Tensor) in square.matmul(b) }(columns)
        #expect(right.shape == [4, 2, 3])
        #expect(try right.doubles() == [Double](repeating: 0, count: 24))
    }

    @Test func descriptionIsNumpyLike() {
        let m = Tensor([[1, 2.5], [3, 4]] as [[Float]], on: .cpu)
        #expect(m.description == "[[1, 2.5],\n [3, 4]]")
        #expect(Tensor(Float(3), on: .cpu).description == "3")
        #expect(Tensor([1, 2] as [Int32], on: .cpu).description == "[1, 2], dtype: int32")
        #expect(Tensor([true, false], on: .cpu).description == "[true, false], dtype: bool")
    }

    @Test(arguments: TestDevices.all)
    func arithmeticWithBroadcastingAndScalars(device: Device) {
        withDevice(device) {
            let a = Tensor([[1, 2, 3], [4, 5, 6]] as [[Float]])
            let row = Tensor([10, 20, 30] as [Float])
            let column = Tensor([[1], [2]] as [[Float]])
            expectClose(a + row, [11, 22, 33, 14, 25, 36])
            expectClose(a - column, [0, 1, 2, 2, 3, 4])
            expectClose(a * column, [1, 2, 3, 8, 10, 12])
            expectClose(a / 2, [0.5, 1, 1.5, 2, 2.5, 3])
            expectClose(12 / a, [12, 6, 4, 3, 2.4, 2])
            expectClose(1 - a, [0, -1, -2, -3, -4, -5])
            expectClose(-a, [-1, -2, -3, -4, -5, -6])
            expectClose(a.pow(2), [1, 4, 9, 16, 25, 36])
            expectClose(a.maximum(row / 10 + 1), [2, 3, 4, 4, 5, 6])
            expectClose(a.minimum(3.5), [1, 2, 3, 3.5, 3.5, 3.5])
            expectClose(a.clamp(min: 2, max: 4), [2, 2, 3, 4, 4, 4])
            expectClose(Tensor([7, -7] as [Int32]) / Tensor([2, 2] as [Int32]), [3, -3], "int division truncates")
            let big = Tensor.ones([1 << 20]) * 3 + 1
            expectClose(big.sum(), [4 * Double(1 << 20)], tolerance: 1e-6)
        }
    }

    @Test(arguments: TestDevices.all)
    func unaryFunctionsMatchFoundation(device: Device) throws {
        try withDevice(device) { () throws in
            let values: [Double] = [-2.5, -0.5, 0.3, 1.5, 2.5]
            let x = Tensor(doubles: values, shape: [5], dtype: .float32)
            expectClose(x.exp(), values.map { Foundation.exp($0) })
            expectClose(x.sin(), values.map { Foundation.sin($0) })
            expectClose(x.cos(), values.map { Foundation.cos($0) })
            expectClose(x.tanh(), values.map { Foundation.tanh($0) })
            expectClose(x.sigmoid(), values.map { 1 / (1 + Foundation.exp(-$0)) })
            expectClose(x.abs(), values.map { Swift.abs($0) })
            expectClose(x.abs().log(), values.map { Foundation.log(Swift.abs($0)) })
            expectClose(x.abs().sqrt(), values.map { Foundation.sqrt(Swift.abs($0)) })
            expectClose(x.floor(), [-3, -1, 0, 1, 2])
            expectClose(x.round(), [-3, -1, 0, 2, 3], "halves round away from zero")
            expectClose(x.sign(), [-1, -1, 1, 1, 1])
            expectClose(x.relu(), [0, 0, 0.3, 1.5, 2.5])
            expectClose(Tensor([-1000, 1000] as [Float]).sigmoid(), [0, 1], "sigmoid does not overflow")
            #expect(try (x .> 0).scalars(as: Bool.self) == [false, false, true, true, true])
            #expect(try (x .<= -0.5).scalars(as: Bool.self) == [true, true, false, false, false])
            #expect(try ((x .> 0) .& (x .< 2)).logicalNot().scalars(as: Bool.self) == [true, true, false, false, true])
            #expect(try x.cast(to: .int32).scalars(as: Int32.self) == [-2, 0, 0, 1, 2], "casts truncate toward zero")
        }
    }

    @Test(arguments: TestDevices.all)
    func reductionsOverAxes(device: Device) throws {
        try withDevice(device) { () throws in
            let t = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])
            expectClose(t.sum(), [276])
            expectClose(t.sum(axes: [0]), (0..<12).map { Double($0) * 2 + 12 })
            expectClose(t.sum(axes: [1]), [12, 15, 18, 21, 48, 51, 54, 57])
            expectClose(t.sum(axes: [0, 2]), [60, 92, 124])
            #expect(t.sum(axes: [-1], keepDims: true).shape == [2, 3, 1])
            expectClose(t.mean(axes: [2]), [1.5, 5.5, 9.5, 13.5, 17.5, 21.5])
            expectClose(t.max(axes: [1]), [8, 9, 10, 11, 20, 21, 22, 23])
            expectClose(t.min(), [0])
            let m = Tensor([[3, 9, 9], [-1, -5, 2]] as [[Float]])
            #expect(try m.argmax(axis: 1).scalars(as: Int32.self) == [1, 2], "first index on ties")
            #expect(try m.argmin(axis: 0).scalars(as: Int32.self) == [1, 1, 1])
            #expect(try m.argmax().item(as: Int32.self) == 1)
            #expect(m.argmax(axis: 1, keepDims: true).shape == [2, 1])
            expectClose(Tensor(Float(5)).sum(), [5], "rank 0 sum")
        }
    }

    @Test(arguments: TestDevices.all)
    func movementAndViews(device: Device) throws {
        try withDevice(device) { () throws in
            let t = Tensor((0..<6).map(Float.init), shape: [2, 3])
            expectClose(t.transposed(), [0, 3, 1, 4, 2, 5])
            expectClose(t.transposed().reshaped([6]), [0, 3, 1, 4, 2, 5], "reshape of a permuted view copies")
            #expect(t.reshaped([3, -1]).shape == [3, 2])
            #expect(t.unsqueezed(axis: 1).shape == [2, 1, 3])
            #expect(t.unsqueezed(axis: -1).squeezed().shape == [2, 3])
            expectClose(Tensor([1, 2] as [Float]).expanded(to: [3, 2]), [1, 2, 1, 2, 1, 2])
            expectClose(t[1], [3, 4, 5])
            expectClose(t[.all, 1..<3], [1, 2, 4, 5])
            expectClose(t[-1, -1], [5])
            expectClose(t[.stride(nil, nil, by: 2)], [0, 1, 2])
            expectClose(t[.ellipsis, 0], [0, 3])
            #expect(t[.newAxis, .all, 2].shape == [1, 2])
            expectClose(Tensor.concat([t, t * 10], axis: 1), [0, 1, 2, 0, 10, 20, 3, 4, 5, 30, 40, 50])
            let stacked = Tensor.stack([t, t + 1], axis: 0)
            #expect(stacked.shape == [2, 2, 3])
            expectClose(stacked[1, 0], [1, 2, 3])
            expectClose(Tensor([1, 2] as [Float]).padded([(1, 2)], value: -1), [-1, 1, 2, -1, -1])
            expectClose(t.permuted([1, 0]).contiguous(), [0, 3, 1, 4, 2, 5])
        }
    }

    @Test(arguments: TestDevices.all)
    func gatherTakeAndWhere(device: Device) {
        withDevice(device) {
            let t = Tensor([[1, 2, 3], [4, 5, 6]] as [[Float]])
            expectClose(t.takeAlong(Tensor([[2, 0], [1, 1]] as [[Int32]]), axis: 1), [3, 1, 5, 5])
            expectClose(t.take(Tensor([2, 0, 2] as [Int32]), axis: 1), [3, 1, 3, 6, 4, 6])
            expectClose(t.take(Tensor([[1], [0]] as [[Int32]]), axis: 0), [4, 5, 6, 1, 2, 3])
            expectClose(Tensor([1, 2] as [Float]).scatterAdding(into: 3, indices: Tensor([2, 2] as [Int32]), axis: 0), [0, 0, 3])
            expectClose(Tensor.where(t .> 2.5, t, t * -1), [-1, -2, 3, 4, 5, 6])
            expectClose(Tensor.where(Tensor([true, false]), 1, 0), [1, 0])
        }
    }

    @Test(arguments: TestDevices.all)
    func opsOnOneBroadcastValueRunOnceAndStayBroadcast(device: Device) throws {
        try withDevice(device) { () throws in
            let seed = Tensor(Float(3)).expanded(to: [4, 5])
            let scaled = seed * 2 - 1
            #expect(scaled.shape == [4, 5] && scaled.layout.strides == [0, 0], "computed once, broadcast: \(scaled.layout)")
            expectClose(scaled, [Double](repeating: 5, count: 20))
            expectClose(scaled.sum(axis: 1), [25, 25, 25, 25])
            #expect((seed .> 2).layout.strides == [0, 0])
            #expect((-seed).layout.strides == [0, 0] && seed.exp().layout.strides == [0, 0])
            expectClose(-seed, [Double](repeating: -3, count: 20))
            let mixed = seed + Tensor.ones([4, 5])
            #expect(mixed.layout.isContiguous)
            expectClose(mixed, [Double](repeating: 4, count: 20))
            // sum's gradient is such a broadcast: d/dx Σ (2 sin x + 1) = 2 cos x.
            let x = Tensor.randomNormal([7], seed: 1)
            let gradient = grad { (x: Tensor) in (x.sin() * 2 + 1).sum() }(x)
            expectClose(gradient, try x.doubles().map { 2 * Foundation.cos($0) }, tolerance: 1e-5)
            #expect((Tensor(Float(1)).expanded(to: [0, 3]) * 2).shape == [0, 3])
        }
    }

    @Test(arguments: TestDevices.all)
    func matmulAgainstANaiveLoop(device: Device) throws {
        try withDevice(device) { () throws in
            var data = TestData(seed: 3)
            for (m, k, n) in [(1, 1, 1), (3, 4, 2), (17, 33, 9), (64, 70, 65), (150, 130, 140), (40, 90, 700)] {
                let a = data.values(m * k, domain: .any), b = data.values(k * n, domain: .any)
                let expected = naiveMatmul(a, [m * k, k, 1], b, [k * n, n, 1], batch: 1, m: m, k: k, n: n)
                let product = Tensor(doubles: a, shape: [m, k], dtype: .float32).matmul(Tensor(doubles: b, shape: [k, n], dtype: .float32))
                expectClose(product, expected, tolerance: 1e-5, "\(m)x\(k)x\(n)")
                let viaTransposes = Tensor(doubles: b, shape: [k, n], dtype: .float32).transposed()
                    .matmul(Tensor(doubles: a, shape: [m, k], dtype: .float32).transposed()).transposed()
                expectClose(viaTransposes, expected, tolerance: 1e-5, "transposed operands")
            }
            let batch = Tensor((0..<12).map(Float.init), shape: [2, 2, 3])
            let shared = Tensor([[1, 0], [0, 1], [1, 1]] as [[Float]])
            expectClose(batch.matmul(shared), [2, 3, 8, 9, 14, 15, 20, 21], "batch broadcast against a matrix")
            expectClose(Tensor([1, 2, 3] as [Float]).matmul(Tensor([4, 5, 6] as [Float])), [32], "vector dot")
            #expect(Tensor.zeros([2, 0]).matmul(Tensor.zeros([0, 3])).shape == [2, 3])
            expectClose(Tensor.zeros([2, 0]).matmul(Tensor.zeros([0, 3])), [0, 0, 0, 0, 0, 0], "k = 0 gives zeros")
        }
    }

    @Test(arguments: TestDevices.all)
    func softmaxFamilyIsStable(device: Device) throws {
        try withDevice(device) { () throws in
            let x = Tensor([[1000, 1001, 1002], [-5, 0, 5]] as [[Float]])
            let softmax = x.softmax(axis: -1)
            expectClose(softmax.sum(axes: [-1]), [1, 1])
            let e = [1.0, Foundation.exp(1), Foundation.exp(2)]
            expectClose(softmax[0], e.map { $0 / e.reduce(0, +) })
            expectClose(x.logSumExp(axes: [1]), [1002 + Foundation.log(e.reduce(0, +) / Foundation.exp(2)), 5 + Foundation.log(1 + Foundation.exp(-5) + Foundation.exp(-10))])
            expectClose(x.logSoftmax(axis: 1).exp(), try softmax.doubles())
        }
    }

    @Test(arguments: TestDevices.all)
    func seededRandomIsReproducibleAndDistributed(device: Device) throws {
        try withDevice(device) { () throws in
            let a = try Tensor.randomNormal([4096], seed: 42).doubles()
            let b = try Tensor.randomNormal([4096], seed: 42).doubles()
            #expect(a == b)
            let mean = a.reduce(0, +) / Double(a.count)
            let variance = a.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(a.count)
            #expect(Swift.abs(mean) < 0.05 && Swift.abs(variance - 1) < 0.07)
            let u = try Tensor.randomUniform([4096], low: 2, high: 3, seed: 1).doubles()
            #expect(u.allSatisfy { $0 >= 2 && $0 < 3 })
            let k = try Tensor.randomInt([1000], low: 0, high: 10, seed: 9).scalars(as: Int32.self)
            #expect(k.allSatisfy { $0 >= 0 && $0 < 10 } && Set(k).count == 10)
            #expect(try Tensor.randomNormal([8], seed: 1).doubles() != (try Tensor.randomNormal([8], seed: 2).doubles()))
        }
    }

    @Test func randomDrawsAreIdenticalOnEveryDevice() throws {
        guard let openCL = TestDevices.requireOpenCL() else { return }
        let cpu = try Tensor.randomNormal([1000], seed: 123, on: .cpu).doubles()
        let gpu = try Tensor.randomNormal([1000], seed: 123, on: openCL).doubles()
        expectClose(gpu, cpu, tolerance: 1e-5)
        #expect(try Tensor.randomUniform([999], seed: 5, on: .cpu).doubles() == (try Tensor.randomUniform([999], seed: 5, on: openCL).doubles()))
    }

    @Test(arguments: TestDevices.all)
    func castPassesGradientsBetweenFloatTypes(device: Device) {
        withDevice(device) {
            let x = Tensor([1, 2] as [Float]).requiringGrad()
            (x.cast(to: .float64) * 3).sum().backward()
            #expect(x.grad?.dtype == .float32)
            expectClose(x.grad!, [3, 3])
        }
    }

    @Test(arguments: TestDevices.all)
    func moveBetweenDevices(device: Device) throws {
        let x = Tensor([1, 2, 3] as [Float], on: .cpu).requiringGrad()
        let moved = x.to(device)
        #expect(moved.device == device)
        (moved * moved).sum().backward()
        #expect(x.grad?.device == .cpu)
        expectClose(x.grad!, [2, 4, 6])
    }
}
