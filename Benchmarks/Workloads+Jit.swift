import Adjoint
import AdjointNN
import Foundation

/// `--mode jit`: the workloads whose step is a function of tensors, compiled with `jit`
/// (W3's step with AdjointNN's `Jit`), each checked against the eager step before timing. Every
/// line reports the launches per step the unfused program would make and the fused one
/// makes, and lists the fused program's launches.
extension Workloads {
    var jitImpl: String { harness.impl.replacingOccurrences(of: "-eager", with: "-jit") }

    /// Emits one jit measurement with the program's launch counts before and after fusion.
    private func emitJit(_ workload: String, impl: String, size: Any, timing: (median: Double, min: Double), ledger: [String: Any], fused: JitProgramSummary?, unfused: JitProgramSummary?) {
        var extra = ledger
        extra["launches_traced"] = fused?.tracedSteps ?? 0
        extra["launches_before_fusion"] = unfused?.launches ?? 0
        extra["launches_after_fusion"] = fused?.launches ?? 0
        extra["kernels"] = fused?.kernels ?? []
        harness.emit(workload: workload, impl: impl, size: size, median: timing.median, min: timing.min, extra: extra)
    }

    func w1Jit() throws {
        let step = jit(name: "W1") { (x: Tensor) -> [Tensor] in let (value, gradient) = w1Step(x); return [value, gradient] }
        let unfused = jit(name: "W1", options: JitOptions(fuseElementwise: false)) { (x: Tensor) -> [Tensor] in let (value, gradient) = w1Step(x); return [value, gradient] }
        let small = Tensor.randomNormal([1000], seed: 1, on: device)
        let (value, gradient) = w1Step(small)
        let compiled = step(small)
        try requireClose(compiled[0].doubles(), value.doubles(), tolerance: 1e-3, "W1 jit value")
        try requireClose(compiled[1].doubles(), gradient.doubles(), tolerance: 1e-5, "W1 jit gradient")
        let n = gpuSizes ? 1 << 26 : 1 << 22
        let x = Tensor.randomNormal([n], seed: 0, on: device)
        _ = unfused(x)
        let (timing, ledger) = try harness.timeWithLedger { _ = step(x) }
        emitJit("W1", impl: jitImpl, size: n, timing: timing, ledger: ledger, fused: step.lastProgram, unfused: unfused.lastProgram)
    }

    /// The W3 step (`MLPStep`) compiled whole: forward, backward and the SGD update.
    static func jitMLPStep(on device: Device, hidden: Int = 1024, options: JitOptions = JitOptions()) -> Jit<Tensor> {
        let eager = MLPStep(on: device, hidden: hidden)
        return Jit(eager.step, vars: eager.vars, name: "W3", options: options)
    }

    func w3Jit() throws {
        let x = Tensor.randomNormal([8, 784], seed: 5, on: device), labels = Tensor.randomInt([8], low: 0, high: 10, seed: 6, on: device)
        let reference = MLPStep(on: device, hidden: 64), candidate = Self.jitMLPStep(on: device, hidden: 64)
        for _ in 0..<3 {
            try requireClose(candidate(x, labels).doubles(), reference.step(x, labels).doubles(), tolerance: 1e-4, "W3 jit loss")
        }
        for batch in gpuSizes ? [128, 1024] : [128] {
            let step = Self.jitMLPStep(on: device), unfused = Self.jitMLPStep(on: device, options: JitOptions(fuseElementwise: false))
            let inputs = Tensor.randomNormal([batch, 784], seed: 7, on: device)
            let targets = Tensor.randomInt([batch], low: 0, high: 10, seed: 8, on: device)
            _ = unfused(inputs, targets)
            let (timing, ledger) = try harness.timeWithLedger { _ = step(inputs, targets) }
            emitJit("W3", impl: jitImpl, size: batch, timing: timing, ledger: ledger.merging(["steps_per_s": (1000 / timing.median * 10).rounded() / 10]) { $1 },
                    fused: step.lastProgram, unfused: unfused.lastProgram)
        }
    }

