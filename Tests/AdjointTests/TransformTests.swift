import Adjoint
import AdjointTestSupport
import Foundation
import Testing

/// The JAX transform worked examples, on every device.
@Suite struct TransformTests {
    @Test(arguments: TestDevices.all)
    func polynomialDerivativesToFourthOrder(device: Device) {
        withDevice(device) {
            let f: (Tensor) -> Tensor = { x in (x * x * x + 2 * x * x - 3 * x + 1).sum() }
            let x = Tensor(Float(1))
            let first = grad(f), second = grad(first), third = grad(second), fourth = grad(third)
            expectClose(first(x), [4])
            expectClose(second(x), [10])
            expectClose(third(x), [6])
            expectClose(fourth(x), [0])
        }
    }

    @Test(arguments: TestDevices.all)
    func hessianOfDotIsTwiceIdentity(device: Device) {
        withDevice(device) {
            let h = hessian { x in (x * x).sum() }(Tensor([1, 2, 3] as [Float]))
            #expect(h.shape == [3, 3])
            expectClose(h, [2, 0, 0, 0, 2, 0, 0, 0, 2])
        }
    }

    @Test(arguments: TestDevices.all)
    func perceptronArgnumsAndValueAndGrad(device: Device) {
        withDevice(device) {
            let perceptron: (Tensor, Tensor, Tensor) -> Tensor = { w, b, x in w.matmul(x) + b }
            let w = Tensor([1, 2] as [Float]), b = Tensor(Float(0.5)), x = Tensor([1.5, 2.5] as [Float])
            expectClose(perceptron(w, b, x), [7])
            let both = grad(perceptron, argnums: [0, 1])(w, b, x)
            expectClose(both[0], [1.5, 2.5])
            expectClose(both[1], [1])
            expectClose(grad(perceptron, argnums: 1)(w, b, x), [1])
            let reversed = grad(perceptron, argnums: [1, 0])(w, b, x)
            expectClose(reversed[0], [1], "gradients come back in the order asked")
            let (value, gradients) = valueAndGrad(perceptron, argnums: [0, 1])(w, b, x)
            expectClose(value, [7])
            expectClose(gradients[0], [1.5, 2.5])
            expectClose(gradients[1], [1])
        }
    }

    @Test(arguments: TestDevices.all)
    func hasAuxPassesExtraOutputsThrough(device: Device) {
        withDevice(device) {
            let f: (Tensor) -> (Tensor, [Tensor]) = { x in ((x * x).sum(), [x * x * x, x * x * x * x]) }
            let (gradient, aux) = grad(f, hasAux: true)(Tensor(Float(2)))
            expectClose(gradient, [4])
            expectClose(aux[0], [8])
            expectClose(aux[1], [16])
            let result = valueAndGrad(f, hasAux: true)(Tensor(Float(3)))
            expectClose(result.value, [9])
            expectClose(result.aux[0], [27])
            expectClose(result.aux[1], [81])
            expectClose(result.gradient, [6])
        }
    }

