import Adjoint
import AdjointTestSupport
import Foundation
import Testing

/// The PyTorch autograd walk-through, reproduced on every device.
@Suite struct AutogradTests {
    @Test(arguments: TestDevices.all)
    func aScalarLossSeedsItsBackwardPassWithoutALaunch(device: Device) throws {
        try withDevice(device) { () throws in
            let x = Tensor.randomNormal([3, 4], seed: 8).requiringGrad()
            let loss = x.sum()
            _ = gradients(of: loss, wrt: [x], retainGraph: true)
            try device.synchronize()
            // The seed 1 is a cached constant (made by the first pass) and the sum's pullback
            // a broadcast view of it.
            let (gradient, launches) = LaunchCount.counting { gradients(of: loss, wrt: [x])[0] }
            #expect(launches == 0, "\(launches) launches")
            expectClose(gradient, [Double](repeating: 1, count: 12))
            // A mean's pullback divides the seed by the count: two cached constants, folded on
            // the host, so its gradient launches nothing either.
            let mean = x.mean()
            _ = gradients(of: mean, wrt: [x], retainGraph: true)
            let (meanGradient, meanLaunches) = LaunchCount.counting { gradients(of: mean, wrt: [x])[0] }
            #expect(meanLaunches == 0, "\(meanLaunches) launches")
            expectClose(meanGradient, [Double](repeating: 1.0 / 12, count: 12))
            for dtype in [DType.float32, .float64] {
                // The second time: the first made the constants 3 and 1/3.
                _ = Tensor.constant(1, dtype: dtype, on: device) / Tensor.constant(3, dtype: dtype, on: device)
                let (quotient, launches) = LaunchCount.counting { Tensor.constant(1, dtype: dtype, on: device) / Tensor.constant(3, dtype: dtype, on: device) }
                #expect(launches == 0 && quotient.dtype == dtype)
                #expect(try quotient.doubles() == [dtype == .float32 ? Double(Float(1) / Float(3)) : 1.0 / 3])
            }
            // A constant with history still differentiates.
            let c = Tensor.constant(2, on: device).requiringGrad()
            expectClose(gradients(of: c * Tensor.constant(5, on: device), wrt: [c])[0], [5])
            (2 * x).mean().backward()
            expectClose(x.grad!, [Double](repeating: 2.0 / 12, count: 12))
            expectClose(grad { (y: Tensor) in (y * y).sum() }(x), try (2 * x).doubles())
        }
    }

    @Test(arguments: TestDevices.all)
    func reluIsOneLaunchEachWayAndKeepsNaN(device: Device) throws {
        try withDevice(device) { () throws in
            let x = Tensor([-2, 0, 0.5, .nan, 3, -0.0] as [Float]).requiringGrad()
            let seed = Tensor([1, 2, 3, 4, 5, 6] as [Float])
            _ = gradients(of: x.relu(), wrt: [x], seed: seed)
            try device.synchronize()
            // Forward: a maximum with the cached constant 0. Backward: the cotangent masked by
            // the saved output in one compiled kernel (compiled by the pass above).
            let (y, forward) = LaunchCount.counting { x.relu() }
            #expect(forward == 1, "\(forward) launches forward")
            let (gradient, backward) = LaunchCount.counting { gradients(of: y, wrt: [x], seed: seed)[0] }
            #expect(backward == 1, "\(backward) launches back")
            let values = try y.doubles()
            #expect(values[0] == 0 && values[1] == 0 && values[2] == 0.5 && values[3].isNaN && values[4] == 3 && values[5] == 0)
            // 0 at 0 and below (and for NaN), as PyTorch's threshold_backward.
            #expect(try gradient.doubles() == [0, 0, 3, 0, 5, 0])
            // The same under createGraph (plain ops, differentiable in the cotangent), jit and vmap.
            var leaf = Tensor([-1, 2] as [Float])
            leaf.requiresGrad = true
            let cotangent = Tensor([3, 4] as [Float]).requiringGrad()
            let first = gradients(of: leaf.relu(), wrt: [leaf], seed: cotangent, createGraph: true)[0]
            expectClose(first, [0, 4])
            expectClose(gradients(of: first.sum(), wrt: [cotangent])[0], [0, 1])
            expectClose(jit { (x: Tensor) in grad { (x: Tensor) in (x.relu() * x).sum() }(x) }(Tensor([-1, 2] as [Float])), [0, 4])
            expectClose(vmap { (row: Tensor) in grad { (r: Tensor) in r.relu().sum() }(row) }(Tensor([[-1, 2], [3, -4]] as [[Float]])), [0, 1, 1, 0])
            // int32 keeps working (no gradient).
            #expect(try Tensor([-3, 4] as [Int32]).relu().doubles() == [0, 4])
        }
    }

