import Adjoint
import AdjointNN
import Foundation

/// The shared workloads W1-W7 (../shared/BENCHMARKS.md), each checked against the CPU
/// backend at a small size before it is timed.
struct Workloads {
    let harness: Harness
    /// true: the GPU sizes of BENCHMARKS.md; false: the CPU sizes.
    let gpuSizes: Bool
    var device: Device { harness.device }

    // MARK: W1

    func w1Step(_ x: Tensor) -> (Tensor, Tensor) {
        let result = valueAndGrad { (x: Tensor) in (x.sin() * 2 + 1).sum() }(x)
        return (result.value, result.gradient)
    }

    func w1() throws {
        let small = Tensor.randomNormal([1000], seed: 1, on: .cpu)
        let (cpuValue, cpuGradient) = w1Step(small)
        let (value, gradient) = w1Step(small.to(device))
        try requireClose(value.doubles(), cpuValue.doubles(), tolerance: 1e-4, "W1 value")
        try requireClose(gradient.doubles(), cpuGradient.doubles(), tolerance: 1e-5, "W1 gradient")
        let n = gpuSizes ? 1 << 26 : 1 << 22
        let x = Tensor.randomNormal([n], seed: 0, on: device)
        let ((median, min), ledger) = try harness.timeWithLedger { _ = w1Step(x) }
        harness.emit(workload: "W1", impl: harness.impl, size: n, median: median, min: min, extra: ledger)
    }

    // MARK: W2

    func w2() throws {
        // Both sides past 128 with ragged edges: every tiled kernel (forced or chosen) is
        // checked before it is timed.
        let a = Tensor.randomNormal([130, 67], seed: 1, on: .cpu), b = Tensor.randomNormal([67, 257], seed: 2, on: .cpu)
        try requireClose(a.to(device).matmul(b.to(device)).doubles(), a.matmul(b).doubles(), tolerance: 1e-4, "W2 product")
        for n in gpuSizes ? [4096, 8192] : [1024] {
            let x = Tensor.randomNormal([n, n], seed: 3, on: device), y = Tensor.randomNormal([n, n], seed: 4, on: device)
            let (median, min) = try harness.time { _ = x.matmul(y) }
            harness.emit(workload: "W2", impl: harness.impl, size: n, median: median, min: min, extra: ["gflops": (2 * pow(Double(n), 3) / (median * 1e-3) / 1e9).rounded()])
        }
    }

    // MARK: W3

    /// The MLP 784-1024-1024-10 with its GradValues and SGD, on `device`.
    struct MLPStep {
        let model: Sequential
        let step: (Tensor, Tensor) -> Tensor
        /// Everything the step reads and writes: the model's and the optimizer's variables.
        let vars: VarCollection

        init(on device: Device, hidden: Int = 1024) {
            let model = withDevice(device) { Sequential { Linear(784, hidden, seed: 1); relu; Linear(hidden, hidden, seed: 2); relu; Linear(hidden, 10, seed: 3) } }
            let gv = GradValues({ x, y in .single(crossEntropyLogits(model(x), y).mean()) }, vars: model.vars())
            let optimizer = SGD(model.vars(), learningRate: 0.01)
            self.model = model
            vars = gv.vars() + optimizer.vars()
            self.step = { x, y in
                let (gradients, values) = gv(x, y)
                optimizer(lr: 0.01, gradients)
                guard case .single(let loss) = values else { return Tensor.zeros([]) }
                return loss
            }
        }
    }

    func w3() throws {
        let x = Tensor.randomNormal([8, 784], seed: 5, on: .cpu), labels = Tensor.randomInt([8], low: 0, high: 10, seed: 6, on: .cpu)
        // Hidden 160: the weight gradients are [784, 160] and [160, 160] products, which
        // reach the 128-tile GEMM when it is chosen.
        let reference = MLPStep(on: .cpu, hidden: 160), candidate = MLPStep(on: device, hidden: 160)
        for _ in 0..<3 {
            try requireClose(candidate.step(x.to(device), labels.to(device)).doubles(), reference.step(x, labels).doubles(), tolerance: 1e-4, "W3 loss")
        }
        for batch in gpuSizes ? [128, 1024] : [128] {
            let step = MLPStep(on: device)
            let inputs = Tensor.randomNormal([batch, 784], seed: 7, on: device)
            let targets = Tensor.randomInt([batch], low: 0, high: 10, seed: 8, on: device)
            let ((median, min), ledger) = try harness.timeWithLedger { _ = step.step(inputs, targets) }
            harness.emit(workload: "W3", impl: harness.impl, size: batch, median: median, min: min, extra: ledger.merging(["steps_per_s": (1000 / median * 10).rounded() / 10]) { $1 })
        }
    }