    func w4Jit() throws {
        let compiled = jit(name: "W4") { (t: [Tensor]) in Self.perExampleTD(t[0], t[1], t[2], t[3]) }
        let unfused = jit(name: "W4", options: JitOptions(fuseElementwise: false)) { (t: [Tensor]) in Self.perExampleTD(t[0], t[1], t[2], t[3]) }
        let (size, batch) = (1024, gpuSizes ? 16384 : 4096)
        let inputs = [
            Tensor.randomNormal([size], seed: 18, on: device), Tensor.randomNormal([batch, size], seed: 19, on: device),
            Tensor.randomNormal([batch], seed: 20, on: device), Tensor.randomNormal([batch, size], seed: 21, on: device),
        ]
        try requireClose(compiled(inputs).doubles(), Self.perExampleTD(inputs[0], inputs[1], inputs[2], inputs[3]).doubles(), tolerance: 1e-3, "W4 jit")
        _ = unfused(inputs)
        let (timing, ledger) = try harness.timeWithLedger { _ = compiled(inputs) }
        emitJit("W4", impl: jitImpl + "-vmap", size: [size, batch], timing: timing, ledger: ledger, fused: compiled.lastProgram, unfused: unfused.lastProgram)
    }

    func w5Jit() throws {
        let n = gpuSizes ? 1024 : 256
        let w = Tensor.randomNormal([n, n], standardDeviation: 0.1, seed: 11, on: device)
        let x = Tensor.randomNormal([n], seed: 12, on: device), v = Tensor.randomNormal([n], seed: 13, on: device)
        let f = w5Function(w)
        let compiled = jit(name: "W5") { (t: [Tensor]) in hvp(f, at: t[0], vector: t[1]) }
        let unfused = jit(name: "W5", options: JitOptions(fuseElementwise: false)) { (t: [Tensor]) in hvp(f, at: t[0], vector: t[1]) }
        try requireClose(compiled([x, v]).doubles(), hvp(f, at: x, vector: v).doubles(), tolerance: 1e-3, "W5 jit hvp")
        _ = unfused([x, v])
        let (timing, ledger) = try harness.timeWithLedger { _ = compiled([x, v]) }
        emitJit("W5", impl: jitImpl + "-hvp", size: n, timing: timing, ledger: ledger, fused: compiled.lastProgram, unfused: unfused.lastProgram)

        let hessianCompiled = jit(name: "W5 Hessian") { (x: Tensor) in hessian(f)(x) }
        let hessianUnfused = jit(name: "W5 Hessian", options: JitOptions(fuseElementwise: false)) { (x: Tensor) in hessian(f)(x) }
        let small = Tensor.randomNormal([12], seed: 10, on: device), smallF = w5Function(Tensor.randomNormal([12, 12], standardDeviation: 0.1, seed: 9, on: device))
        let smallCompiled = jit(name: "W5 Hessian check") { (x: Tensor) in hessian(smallF)(x) }
        try requireClose(smallCompiled(small).doubles(), hessian(smallF)(small).doubles(), tolerance: 1e-4, "W5 jit Hessian")
        _ = hessianUnfused(x)
        let (hessianTiming, hessianLedger) = try harness.timeWithLedger { _ = hessianCompiled(x) }
        emitJit("W5", impl: jitImpl + "-hessian", size: n, timing: hessianTiming, ledger: hessianLedger, fused: hessianCompiled.lastProgram, unfused: hessianUnfused.lastProgram)
    }

    func w6Jit() throws {
        let (parameters, tasks) = Self.mamlProblem(on: device)
        let compiled = jit(name: "W6") { (t: [Tensor]) in Self.mamlMetaGradient(Array(t[..<parameters.count]), Array(t[parameters.count...])) }
        let unfused = jit(name: "W6", options: JitOptions(fuseElementwise: false)) { (t: [Tensor]) in Self.mamlMetaGradient(Array(t[..<parameters.count]), Array(t[parameters.count...])) }
        let expected = Self.mamlMetaGradient(parameters, tasks)
        for (a, b) in zip(compiled(parameters + tasks), expected) { try requireClose(a.doubles(), b.doubles(), tolerance: 1e-3, "W6 jit meta-gradient") }
        _ = unfused(parameters + tasks)
        let (timing, ledger) = try harness.timeWithLedger { _ = compiled(parameters + tasks) }
        emitJit("W6", impl: jitImpl + "-vmap", size: [25, 10], timing: timing, ledger: ledger, fused: compiled.lastProgram, unfused: unfused.lastProgram)
    }
}
