import Adjoint
import AdjointNN
import Foundation

extension Workloads {
    /// `COMPILE`: what a first call of a jitted function costs before it runs: tracing (the
    /// function on symbolic tensors) and compiling (the passes, the buffer plan and the
    /// generated kernels' builds; a kernel already in the process's cache is not rebuilt,
    /// so each program here is traced on a fresh function; the backend's own
    /// programs are loaded before, by an eager W3 step). Programs: W3's step, the main
    /// job's CNN Adam step, and Hessian-vector products through a convolution with a
    /// growing kernel, whose window adjoint adds steps per tap: graphs of thousands to
    /// tens of thousands of steps.
    func compileTimes() throws {
        func emit(_ program: String, size: Any, _ summary: JitProgramSummary?, firstCall: Double) {
            guard let summary else { return }
            harness.emit(workload: "COMPILE", impl: jitImpl, size: size, extra: [
                "program": program, "traced_steps": summary.tracedSteps, "launches": summary.launches,
                "trace_ms": (summary.traceSeconds * 1e4).rounded() / 10, "compile_ms": (summary.compileSeconds * 1e4).rounded() / 10,
                "first_call_ms": (firstCall * 1e4).rounded() / 10,
            ])
        }
        func firstCall(_ body: () throws -> Void) throws -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            try device.synchronize()
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }

        let inputs = Tensor.randomNormal([128, 784], seed: 7, on: device)
        let targets = Tensor.randomInt([128], low: 0, high: 10, seed: 8, on: device)
        // The device's own programs load on their first use (W7 counts that): an eager step first.
        _ = MLPStep(on: device).step(inputs, targets)
        try device.synchronize()
        let mlp = Self.jitMLPStep(on: device)
        let mlpTime = try firstCall { _ = mlp(inputs, targets) }
        emit("W3", size: 128, mlp.lastProgram, firstCall: mlpTime)

        let model = Classifier.make(.cnn, seed: 0, on: device)
        let optimizer = Classifier.optimizer("adam", for: model, learningRate: 1e-3)!
        let cnn = Jit(Classifier.makeStep(model: model, optimizer: optimizer, learningRate: 1e-3), vars: model.vars() + optimizer.vars(), name: "train step")
        let images = Tensor.randomUniform([128, 1, 28, 28], seed: 9, on: device), labels = Tensor.randomInt([128], low: 0, high: 10, seed: 10, on: device)
        let cnnTime = try firstCall { _ = cnn(images, labels) }
        emit("FM-CNN", size: 128, cnn.lastProgram, firstCall: cnnTime)

        for taps in [8, 16, 32, 64, 96] {
            let x = Tensor.randomNormal([1, 2, taps + 8, taps + 8], seed: 40, on: device)
            let v = Tensor.randomNormal(x.shape, seed: 41, on: device)
            let w = Tensor.randomNormal([3, 2, taps, taps], standardDeviation: 0.1, seed: 42, on: device)
            let product = jit(name: "COMPILE") { (t: [Tensor]) in hvp({ ($0.conv2d(w).tanh() * 0.5).pow(2).sum() }, at: t[0], vector: t[1]) }
            let time = try firstCall { _ = product([x, v]) }
            emit("conv-hvp", size: [taps, taps], product.lastProgram, firstCall: time)
        }
    }
}
