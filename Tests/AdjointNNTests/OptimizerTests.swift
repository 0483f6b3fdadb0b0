import Adjoint
import AdjointNN
import AdjointTestSupport
import Foundation
import Testing

/// Optimizers against hand-computed updates, both call styles, and a user-written one.
@Suite struct OptimizerTests {
    /// One scalar variable w = 1 with gradients 0.5, -1, 2 over three steps.
    static let gradients: [Double] = [0.5, -1, 2]

    func run(_ make: (VarCollection) -> Optimizer, lr: Double) throws -> [Double] {
        let variable = TrainVar(Tensor([1] as [Float], on: .cpu))
        let optimizer = make(VarCollection([("w", variable)]))
        var trajectory: [Double] = []
        for g in Self.gradients {
            optimizer(lr: lr, [Tensor([Float(g)], on: .cpu)])
            trajectory.append(try variable.value.doubles()[0])
        }
        return trajectory
    }

    @Test func sgdMatchesHandComputation() throws {
        expectClose(try run({ SGD($0) }, lr: 0.1), [0.95, 1.05, 0.85])
    }

    @Test func momentumMatchesHandComputation() throws {
        // m: 0.5, 0.45 - 1 = -0.55, -0.495 + 2 = 1.505
        expectClose(try run({ Momentum($0, momentum: 0.9) }, lr: 0.1), [0.95, 1.005, 0.8545])
        // nesterov updates g + 0.9 m: 0.95, -1.495, 3.3545
        expectClose(try run({ Momentum($0, momentum: 0.9, nesterov: true) }, lr: 0.1), [0.905, 1.0545, 0.71905])
    }

    @Test func adamMatchesHandComputation() throws {
        var w = 1.0, m = 0.0, v = 0.0
        var expected: [Double] = []
        for (index, g) in Self.gradients.enumerated() {
            let t = Double(index + 1)
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            w -= 0.1 * (m / (1 - pow(0.9, t))) / ((v / (1 - pow(0.999, t))).squareRoot() + 1e-8)
            expected.append(w)
        }
        expectClose(try run({ Adam($0) }, lr: 0.1), expected, tolerance: 1e-6)
        var wd = 1.0
        m = 0; v = 0
        var decayed: [Double] = []
        for (index, g) in Self.gradients.enumerated() {
            let t = Double(index + 1)
            wd -= 0.1 * 0.01 * wd
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            wd -= 0.1 * (m / (1 - pow(0.9, t))) / ((v / (1 - pow(0.999, t))).squareRoot() + 1e-8)
            decayed.append(wd)
        }
        expectClose(try run({ AdamW($0) }, lr: 0.1), decayed, tolerance: 1e-6)
    }

    @Test(arguments: TestDevices.all)
    func eagerAdamUpdatesEachVariableInThreeFusedLaunches(device: Device) throws {
        func stepLaunches(shapes: [[Int]]) throws -> (launches: Int, values: [[Double]]) {
            try withDevice(device) { () throws in
                let variables = shapes.enumerated().map { ("w\($0.offset)", TrainVar(Tensor.randomNormal($0.element, seed: UInt64($0.offset)))) }
                let optimizer = AdamW(VarCollection(variables))
                let gradients = shapes.enumerated().map { Tensor.randomNormal($0.element, seed: UInt64(10 + $0.offset)) }
                // The first step traces the update once per shape and caches the learning
                // rate's constants; the second is counted.
                optimizer(lr: 0.1, gradients)
                try device.synchronize()
                let launches = try LaunchCount.counting {
                    optimizer(lr: 0.1, gradients)
                    try device.synchronize()
                }.launches
                return (launches, try variables.map { try $0.1.value.doubles() })
            }
        }
        let one = try stepLaunches(shapes: [[3, 4]]), two = try stepLaunches(shapes: [[3, 4], [5]])
        // m, v and the weights: one fused launch each; with jit's launch-saving passes
        // (OpenCL GPUs, or ADJOINT_JIT_TOGETHER=1) the three run as one row kernel (a
        // work-item per row of the [5] vector), or two where m and v launch together.
        #expect([1, 2, 3].contains(two.launches - one.launches), "(\(one.launches) and \(two.launches) launches)")
        let cpu = try withDevice(.cpu) { try stepLaunches(shapes: [[3, 4], [5]]) }
        for (got, expected) in zip(two.values, cpu.values) { expectClose(got, expected, tolerance: 1e-5) }
    }