    @Test func nonScalarOutputIsRefused() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = grad { (x: Tensor) in x * 2 }(Tensor([1, 2] as [Float], on: .cpu))
        }.map { result in
            let message = String(decoding: result.standardErrorContent, as: UTF8.self)
            #expect(message.contains("gradient only defined for scalar-output functions; output had shape [2]"))
        }
    }

    @Test(arguments: TestDevices.all)
    func tdLossWithAndWithoutStopGradient(device: Device) {
        withDevice(device) {
            let valueFunction: (Tensor, Tensor) -> Tensor = { theta, state in theta.matmul(state) }
            let theta = Tensor([0.1, -0.1, 0] as [Float])
            let previous = Tensor([1, 2, -1] as [Float]), reward = Tensor(Float(1)), next = Tensor([2, 1, 0] as [Float])
            let naive: (Tensor) -> Tensor = { theta in
                let target = reward + valueFunction(theta, next)
                return (target - valueFunction(theta, previous)).squared()
            }
            let stopped: (Tensor) -> Tensor = { theta in
                let target = reward + valueFunction(theta, next)
                return (stopGradient(target) - valueFunction(theta, previous)).squared()
            }
            expectClose(grad(naive)(theta), [2.4, -2.4, 2.4])
            expectClose(grad(stopped)(theta), [-2.4, -4.8, 2.4])
        }
    }

    @Test(arguments: TestDevices.all)
    func straightThroughEstimator(device: Device) {
        withDevice(device) {
            let x = Tensor(Float(3.2))
            expectClose(x.round(), [3])
            expectClose(grad { (x: Tensor) in x.round() }(x), [0])
            let ste: (Tensor) -> Tensor = { x in x - stopGradient(x) + stopGradient(x.round()) }
            expectClose(ste(x), [3])
            expectClose(grad(ste)(x), [1])
        }
    }

    @Test(arguments: TestDevices.all)
    func nestedDerivativesHaveNoPerturbationConfusion(device: Device) {
        withDevice(device) {
            let x0 = Tensor(Float(3)), y0 = Tensor(Float(5))
            let outer: (Tensor) -> Tensor = { x in x * grad { (y: Tensor) in x + y }(y0) }
            expectClose(grad(outer)(x0), [1], "d/dx [x · d/dy (x + y)] = 1")
            let classic: (Tensor) -> Tensor = { x in x * grad { (y: Tensor) in x * y }(x) }
            expectClose(grad(classic)(x0), [6], "d/dx [x · d/dy (x·y) at y = x] = 2x")
            let closure: (Tensor) -> Tensor = { x in grad { (y: Tensor) in (x * y * y).sum() }(x) }
            expectClose(grad { closure($0).sum() }(x0), [12], "closure(x) = 2x·y at y = x = 2x², so d/dx = 4x")
        }
    }

    @Test(arguments: TestDevices.all)
    func mamlMetaGradientMatchesFiniteDifferences(device: Device) throws {
        try withDevice(device) { () throws in
            let data = Tensor([0.5, -1, 2] as [Double]), targets = Tensor([1, 0.5, -1] as [Double])
            let loss: (Tensor) -> Tensor = { p in ((p[0] * data + p[1]).tanh() - targets).squared().mean() }
            let learningRate = 0.3
            let metaLoss: (Tensor) -> Tensor = { p in loss(p - learningRate * grad(loss)(p)) }
            let p = [0.7, -0.2]
            let analytic = try grad(metaLoss)(Tensor(p)).doubles()
            let epsilon = 1e-6
            let numeric = try (0..<2).map { index -> Double in
                var plus = p, minus = p
                plus[index] += epsilon
                minus[index] -= epsilon
                return (try metaLoss(Tensor(plus)).item(as: Double.self) - metaLoss(Tensor(minus)).item(as: Double.self)) / (2 * epsilon)
            }
            expectClose(analytic, numeric, tolerance: 1e-7)
        }
    }

    @Test(arguments: TestDevices.all)
    func jacobiansAgreeWithEachOtherAndFiniteDifferences(device: Device) throws {
        try withDevice(device) { () throws in
            let w = Tensor([[0.5, -1, 2], [1, 0.25, -0.5], [0, 1, 1], [2, -2, 0.5]] as [[Double]])
            let f: (Tensor) -> Tensor = { x in (w.matmul(x.sin()) * x.sum()).tanh() }
            let x = Tensor([0.3, -0.7, 1.1] as [Double])
            let reverse = jacrev(f)(x), forward = jacfwd(f)(x)
            #expect(reverse.shape == [4, 3] && forward.shape == [4, 3])
            expectClose(forward, try reverse.doubles(), tolerance: 1e-10)
            let base = try x.doubles()
            var numeric = [Double](repeating: 0, count: 12)
            for column in 0..<3 {
                var plus = base, minus = base
                plus[column] += 1e-6
                minus[column] -= 1e-6
                let difference = zip(try f(Tensor(plus)).doubles(), try f(Tensor(minus)).doubles()).map { ($0 - $1) / 2e-6 }
                for row in 0..<4 { numeric[row * 3 + column] = difference[row] }
            }
            expectClose(reverse, numeric, tolerance: 1e-7)
        }
    }

    @Test(arguments: TestDevices.all)
    func hvpEqualsHessianTimesVector(device: Device) throws {
        try withDevice(device) { () throws in
            let f: (Tensor) -> Tensor = { x in (x.sin() * x.squared()).sum() + x[0] * x[1] }
            let x = Tensor([0.5, 1.5, -1] as [Double]), v = Tensor([1, -2, 0.5] as [Double])
            let product = hvp(f, at: x, vector: v)
            let full = hessian(f)(x).matmul(v)
            expectClose(product, try full.doubles(), tolerance: 1e-10)
        }
    }

    @Test(arguments: TestDevices.all)
    func vjpAndJvpOnContainers(device: Device) throws {
        try withDevice(device) { () throws in
            let params: [String: Tensor] = ["w": Tensor([1, 2] as [Float]), "b": Tensor(Float(3))]
            let f: ([String: Tensor]) -> Tensor = { p in (p["w"]! * p["b"]!).sum() }
            let g = grad(f)(params)
            expectClose(g["w"]!, [3, 3])
            expectClose(g["b"]!, [3])
            let (value, pullback) = vjp({ (x: Tensor) in x.exp() }, Tensor([0, 1] as [Float]))
            expectClose(value, [1, Foundation.exp(1)])
            expectClose(pullback(Tensor([1, 2] as [Float])), [1, 2 * Foundation.exp(1)])
            expectClose(pullback(Tensor([1, 1] as [Float])), [1, Foundation.exp(1)], "a pullback can be called again")
            let (y, dy) = jvp({ (x: Tensor) in x * x }, primal: Tensor([3, 4] as [Float]), tangent: Tensor([1, 0.5] as [Float]))
            expectClose(y, [9, 16])
            expectClose(dy, [6, 4])
        }
    }

    @Test(arguments: TestDevices.all)
    func customDerivativesInsideEveryTransform(device: Device) throws {
        try withDevice(device) { () throws in
            let log1pexp = customJVP({ (1 + $0.exp()).log() }, jvp: { x, t in t * x.sigmoid() })
            let x = Tensor([0, 2, 200] as [Float])
            expectClose(grad { log1pexp($0).sum() }(x), [0.5, 1 / (1 + Foundation.exp(-2)), 1], "stable where exp overflows")
            expectClose(jvp(log1pexp, primal: x, tangent: Tensor.ones(like: x)).tangent, [0.5, 1 / (1 + Foundation.exp(-2)), 1])
            let clipped = customVJP({ $0 * 1 }, vjp: { _, _, g in g.clamp(min: -1, max: 1) })
            expectClose(grad { (clipped($0) * 5).sum() }(Tensor([1, 2] as [Float])), [1, 1], "gradient clipped to 1")
            let cube = customVJP({ $0 * $0 * $0 }, vjp: { x, _, g in g * 3 * x * x })
            expectClose(grad(grad { cube($0).sum() })(Tensor(Float(2))), [12], "a custom VJP written in ops differentiates again")
        }
    }

    @Test(arguments: TestDevices.all)
    func gradientTapeGradientAndJacobian(device: Device) {
        withDevice(device) {
            let weights = Tensor([[1, 2], [3, 4], [5, 6]] as [[Float]])
            let examples = Tensor([[1, 0, 2], [0, 1, -1]] as [[Float]])
            let tape = GradientTape(persistent: true)
            let w = tape.watch(weights)
            let z = tape.record { examples.matmul(w) }
            let dzdw = tape.gradient(of: z.sum(), wrt: [w])[0]
            expectClose(dzdw, [1, 1, 1, 1, 1, 1], "dz/dW sums over the examples of X")
            let jacobian = tape.jacobian(of: z, wrt: w)
            #expect(jacobian.shape == [2, 2, 3, 2])
            expectClose(jacobian[0, 0], [1, 0, 0, 0, 2, 0])
            expectClose(jacobian[1, 1], [0, 0, 0, 1, 0, -1])
        }
    }

    @Test func gradCheckReportsAgreementAndFindsWrongDerivatives() throws {
        let inputs = [Tensor([0.3, -0.8, 1.2] as [Double], on: .cpu), Tensor([2, 0.5, -1] as [Double], on: .cpu)]
        let good = try gradCheck({ ($0[0].sin() * $0[1]).tanh() }, at: inputs, on: .cpu, reference: TestDevices.openCL)
        #expect(good.passed, "\(good)")
        let wrong = customVJP({ $0[0].sin() }, vjp: { x, _, g in [g * x[0].sin()] })
        let bad = try gradCheck(wrong, at: [inputs[0]], on: .cpu)
        #expect(!bad.passed)
        #expect(bad.worstCheck == "vjp" || bad.worstCheck == "jvp")
        #expect(bad.worstElement >= 0)
    }
}