    // MARK: W5

    func w5Function(_ w: Tensor) -> (Tensor) -> Tensor {
        { x in w.matmul(x.tanh()).logSumExp() }
    }

    func w5() throws {
        let smallW = Tensor.randomNormal([12, 12], standardDeviation: 0.1, seed: 9, on: .cpu), smallX = Tensor.randomNormal([12], seed: 10, on: .cpu)
        try requireClose(hessian(w5Function(smallW.to(device)))(smallX.to(device)).doubles(), hessian(w5Function(smallW))(smallX).doubles(), tolerance: 1e-4, "W5 Hessian")
        let n = gpuSizes ? 1024 : 256
        let w = Tensor.randomNormal([n, n], standardDeviation: 0.1, seed: 11, on: device)
        let x = Tensor.randomNormal([n], seed: 12, on: device), v = Tensor.randomNormal([n], seed: 13, on: device)
        let f = w5Function(w)
        let (hessianMedian, hessianMin) = try harness.time(repetitions: 5) { _ = hessian(f)(x) }
        harness.emit(workload: "W5", impl: harness.impl + "-hessian", size: n, median: hessianMedian, min: hessianMin)
        let (hvpMedian, hvpMin) = try harness.time { _ = hvp(f, at: x, vector: v) }
        harness.emit(workload: "W5", impl: harness.impl + "-hvp", size: n, median: hvpMedian, min: hvpMin)
    }

    // MARK: W4

    /// Per-example gradients of the TD(0) loss with shared θ: vmap over (nil, 0, 0, 0).
    static func perExampleTD(_ theta: Tensor, _ previous: Tensor, _ reward: Tensor, _ next: Tensor) -> Tensor {
        vmap(grad { (theta: Tensor, previous: Tensor, reward: Tensor, next: Tensor) in
            (stopGradient(reward + theta.matmul(next)) - theta.matmul(previous)).squared()
        }, inAxes: (nil, 0, 0, 0))(theta, previous, reward, next)
    }

    func w4() throws {
        // d = 80: rows past 64, so the GPU's work-group-per-row GEMV is checked too.
        let (d, b) = (80, 8)
        let theta = Tensor.randomNormal([d], seed: 14, on: .cpu), previous = Tensor.randomNormal([b, d], seed: 15, on: .cpu)
        let reward = Tensor.randomNormal([b], seed: 16, on: .cpu), next = Tensor.randomNormal([b, d], seed: 17, on: .cpu)
        let cpu = Self.perExampleTD(theta, previous, reward, next)
        let error = reward + next.matmul(theta) - previous.matmul(theta)
        try requireClose(cpu.doubles(), (-2 * error.unsqueezed(axis: 1) * previous).doubles(), tolerance: 1e-5, "W4 closed form")
        let here = Self.perExampleTD(theta.to(device), previous.to(device), reward.to(device), next.to(device))
        try requireClose(here.doubles(), cpu.doubles(), tolerance: 1e-4, "W4 per-example gradients")
        let (size, batch) = (1024, gpuSizes ? 16384 : 4096)
        let thetaLarge = Tensor.randomNormal([size], seed: 18, on: device), rewardLarge = Tensor.randomNormal([batch], seed: 20, on: device)
        let previousLarge = Tensor.randomNormal([batch, size], seed: 19, on: device), nextLarge = Tensor.randomNormal([batch, size], seed: 21, on: device)
        let ((median, min), ledger) = try harness.timeWithLedger { _ = Self.perExampleTD(thetaLarge, previousLarge, rewardLarge, nextLarge) }
        harness.emit(workload: "W4", impl: harness.impl + "-vmap", size: [size, batch], median: median, min: min, extra: ledger)
    }

    // MARK: W6

    /// The MLP 1-40-40-1 (ReLU) of W6 as plain parameters `[W1, b1, W2, b2, W3, b3]`.
    static func mamlNetwork(_ p: [Tensor], _ x: Tensor) -> Tensor {
        let first = (x.matmul(p[0]) + p[1]).relu()
        let second = (first.matmul(p[2]) + p[3]).relu()
        return second.matmul(p[4]) + p[5]
    }