    @Test(arguments: TestDevices.all)
    func maxSplitsTheGradientBetweenTiesOnEveryPath(device: Device) throws {
        try withDevice(device) { () throws in
            let x = Tensor([[1, 3, 3], [2, 0, -1]] as [[Float]])
            let expected: [Double] = [0, 0.5, 0.5, 1, 0, 0]
            // Eager (the compiled pullback), under jit, per row under vmap, and with
            // createGraph (plain ops, differentiable in the cotangent).
            expectClose(grad { (x: Tensor) in x.max(axis: 1).sum() }(x), expected)
            expectClose(jit { (x: Tensor) in grad { (x: Tensor) in x.max(axis: 1).sum() }(x) }(x), expected)
            expectClose(vmap { (row: Tensor) in grad { (r: Tensor) in r.max() }(row) }(x), expected)
            var leaf = x
            leaf.requiresGrad = true
            let seed = Tensor([2, 4] as [Float])
            let first = gradients(of: leaf.max(axis: 1), wrt: [leaf], seed: seed, createGraph: true)[0]
            expectClose(first, [0, 1, 1, 4, 0, 0])
            // A ReLU'd 2×2 window of zeros shares its cotangent four ways.
            let image = Tensor([0, 0, 1, 2, 0, 0, 3, 2] as [Float]).reshaped([1, 1, 2, 4])
            expectClose(grad { (x: Tensor) in x.maxPool2d(kernel: 2).sum() }(image), [0.25, 0.25, 0, 0, 0.25, 0.25, 1, 0])
        }
    }

    @Test(arguments: TestDevices.all)
    func backwardOfSinGivesCos(device: Device) throws {
        try withDevice(device) { () throws in
            var x = Tensor.linspace(0, 2 * Double.pi, count: 25)
            x.requiresGrad = true
            let y = x.sin()
            y.sum().backward()
            let expected = try x.doubles().map { Foundation.cos($0) }
            expectClose(x.grad!, expected, tolerance: 1e-6)
        }
    }

    @Test(arguments: TestDevices.all)
    func gradFnChainNamesNodesInOrder(device: Device) throws {
        withDevice(device) {
            var x = Tensor.linspace(0, 1, count: 4)
            x.requiresGrad = true
            let out3 = 2 * x.sin() + 1
            #expect(out3.gradFn?.name == "AddBackward")
            let mul = out3.gradFn!.nextFunctions[0]
            #expect(mul?.name == "MulBackward")
            #expect(out3.gradFn!.nextFunctions[1] == nil, "the constant 1 has no gradient function")
            let sin = mul!.nextFunctions[1]
            #expect(mul!.nextFunctions[0] == nil, "the constant 2 has no gradient function")
            #expect(sin?.name == "SinBackward")
            #expect(sin?.nextFunctions.map { $0?.name } == ["AccumulateGrad"])
            #expect(x.gradFn == nil && x.isLeaf)
            #expect(!out3.isLeaf)
        }
    }

    @Test(arguments: TestDevices.all)
    func backwardWithGradientIsAVectorJacobianProduct(device: Device) throws {
        withDevice(device) {
            var x = Tensor([1, 2, 3] as [Float])
            x.requiresGrad = true
            let y = 2 * x
            y.backward(gradient: Tensor([1, 0.1, 0.01] as [Float]))
            expectClose(x.grad!, [2, 0.2, 0.02], tolerance: 1e-6)
        }
    }

    @Test(arguments: TestDevices.all)
    func gradientsAccumulateAndRestartAfterClearing(device: Device) throws {
        withDevice(device) {
            var x = Tensor([1, 2, 3] as [Float])
            x.requiresGrad = true
            (x * x).sum().backward()
            expectClose(x.grad!, [2, 4, 6])
            (x * x).sum().backward()
            expectClose(x.grad!, [4, 8, 12], "second backward adds into grad")
            x.grad = nil
            (3 * x).sum().backward()
            expectClose(x.grad!, [3, 3, 3], "after clearing, accumulation restarts")
        }
    }

    @Test(arguments: TestDevices.all)
    func batchGradientIsTheSumOfPerExampleGradients(device: Device) throws {
        try withDevice(device) { () throws in
            var w = Tensor([[0.5, -1], [2, 0.25], [1, 1]] as [[Float]])
            w.requiresGrad = true
            let x1 = Tensor([[1, 2, 3]] as [[Float]]), x2 = Tensor([[-1, 0.5, 4]] as [[Float]])
            x1.matmul(w).sum().backward()
            x2.matmul(w).sum().backward()
            let separate = try w.grad!.doubles()
            w.grad = nil
            Tensor.concat([x1, x2], axis: 0).matmul(w).sum().backward()
            expectClose(w.grad!, separate)
            expectClose(w.grad!, [0, 0, 2.5, 2.5, 7, 7])
        }
    }