    @Test(arguments: TestDevices.all)
    func pytorchStyleBackwardStepZeroGrad(device: Device) throws {
        try withDevice(device) { () throws in
            let model = Linear(2, 1, seed: 1)
            let optimizer = SGD(model.vars(), learningRate: 0.1)
            let x = Tensor([[1, 2]] as [[Float]])
            let before = try model.w.value.doubles()
            let loss = model(x).sum()
            loss.backward()
            expectClose(model.w.grad!, [1, 2])
            optimizer.step()
            expectClose(model.w.value, [before[0] - 0.1, before[1] - 0.2])
            optimizer.zeroGrad()
            #expect(model.w.grad == nil)
            model(x).sum().backward()
            expectClose(model.b!.grad!, [1], "after zeroGrad the gradient starts over")
        }
    }

    @Test func optimizerVarsNameTheirSlots() {
        let model = Linear(2, 1, on: .cpu)
        let names = Adam(model.vars()).vars().names
        #expect(names == ["(Adam).m[0]", "(Adam).m[1]", "(Adam).v[0]", "(Adam).v[1]", "(Adam).steps", "(Adam).biasCorrections[0]", "(Adam).biasCorrections[1]"])
        #expect(Momentum(model.vars()).vars().names == ["(Momentum).m[0]", "(Momentum).m[1]"])
    }

    @Test func sgdWrittenFromScratchTrains() throws {
        final class MySGD: Module, @unchecked Sendable {
            let refs: [TrainRef]
            init(_ vars: VarCollection) { refs = vars.trainVars.map(TrainRef.init) }
            func callAsFunction(lr: Double, _ gradients: [Tensor]) {
                for (ref, gradient) in zip(refs, gradients) { ref.value = ref.value - lr * gradient }
            }
        }
        let model = Linear(1, 1, seed: 3, on: .cpu)
        let x = Tensor([[1], [2], [3]] as [[Float]], on: .cpu), y = Tensor([[3], [5], [7]] as [[Float]], on: .cpu)
        let gv = GradValues({ x, y in .single(mse(model(x), y).mean()) }, vars: model.vars())
        let optimizer = MySGD(model.vars())
        for _ in 0..<500 { optimizer(lr: 0.05, gv(x, y).gradients) }
        expectClose(model.w.value, [2], tolerance: 1e-2)
        expectClose(model.b!.value, [1], tolerance: 2e-2)
    }

    @Test func twoOptimizersOnDisjointVariablesStepInTurn() throws {
        let generator = Linear(2, 2, seed: 1, on: .cpu), discriminator = Linear(2, 1, seed: 2, on: .cpu)
        let noise = Tensor.randomNormal([8, 2], seed: 3, on: .cpu)
        let gOptimizer = SGD(generator.vars(), learningRate: 0.1), dOptimizer = SGD(discriminator.vars(), learningRate: 0.1)
        let dLoss = GradValues({ z, _ in .single(discriminator(generator(z)).mean()) }, vars: discriminator.vars())
        let gLoss = GradValues({ z, _ in .single(-discriminator(generator(z)).mean()) }, vars: generator.vars())
        for _ in 0..<3 {
            let generatorBefore = try generator.vars().tensors().map { try $0.doubles() }
            let (dGradients, _) = dLoss(noise, noise)
            #expect(dGradients.count == 2)
            dOptimizer(lr: 0.1, dGradients)
            #expect(try generator.vars().tensors().map { try $0.doubles() } == generatorBefore, "the discriminator step leaves the generator alone")
            let discriminatorBefore = try discriminator.vars().tensors().map { try $0.doubles() }
            let (gGradients, _) = gLoss(noise, noise)
            gOptimizer(lr: 0.1, gGradients)
            #expect(try discriminator.vars().tensors().map { try $0.doubles() } == discriminatorBefore)
        }
    }
}
