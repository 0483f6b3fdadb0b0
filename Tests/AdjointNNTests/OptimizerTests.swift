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

    /// Adam's weights after each of `gradients` from w = 1 (lr 0.1, PyTorch's defaults;
    /// AdamW's decoupled decay first), in float64 closed form.
    static func adamTrajectory(weightDecay: Double = 0) -> [Double] {
        var w = 1.0, m = 0.0, v = 0.0
        var expected: [Double] = []
        for (index, g) in Self.gradients.enumerated() {
            let t = Double(index + 1)
            w -= 0.1 * weightDecay * w
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            w -= 0.1 * (m / (1 - pow(0.9, t))) / ((v / (1 - pow(0.999, t))).squareRoot() + 1e-8)
            expected.append(w)
        }
        return expected
    }

    @Test func adamMatchesHandComputation() throws {
        let expected = Self.adamTrajectory()
        expectClose(try run({ Adam($0) }, lr: 0.1), expected, tolerance: 1e-6)
        expectClose(try run({ AdamW($0) }, lr: 0.1), Self.adamTrajectory(weightDecay: 0.01), tolerance: 1e-6)
    }

    /// The optimizers of the launch and device tests, by name.
    static let makers: [(String, @Sendable (VarCollection) -> Optimizer)] = [
        ("sgd", { SGD($0) }), ("momentum", { Momentum($0, nesterov: true) }), ("adamw", { AdamW($0) }),
    ]

    /// The second step of `make` over variables of `shapes` (`devices[i]` for variable i,
    /// else `device`): its launches and the variables after three steps.
    func steps(_ make: (VarCollection) -> Optimizer, shapes: [[Int]], on device: Device, devices: [Device] = []) throws -> (launches: Int, values: [[Double]]) {
        let place = { (index: Int) in index < devices.count ? devices[index] : device }
        let variables = shapes.enumerated().map { ("w\($0.offset)", TrainVar(Tensor.randomNormal($0.element, seed: UInt64($0.offset), on: place($0.offset)))) }
        let optimizer = make(VarCollection(variables))
        let gradients = shapes.enumerated().map { Tensor.randomNormal($0.element, seed: UInt64(10 + $0.offset), on: place($0.offset)) }
        // The first step traces the update and caches the learning rate's constants.
        optimizer(lr: 0.1, gradients)
        try Set((0..<shapes.count).map(place)).forEach { try $0.synchronize() }
        let launches = try LaunchCount.counting {
            optimizer(lr: 0.1, gradients)
            try Set((0..<shapes.count).map(place)).forEach { try $0.synchronize() }
        }.launches
        optimizer(lr: 0.1, gradients.map { -0.5 * $0 })
        return (launches, try variables.map { try $0.1.value.doubles() })
    }

    @Test(arguments: TestDevices.all)
    func eagerStepsUpdateEveryVariableInOneJittedCall(device: Device) throws {
        let together = launchSaving(device)
        for (name, make) in Self.makers {
            let one = try steps(make, shapes: [[3, 4]], on: device), two = try steps(make, shapes: [[3, 4], [5]], on: device)
            // One fused launch per variable, writing the weights and, for Momentum and
            // Adam, the velocity or the moments beside them (multi-output fusion), plus
            // Adam's three counters; with jit's launch-saving passes (OpenCL GPUs, or
            // ADJOINT_JIT_TOGETHER=1) the second variable's kernel joins the first's or
            // runs as one row kernel, so a step costs at most one more.
            if together {
                #expect(two.launches - one.launches <= 1, "\(name): \(one.launches) and \(two.launches) launches")
            } else {
                #expect(two.launches - one.launches == 1, "\(name): \(one.launches) and \(two.launches) launches")
                #expect(one.launches == (name == "adamw" ? 4 : 1), "\(name): \(one.launches) launches for one variable")
            }
            let cpu = try steps(make, shapes: [[3, 4], [5]], on: .cpu)
            for (got, expected) in zip(two.values, cpu.values) { expectClose(got, expected, tolerance: 1e-5, name) }
        }
    }

    @Test func variablesOnTwoDevicesStepOneJittedCallPerDevice() throws {
        guard let openCL = TestDevices.requireOpenCL() else { return }
        for (name, make) in Self.makers {
            let expected = try steps(make, shapes: [[3, 4], [5], [2]], on: .cpu)
            // The counters live on the first variable's device; the OpenCL group is
            // updated with them in both orders.
            for devices in [[Device.cpu, openCL, .cpu], [openCL, .cpu, openCL]] {
                let mixed = try steps(make, shapes: [[3, 4], [5], [2]], on: .cpu, devices: devices)
                for (got, want) in zip(mixed.values, expected.values) { expectClose(got, want, tolerance: 1e-5, "\(name) on \(devices)") }
            }
        }
    }

    @Test func stepsTakenOneVariableAtATimeMatchOneCall() throws {
        for (name, make) in Self.makers {
            let expected = try steps(make, shapes: [[3], [2, 2]], on: .cpu).values
            let variables = [[3], [2, 2]].enumerated().map { ("w\($0.offset)", TrainVar(Tensor.randomNormal($0.element, seed: UInt64($0.offset), on: .cpu))) }
            let optimizer = make(VarCollection(variables))
            let gradients = [[3], [2, 2]].enumerated().map { Tensor.randomNormal($0.element, seed: UInt64(10 + $0.offset), on: .cpu) }
            for scale in [1.0, 1, -0.5] {
                noGrad {
                    optimizer.beginStep()
                    for (index, gradient) in gradients.enumerated() { optimizer.apply(index: index, gradient: scale * gradient, learningRate: 0.1) }
                }
            }
            for (got, want) in zip(try variables.map { try $0.1.value.doubles() }, expected) { expectClose(got, want, tolerance: 1e-6, name) }
        }
    }

    @Test func adamSkipsVariablesWithoutGradientsAndStepsOnlyWithSome() throws {
        let used = Linear(2, 1, seed: 1, on: .cpu), unused = Linear(2, 1, seed: 2, on: .cpu)
        let optimizer = Adam(VarCollection([("used.w", used.w), ("used.b", used.b!), ("unused.w", unused.w), ("unused.b", unused.b!)]), learningRate: 0.1)
        let before = try unused.vars().tensors().map { try $0.doubles() }
        optimizer.step()
        #expect(optimizer.steps.count == 0, "no gradients, no step")
        used(Tensor([[1, 2]] as [[Float]], on: .cpu)).sum().backward()
        optimizer.step()
        #expect(optimizer.steps.count == 1)
        #expect(try unused.vars().tensors().map { try $0.doubles() } == before)
        // Adam's first step moves each weight by lr against the sign of its gradient.
        let initial = try Linear(2, 1, seed: 1, on: .cpu).w.value.doubles()
        expectClose(used.w.value, initial.map { $0 - 0.1 }, tolerance: 1e-5)
        #expect(try optimizer.m[2].value.doubles() == [0, 0] && optimizer.v[3].value.doubles() == [0])
    }

    @Test func float64AndMixedVariablesStepInTheirOwnPrecision() throws {
        // Adam in float64 against the closed form to 1e-12 (float32 counters would leave
        // 1e-8), and a model mixing float32 and float64 variables in one call.
        let expected = Self.adamTrajectory()
        let precise = TrainVar(Tensor([1] as [Double], on: .cpu)), single = TrainVar(Tensor([1] as [Float], on: .cpu))
        for (name, make) in Self.makers + [("adam", { @Sendable in Adam($0) })] {
            let wide = TrainVar(Tensor([1] as [Double], on: .cpu)), narrow = TrainVar(Tensor([1] as [Float], on: .cpu))
            let optimizer = make(VarCollection([("a", wide), ("b", narrow)]))
            for g in Self.gradients { optimizer(lr: 0.1, [Tensor([g], on: .cpu), Tensor([Float(g)], on: .cpu)]) }
            #expect(wide.value.dtype == .float64 && narrow.value.dtype == .float32)
            expectClose(wide.value, try narrow.value.doubles(), tolerance: 1e-6, name)
            if name == "adam" { expectClose(wide.value, [expected[2]], tolerance: 1e-12, "float64 Adam") }
        }
        let adam = Adam(VarCollection([("w", precise), ("s", single)]), learningRate: 0.1)
        #expect(adam.biasCorrections.allSatisfy { $0.value.dtype == .float64 })
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

    @Test func aLayerUsedTwiceTrainsOnceByItsSummedGradient() throws {
        // Tied weights: y = sum(L(L(x))) with L(v) = v·w + b, scalar w and b.
        let shared = Linear(1, 1, seed: 4, on: .cpu)
        let model = Sequential { shared; shared }
        #expect(model.vars().count == 4 && model.vars().trainVars.count == 2)
        let w = try shared.w.value.doubles()[0], b = try shared.b!.value.doubles()[0]
        let x = Tensor([[1.5]] as [[Float]], on: .cpu)
        let gv = GradValues({ x, _ in .single(model(x).sum()) }, vars: model.vars())
        let (gradients, _) = gv(x, x)
        // d/dw (x·w + b)·w + b = 2·x·w + b; d/db = w + 1 (Linear declares its bias first).
        #expect(gradients.count == 2 && model.vars().trainVars[0] === shared.b!)
        expectClose(gradients[1], [2 * 1.5 * w + b], tolerance: 1e-5)
        expectClose(gradients[0], [w + 1], tolerance: 1e-5)
        SGD(model.vars(), learningRate: 0.1)(lr: 0.1, gradients)
        expectClose(shared.w.value, [w - 0.1 * (2 * 1.5 * w + b)], tolerance: 1e-5)
        expectClose(shared.b!.value, [b - 0.1 * (w + 1)], tolerance: 1e-5)
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