    @Test(arguments: TestDevices.all)
    func noGradAndDetachGiveTensorsWithoutHistory(device: Device) {
        withDevice(device) {
            var x = Tensor([1, 2] as [Float])
            x.requiresGrad = true
            let inside = noGrad { x * 2 }
            #expect(inside.gradFn == nil && !inside.requiresGrad)
            let detached = (x * 2).detach()
            #expect(detached.gradFn == nil && !detached.requiresGrad)
            let reenabled = noGrad { enableGrad { x * 2 } }
            #expect(reenabled.gradFn?.name == "MulBackward")
            #expect(!noGrad { isGradEnabled })
        }
    }

    @Test func backwardOnANonScalarIsRefused() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var x = Tensor([1, 2] as [Float], on: .cpu)
            x.requiresGrad = true
            (x * 2).backward()
        }.map { result in
            let message = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(message.contains("Adjoint.backward: grad can be implicitly created only for scalar outputs; this tensor has shape [2]"))
            #expect(message.contains("AutogradTests.swift"))
        }
    }

    @Test(arguments: TestDevices.all)
    func createGraphGivesSecondDerivatives(device: Device) throws {
        withDevice(device) {
            var x = Tensor([0.5, -1, 2] as [Float])
            x.requiresGrad = true
            let y = (x * x * x).sum()
            let first = gradients(of: y, wrt: [x], createGraph: true)[0]
            expectClose(first, [0.75, 3, 12], tolerance: 1e-6)
            first.sum().backward()
            expectClose(x.grad!, [3, -6, 12], tolerance: 1e-6, "d/dx of sum(3x^2) = 6x")
        }
    }

    @Test(arguments: TestDevices.all)
    func retainGraphAllowsASecondBackward(device: Device) {
        withDevice(device) {
            var x = Tensor([1, 2] as [Float])
            x.requiresGrad = true
            let y = x.exp().sum()
            y.backward(retainGraph: true)
            y.backward()
            expectClose(x.grad!, [2 * Foundation.exp(1), 2 * Foundation.exp(2)], tolerance: 1e-5)
        }
    }

    @Test func secondBackwardWithoutRetainGraphIsRefused() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var x = Tensor([1, 2] as [Float], on: .cpu)
            x.requiresGrad = true
            let y = x.exp().sum()
            y.backward()
            y.backward()
        }.map { result in
            let message = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(message.contains("a second time"))
            #expect(message.contains("retainGraph: true"))
        }
    }

    @Test(arguments: TestDevices.all)
    func hooksSeeAndReplaceGradients(device: Device) {
        withDevice(device) {
            var x = Tensor([1, 2, 3] as [Float])
            x.requiresGrad = true
            x.registerHook { $0 * 10 }
            let y = x * x
            y.retainGrad()
            y.sum().backward()
            expectClose(y.grad!, [1, 1, 1], "retainGrad keeps the non-leaf gradient")
            expectClose(x.grad!, [20, 40, 60], "the leaf hook scaled the gradient by 10")
        }
    }

    @Test(arguments: TestDevices.all)
    func gradientsForChosenInputsOnly(device: Device) {
        withDevice(device) {
            let a = Tensor([1, 2] as [Float]).requiringGrad()
            let b = Tensor([3, 4] as [Float]).requiringGrad()
            let unused = Tensor([5, 6] as [Float]).requiringGrad()
            let hidden = a * b
            let loss = (hidden * a).sum()
            let found = gradients(of: loss, wrt: [b, hidden, unused])
            expectClose(found[0], [1, 4], "d/db sum(a^2 b) = a^2")
            expectClose(found[1], [1, 2], "d/dhidden = a")
            expectClose(found[2], [0, 0], "unused input gets zeros")
            #expect(a.grad == nil && b.grad == nil, "gradients(of:wrt:) leaves .grad alone")
        }
    }

    @Test(arguments: TestDevices.all)
    func sharedSubexpressionsAccumulate(device: Device) {
        withDevice(device) {
            let x = Tensor([2] as [Float]).requiringGrad()
            let y = x * x
            let z = y * y + y
            z.sum().backward()
            expectClose(x.grad!, [4 * 8 + 2 * 2], "d/dx (x^4 + x^2) = 4x^3 + 2x")
        }
    }
}
