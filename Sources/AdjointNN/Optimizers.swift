import Adjoint
import Foundation

/// Counts steps on the optimizer's device: a float32 scalar (exact to 2^24 steps) that
/// the update reads as a tensor, so a compiled (`Jit`) training step replays without
/// retracing and an eager step never waits for the host.
public final class StepCounter: StateVar, @unchecked Sendable {
    /// A counter at zero on `device` (default: the current default device).
    public init(on device: Device? = nil) { super.init(Tensor.zeros([], on: device)) }

    /// The number of steps taken (reads the device).
    public var count: Int { Int((try? value.item(as: Float.self)) ?? 0) }

    /// Advances by one and returns the new count as a tensor.
    @discardableResult
    public func increment() -> Tensor {
        assign(value + 1)
        return value
    }
}

/// The base of the optimizers: references to the trained variables, and two ways to
/// step. Objax style: `optimizer(lr: 0.1, gradients)`; PyTorch style: `loss.backward()`,
/// `optimizer.step()`, `optimizer.zeroGrad()`. Subclasses implement `apply`.
open class Optimizer: Module, @unchecked Sendable {
    /// The variables this optimizer updates.
    public let refs: [TrainRef]
    /// The learning rate `step()` uses.
    public var learningRate: Double

    /// An optimizer over the `TrainVar`s of `vars`.
    public init(_ vars: VarCollection, learningRate: Double) {
        refs = vars.trainVars.map(TrainRef.init)
        self.learningRate = learningRate
    }

    /// Updates variable `index` given its gradient (called under `noGrad`, after
    /// `beginStep`).
    open func apply(index: Int, gradient: Tensor, learningRate: Double) {
        fatalError("AdjointNN.Optimizer: \(typeName) must override apply(index:gradient:learningRate:)")
    }

    /// Called once per step before the per-variable updates.
    open func beginStep() {}

    /// One step: updates the variables at `indices` given their gradients, in order
    /// (called under `noGrad`). The default calls `beginStep` and then
    /// `apply(index:gradient:learningRate:)` per variable, so an optimizer written from
    /// scratch overrides only those; SGD, Momentum and Adam override this to compute every
    /// update of the step in one jitted call (PyTorch's "foreach" optimizers): a few fused
    /// launches per variable at most in eager mode, fewer on GPUs where jit launches
    /// kernels together, instead of one per elementwise op.
    open func apply(indices: [Int], gradients: [Tensor], learningRate: Double) {
        beginStep()
        for (index, gradient) in zip(indices, gradients) { apply(index: index, gradient: gradient, learningRate: learningRate) }
    }

    /// Objax style: one step with explicit gradients (one per trained variable, in order).
    public func callAsFunction(lr: Double, _ gradients: [Tensor], file: StaticString = #fileID, line: UInt = #line) {
        guard gradients.count == refs.count else {
            fatalError("AdjointNN.\(typeName): \(gradients.count) gradients for \(refs.count) variables (at \(file):\(line))")
        }
        for (ref, gradient) in zip(refs, gradients) where gradient.shape != ref.value.shape || gradient.device != ref.value.device {
            fatalError("AdjointNN.\(typeName): gradient \(gradient.shape) on \(gradient.device) for a variable \(ref.value.shape) on \(ref.value.device) (at \(file):\(line))")
        }
        noGrad { apply(indices: Array(refs.indices), gradients: gradients.map { $0.detach() }, learningRate: lr) }
    }

    /// PyTorch style: one step with the gradients `backward()` left in each variable's
    /// `grad` (variables without a gradient are skipped).
    public func step(lr: Double? = nil) {
        let indices = refs.indices.filter { refs[$0].ref.grad != nil }
        noGrad { apply(indices: indices, gradients: indices.map { refs[$0].ref.grad!.detach() }, learningRate: lr ?? learningRate) }
    }

    /// Clears every trained variable's `grad`.
    public func zeroGrad() {
        refs.forEach { $0.ref.zeroGrad() }
    }

    /// `indices` (and their gradients) split by the device their variables live on, in
    /// order of first appearance: a jitted update runs on one device.
    func byDevice(_ indices: [Int], _ gradients: [Tensor]) -> [(device: Device, indices: [Int], gradients: [Tensor])] {
        var groups: [(device: Device, indices: [Int], gradients: [Tensor])] = []
        for (index, gradient) in zip(indices, gradients) {
            let device = refs[index].value.device
            if let at = groups.firstIndex(where: { $0.device == device }) {
                groups[at].indices.append(index)
                groups[at].gradients.append(gradient)
            } else {
                groups.append((device, [index], [gradient]))
            }
        }
        return groups
    }

    /// `value` as a rank-0 constant of `like`'s dtype on its device (cached: the learning
    /// rate of a step is an input of the jitted update, not a compile-time constant, so a
    /// schedule never retraces).
    func scalar(_ value: Double, like tensor: Tensor) -> Tensor {
        Tensor.constant(value, dtype: tensor.dtype, on: tensor.device)
    }
}

