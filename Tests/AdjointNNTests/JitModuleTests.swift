import Adjoint
import AdjointNN
import AdjointTestSupport
import Foundation
import Testing

/// The `Jit` module: a whole training step (forward, backward, optimizer update) compiled
/// once and replayed, against the same step run eagerly; on every device.
@Suite struct JitModuleTests {
    struct Setup {
        let model: Sequential
        let gv: GradValues
        let optimizer: Optimizer
    }

    static func setup(_ optimizer: String) -> Setup {
        let model = Sequential { Linear(2, 16, seed: 1); relu; Linear(16, 3, seed: 2) }
        let gv = GradValues({ x, y in .single(crossEntropyLogits(model(x), y).mean()) }, vars: model.vars())
        let opt: Optimizer = optimizer == "adam" ? Adam(model.vars(), learningRate: 0.05) : Momentum(model.vars(), learningRate: 0.1)
        return Setup(model: model, gv: gv, optimizer: opt)
    }

    static func losses(_ optimizer: String, jitted: Bool, steps: Int, on device: Device) throws -> (losses: [Double], weights: [[Double]], traces: Int) {
        try withDevice(device) { () throws in
            let (x, y) = TrainingTests.blobs(on: device)
            let s = setup(optimizer)
            let step: (Tensor, Tensor) -> LossValues = { x, y in
                let (g, v) = s.gv(x, y)
                s.optimizer(lr: optimizer == "adam" ? 0.05 : 0.1, g)
                return v
            }
            let compiled = Jit(step, vars: s.gv.vars() + s.optimizer.vars())
            var losses: [Double] = []
            for _ in 0..<steps {
                let values = jitted ? compiled(x, y) : step(x, y)
                if case .single(let loss) = values { losses.append(try loss.doubles()[0]) }
            }
            return (losses, try s.model.vars().tensors().map { try $0.doubles() }, compiled.traceCount)
        }
    }

    /// Runs `steps` steps eagerly and jitted, expects the same losses and weights, and
    /// returns the jitted run.
    static func expectJittedMatchesEager(_ optimizer: String, steps: Int, on device: Device) throws -> (losses: [Double], weights: [[Double]], traces: Int) {
        let eager = try losses(optimizer, jitted: false, steps: steps, on: device)
        let jitted = try losses(optimizer, jitted: true, steps: steps, on: device)
        expectClose(jitted.losses, eager.losses, tolerance: 1e-4)
        for (a, e) in zip(jitted.weights, eager.weights) { expectClose(a, e, tolerance: 1e-4) }
        return jitted
    }

    @Test func recordedTrainingStepsMatchStepsThatLaunchEachKernel() throws {
        // Adam on a new batch every step, its program replayed as one recorded submission
        // (where the OpenCL device records: PoCL does) against the same program launching
        // each kernel: the variables are the last step's outputs, the batch is copied in.
        guard let device = TestDevices.requireOpenCL() else { return }
        func train(recording: Bool) throws -> (losses: [Double], weights: [[Double]], records: Bool, counts: (replays: Int, recordings: Int)) {
            try withDevice(device) { () throws in
                let (x, y) = TrainingTests.blobs(on: device)
                let s = Self.setup("adam")
                let step = Jit({ x, y in
                    let (g, v) = s.gv(x, y)
                    s.optimizer(lr: 0.05, g)
                    return v
                }, vars: s.gv.vars() + s.optimizer.vars(), options: JitOptions(recordReplays: recording))
                var losses: [Double] = []
                for index in 0..<8 {
                    let batch = x + Tensor.randomNormal(x.shape, standardDeviation: 0.05, seed: UInt64(100 + index), on: device)
                    if case .single(let loss) = step(batch, y) { losses.append(try loss.doubles()[0]) }
                }
                return (losses, try s.model.vars().tensors().map { try $0.doubles() }, step.lastProgram!.recordsReplays, step.recordedReplays)
            }
        }
        let recorded = try train(recording: true), launched = try train(recording: false)
        expectClose(recorded.losses, launched.losses, tolerance: 1e-5)
        for (a, e) in zip(recorded.weights, launched.weights) { expectClose(a, e, tolerance: 1e-5) }
        #expect(recorded.losses.last! < recorded.losses.first!)
        #expect(!launched.records && launched.counts.replays == 0)
        if recorded.records {
            // Two frames settle into alternating after at most four recordings.
            #expect(recorded.counts.replays == 8 && recorded.counts.recordings <= 4, "\(recorded.counts)")
        }
    }

    @Test(arguments: TestDevices.all)
    func jittedMomentumStepEqualsEagerStep(_ device: Device) throws {
        let jitted = try Self.expectJittedMatchesEager("momentum", steps: 6, on: device)
        #expect(jitted.traces == 1)
        #expect(jitted.losses.last! < jitted.losses.first!)
    }

    @Test(arguments: TestDevices.all)
    func jittedAdamStepEqualsEagerStepAndTracesOnce(_ device: Device) throws {
        let jitted = try Self.expectJittedMatchesEager("adam", steps: 5, on: device)
        #expect(jitted.traces == 1, "the step counter is a device tensor, so Adam's bias correction needs no retrace")
    }

    @Test(arguments: TestDevices.all)
    func jittedDropoutStepTracesOnceAndDrawsAsEager(_ device: Device) throws {
        func run(jitted: Bool) throws -> (losses: [Double], counter: UInt64, traces: Int) {
            try withDevice(device) { () throws in
                let (x, y) = TrainingTests.blobs(on: device)
                let dropout = Dropout(rate: 0.5, seed: 3)
                let model = Sequential { Linear(2, 16, seed: 1); relu; dropout; Linear(16, 3, seed: 2) }
                let gv = GradValues({ x, y in .single(crossEntropyLogits(model(x), y).mean()) }, vars: model.vars())
                let optimizer = SGD(model.vars())
                let step: (Tensor, Tensor) -> LossValues = { x, y in
                    let (g, v) = gv(x, y)
                    optimizer(lr: 0.1, g)
                    return v
                }
                let compiled = Jit(step, vars: gv.vars() + optimizer.vars())
                var losses: [Double] = []
                for _ in 0..<5 {
                    if case .single(let loss) = jitted ? compiled(x, y) : step(x, y) { losses.append(try loss.doubles()[0]) }
                }
                return (losses, dropout.random.stream.position.counter, compiled.traceCount)
            }
        }
        let eager = try run(jitted: false), jitted = try run(jitted: true)
        expectClose(jitted.losses, eager.losses, tolerance: 1e-5)
        #expect(Set(eager.losses.map { ($0 * 1e6).rounded() }).count == 5, "different masks give different losses")
        #expect(jitted.counter == 5 && eager.counter == 5)
        #expect(jitted.traces == 1, "the dropout stream stays on the host and is asked again at every replay")
    }

    @Test func trainingStepProgramIsFused() throws {
        let (x, y) = TrainingTests.blobs(on: .cpu)
        let s = withDevice(.cpu) { Self.setup("momentum") }
        let step = Jit({ x, y in
            let (g, v) = s.gv(x, y)
            s.optimizer(lr: 0.1, g)
            return v
        }, vars: s.gv.vars() + s.optimizer.vars())
        _ = step(x, y)
        _ = step(x, y)
        let program = try #require(step.lastProgram)
        #expect(step.cacheHits == 1)
        #expect(program.fusedKernels > 0)
        #expect(program.launches <= program.tracedSteps * 2 / 3, "\(program) \(program.kernels)")
    }
}