    static func mamlTaskLoss(_ p: [Tensor], _ task: [Tensor]) -> Tensor {
        let mse: ([Tensor], Tensor, Tensor) -> Tensor = { p, x, y in (mamlNetwork(p, x) - y).squared().mean() }
        let g = grad { (q: [Tensor]) in mse(q, task[0], task[1]) }(p)
        return mse(zip(p, g).map { $0 - 0.01 * $1 }, task[2], task[3])
    }

    /// The meta-gradient: the inner SGD step differentiated through, vmapped over tasks.
    static func mamlMetaGradient(_ p: [Tensor], _ tasks: [Tensor]) -> [Tensor] {
        grad { (q: [Tensor]) in vmap({ (task: [Tensor]) in mamlTaskLoss(q, task) }, inAxes: [0, 0, 0, 0])(tasks).mean() }(p)
    }

    static func mamlProblem(on device: Device) -> (parameters: [Tensor], tasks: [Tensor]) {
        let sizes = [1, 40, 40, 1]
        var parameters: [Tensor] = []
        for (index, (m, n)) in zip(sizes.dropLast(), sizes.dropFirst()).enumerated() {
            parameters.append(Tensor.randomNormal([m, n], standardDeviation: (2 / Double(m)).squareRoot(), seed: 30 + UInt64(index), on: device))
            parameters.append(Tensor.zeros([n], on: device))
        }
        let (tasks, shots) = (25, 10)
        let inner = Tensor.randomUniform([tasks, shots, 1], low: -5, high: 5, seed: 40, on: device)
        let outer = Tensor.randomUniform([tasks, shots, 1], low: -5, high: 5, seed: 41, on: device)
        let amplitude = Tensor.randomUniform([tasks, 1, 1], low: 0.1, high: 5, seed: 42, on: device)
        let phase = Tensor.randomUniform([tasks, 1, 1], low: 0, high: Double.pi, seed: 43, on: device)
        return (parameters, [inner, amplitude * (inner - phase).sin(), outer, amplitude * (outer - phase).sin()])
    }

    func w6() throws {
        let (cpuParameters, cpuTasks) = Self.mamlProblem(on: .cpu)
        let cpu = Self.mamlMetaGradient(cpuParameters, cpuTasks)
        let looped = grad { (q: [Tensor]) in
            Tensor.stack((0..<25).map { task in Self.mamlTaskLoss(q, cpuTasks.map { $0[task] }) }).mean()
        }(cpuParameters)
        for (batched, reference) in zip(cpu, looped) { try requireClose(batched.doubles(), reference.doubles(), tolerance: 1e-4, "W6 vmap vs loop over tasks") }
        let (parameters, tasks) = Self.mamlProblem(on: device)
        let here = Self.mamlMetaGradient(parameters, tasks)
        for (a, b) in zip(here, cpu) { try requireClose(a.doubles(), b.doubles(), tolerance: 1e-3, "W6 meta-gradient") }
        let ((median, min), ledger) = try harness.timeWithLedger { _ = Self.mamlMetaGradient(parameters, tasks) }
        harness.emit(workload: "W6", impl: harness.impl + "-vmap", size: [25, 10], median: median, min: min, extra: ledger)
    }

    // MARK: W7

    /// Runs `adjoint-bench --cold-start-child` in a fresh process and reports its wall time.
    func w7() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = ["--cold-start-child", "--device", "\(device)"]
        let start = Date()
        try process.run()
        process.waitUntilExit()
        let seconds = Date().timeIntervalSince(start)
        guard process.terminationStatus == 0 else { throw CheckFailure(description: "W7 child failed with status \(process.terminationStatus)") }
        harness.emit(workload: "W7", impl: harness.impl, size: 128, extra: ["seconds": (seconds * 1000).rounded() / 1000])
    }

    /// The child of W7: build the MLP and take one step.
    static func coldStartChild(device: Device) throws {
        let step = MLPStep(on: device)
        let loss = step.step(Tensor.randomNormal([128, 784], seed: 7, on: device), Tensor.randomInt([128], low: 0, high: 10, seed: 8, on: device))
        _ = try loss.doubles()
    }
}