/// Plain gradient descent: `w ← w − lr·g`.
public final class SGD: Optimizer, @unchecked Sendable {
    /// SGD over `vars`.
    override public init(_ vars: VarCollection, learningRate: Double = 0.01) {
        super.init(vars, learningRate: learningRate)
    }

    /// Every variable's update, from (weights, gradient, learning rate) per variable.
    private let update = jit(name: "SGD.update") { (t: [Tensor]) -> [Tensor] in
        stride(from: 0, to: t.count, by: 3).map { t[$0] - t[$0 + 2] * t[$0 + 1] }
    }

    override public func apply(index: Int, gradient: Tensor, learningRate: Double) {
        apply(indices: [index], gradients: [gradient], learningRate: learningRate)
    }

    override public func apply(indices: [Int], gradients: [Tensor], learningRate: Double) {
        for group in byDevice(indices, gradients) {
            let updated = update(zip(group.indices, group.gradients).flatMap { index, gradient in
                let weights = refs[index].value.detach()
                return [weights, gradient, scalar(learningRate, like: weights)]
            })
            for (index, weights) in zip(group.indices, updated) { refs[index].value = weights }
        }
    }
}

/// Gradient descent with momentum: `m ← μ·m + g`, then `w ← w − lr·m`, or with
/// Nesterov `w ← w − lr·(g + μ·m)`.
public final class Momentum: Optimizer, @unchecked Sendable {
    /// The momentum coefficient μ.
    public let momentum: Double
    /// Whether to use Nesterov's look-ahead.
    public let nesterov: Bool
    /// The velocity per variable.
    public let m: [StateVar]

    /// Momentum over `vars`.
    public init(_ vars: VarCollection, learningRate: Double = 0.01, momentum: Double = 0.9, nesterov: Bool = false) {
        self.momentum = momentum
        self.nesterov = nesterov
        m = vars.trainVars.map { StateVar(Tensor.zeros(like: $0.value)) }
        super.init(vars, learningRate: learningRate)
    }

    /// The hyper-parameters compiled into `update` (the learning rate is an input).
    private struct UpdateConstants: Hashable {
        var momentum: Double, nesterov: Bool
    }

    /// Every variable's update, from (weights, gradient, velocity, learning rate) per
    /// variable to (weights, velocity) per variable.
    private let update = jit(name: "Momentum.update") { (t: [Tensor], c: UpdateConstants) -> [Tensor] in
        stride(from: 0, to: t.count, by: 4).flatMap { at -> [Tensor] in
            let gradient = t[at + 1]
            let velocity = c.momentum * t[at + 2] + gradient
            let direction = c.nesterov ? gradient + c.momentum * velocity : velocity
            return [t[at] - t[at + 3] * direction, velocity]
        }
    }

    override public func apply(index: Int, gradient: Tensor, learningRate: Double) {
        apply(indices: [index], gradients: [gradient], learningRate: learningRate)
    }

    override public func apply(indices: [Int], gradients: [Tensor], learningRate: Double) {
        for group in byDevice(indices, gradients) {
            let updated = update(zip(group.indices, group.gradients).flatMap { index, gradient in
                let weights = refs[index].value.detach()
                return [weights, gradient, m[index].value, scalar(learningRate, like: weights)]
            }, static: UpdateConstants(momentum: momentum, nesterov: nesterov))
            for (offset, index) in group.indices.enumerated() {
                m[index].assign(updated[2 * offset + 1])
                refs[index].value = updated[2 * offset]
            }
        }
    }
}

/// Adam (PyTorch's formulation): `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`,
/// `w ← w − lr·m̂ / (√v̂ + ε)` with bias corrections `m̂ = m/(1−β1ᵗ)`, `v̂ = v/(1−β2ᵗ)`.
/// With `weightDecay`, AdamW's decoupled decay `w ← w − lr·λ·w` comes first.
public class Adam: Optimizer, @unchecked Sendable {
    /// First-moment decay β1.
    public let beta1: Double
    /// Second-moment decay β2.
    public let beta2: Double
    /// Added to √v̂.
    public let epsilon: Double
    /// Decoupled weight decay λ (0 for Adam).
    public let weightDecay: Double
    /// First moments.
    public let m: [StateVar]
    /// Second moments.
    public let v: [StateVar]
    /// Steps taken, on the variables' device.
    public let steps: StepCounter
    /// `1 − β1ᵗ` and `1 − β2ᵗ` on the device (float64 when the first variable is, else
    /// float32), advanced as `q ← β·q + (1 − β)`: no host
    /// value enters the update (a jitted step traces once), and unlike `1 − pow(β, t)` in
    /// float32 nothing cancels (β2 = 0.999 rounds to float32 with a 1e-5 relative error in
    /// `1 − β2`).
    public let biasCorrections: [StateVar]

    /// The hyper-parameters compiled into `update` (the learning rate is an input), and
    /// whether the call advances the step counter and the bias corrections.
    private struct UpdateConstants: Hashable {
        var beta1: Double, beta2: Double, epsilon: Double, decays: Bool, advances: Bool
    }

    /// One step as a jitted function of (steps, `1 − β1ᵗ`, `1 − β2ᵗ`) and (weights,
    /// gradient, m, v, learning rate, learning rate × weight decay) per variable, returning
    /// the three counters and (weights, m, v) per variable: compiled once per set of
    /// variable shapes, an eager step is a few fused launches per variable (one launch
    /// for all where jit launches kernels together), and inside an enclosing `jit` or
    /// `Jit` it is traced inline like any other code.
    private let update = jit(name: "Adam.update") { (t: [Tensor], c: UpdateConstants) -> [Tensor] in
        var counters = Array(t[0..<3])
        if c.advances {
            counters = [counters[0] + 1, counters[1] * c.beta1 + (1 - c.beta1), counters[2] * c.beta2 + (1 - c.beta2)]
        }
        let corrections = [1 / counters[1], 1 / counters[2].sqrt()]
        return counters + stride(from: 3, to: t.count, by: 6).flatMap { at -> [Tensor] in
            var weights = t[at]
            let gradient = t[at + 1], learningRate = t[at + 4]
            // The corrections have the first variable's dtype; others read them cast.
            let (firstCorrection, secondCorrection) = weights.dtype == corrections[0].dtype
                ? (corrections[0], corrections[1]) : (corrections[0].cast(to: weights.dtype), corrections[1].cast(to: weights.dtype))
            if c.decays { weights = weights - t[at + 5] * weights }
            let first = c.beta1 * t[at + 2] + (1 - c.beta1) * gradient
            let second = c.beta2 * t[at + 3] + (1 - c.beta2) * gradient * gradient
            let scale = second.sqrt() * secondCorrection + c.epsilon
            return [weights - learningRate * (first * firstCorrection) / scale, first, second]
        }
    }

    /// Adam over `vars`.
    public init(_ vars: VarCollection, learningRate: Double = 0.001, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        m = vars.trainVars.map { StateVar(Tensor.zeros(like: $0.value)) }
        v = vars.trainVars.map { StateVar(Tensor.zeros(like: $0.value)) }
        let device = vars.trainVars.first?.value.device
        let dtype: DType = vars.trainVars.first?.value.dtype == .float64 ? .float64 : .float32
        steps = StepCounter(on: device)
        biasCorrections = [StateVar(Tensor.zeros([], dtype: dtype, on: device)), StateVar(Tensor.zeros([], dtype: dtype, on: device))]
        super.init(vars, learningRate: learningRate)
    }

    /// Advances the step counter and the bias corrections (for steps taken one variable
    /// at a time with `apply(index:gradient:learningRate:)`).
    override public func beginStep() {
        steps.increment()
        for (correction, beta) in zip(biasCorrections, [beta1, beta2]) {
            correction.assign(correction.value * beta + (1 - beta))
        }
    }

    override public func apply(index: Int, gradient: Tensor, learningRate: Double) {
        run(indices: [index], gradients: [gradient], learningRate: learningRate, advances: false)
    }

    /// The whole step in one jitted call per device, the counters advancing on theirs.
    override public func apply(indices: [Int], gradients: [Tensor], learningRate: Double) {
        guard !indices.isEmpty else { return }
        let home = steps.value.device
        let groups = byDevice(indices, gradients)
        if !groups.contains(where: { $0.device == home }) { beginStep() }
        for group in groups.filter({ $0.device == home }) + groups.filter({ $0.device != home }) {
            run(indices: group.indices, gradients: group.gradients, learningRate: learningRate, advances: group.device == home)
        }
    }

    /// Updates `indices` (all on one device) in one call of `update`.
    private func run(indices: [Int], gradients: [Tensor], learningRate: Double, advances: Bool) {
        let device = refs[indices[0]].value.device
        let counters = ([steps] + biasCorrections).map { $0.value.to(device).detach() }
        let updated = update(counters + zip(indices, gradients).flatMap { index, gradient in
            let weights = refs[index].value.detach()
            return [weights, gradient, m[index].value, v[index].value, scalar(learningRate, like: weights), scalar(learningRate * weightDecay, like: weights)]
        }, static: UpdateConstants(beta1: beta1, beta2: beta2, epsilon: epsilon, decays: weightDecay != 0, advances: advances))
        if advances {
            for (variable, value) in zip([steps] + biasCorrections, updated) { variable.assign(value) }
        }
        for (offset, index) in indices.enumerated() {
            m[index].assign(updated[3 + 3 * offset + 1])
            v[index].assign(updated[3 + 3 * offset + 2])
            refs[index].value = updated[3 + 3 * offset]
        }
    }
}

/// AdamW: Adam with decoupled weight decay (default λ = 0.01).
public final class AdamW: Adam, @unchecked Sendable {
    /// AdamW over `vars`.
    override public init(_ vars: VarCollection, learningRate: Double = 0.001, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0.01) {
        super.init(vars, learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay)
    }
}
