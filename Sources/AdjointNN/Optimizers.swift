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

    /// Updates variable `index` given its gradient (called under `noGrad`).
    open func apply(index: Int, gradient: Tensor, learningRate: Double) {
        fatalError("AdjointNN.Optimizer: \(typeName) must override apply(index:gradient:learningRate:)")
    }

    /// Called once per step before the per-variable updates.
    open func beginStep() {}

    /// Objax style: one step with explicit gradients (one per trained variable, in order).
    public func callAsFunction(lr: Double, _ gradients: [Tensor], file: StaticString = #fileID, line: UInt = #line) {
        guard gradients.count == refs.count else {
            fatalError("AdjointNN.\(typeName): \(gradients.count) gradients for \(refs.count) variables (at \(file):\(line))")
        }
        for (ref, gradient) in zip(refs, gradients) where gradient.shape != ref.value.shape {
            fatalError("AdjointNN.\(typeName): gradient of shape \(gradient.shape) for a variable of shape \(ref.value.shape) (at \(file):\(line))")
        }
        noGrad {
            beginStep()
            for (index, gradient) in gradients.enumerated() { apply(index: index, gradient: gradient.detach(), learningRate: lr) }
        }
    }

    /// PyTorch style: one step with the gradients `backward()` left in each variable's
    /// `grad` (variables without a gradient are skipped).
    public func step(lr: Double? = nil) {
        noGrad {
            beginStep()
            for (index, ref) in refs.enumerated() {
                if let gradient = ref.ref.grad { apply(index: index, gradient: gradient.detach(), learningRate: lr ?? learningRate) }
            }
        }
    }

    /// Clears every trained variable's `grad`.
    public func zeroGrad() {
        refs.forEach { $0.ref.zeroGrad() }
    }
}

/// Plain gradient descent: `w ← w − lr·g`.
public final class SGD: Optimizer, @unchecked Sendable {
    /// SGD over `vars`.
    override public init(_ vars: VarCollection, learningRate: Double = 0.01) {
        super.init(vars, learningRate: learningRate)
    }

    override public func apply(index: Int, gradient: Tensor, learningRate: Double) {
        refs[index].value = refs[index].value - learningRate * gradient
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

    override public func apply(index: Int, gradient: Tensor, learningRate: Double) {
        let velocity = momentum * m[index].value + gradient
        m[index].assign(velocity)
        let update = nesterov ? gradient + momentum * velocity : velocity
        refs[index].value = refs[index].value - learningRate * update
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
    /// `1 − β1ᵗ` and `1 − β2ᵗ` on the device, advanced as `q ← β·q + (1 − β)`: no host
    /// value enters the update (a jitted step traces once), and unlike `1 − pow(β, t)` in
    /// float32 nothing cancels (β2 = 0.999 rounds to float32 with a 1e-5 relative error in
    /// `1 − β2`).
    public let biasCorrections: [StateVar]

    /// The hyper-parameters compiled into `update` (the learning rate is an input).
    private struct UpdateConstants: Hashable {
        var beta1: Double, beta2: Double, epsilon: Double, decays: Bool
    }

    /// One variable's update as a jitted function of (weights, gradient, m, v, the two
    /// corrections, learning rate, learning rate × weight decay), compiled once per
    /// variable shape: an eager step runs its 14 elementwise ops as 3 fused launches, and
    /// inside an enclosing `jit` or `Jit` it is traced inline like any other code.
    private let update = jit(name: "Adam.update") { (t: [Tensor], c: UpdateConstants) -> [Tensor] in
        var weights = t[0]
        let gradient = t[1], learningRate = t[6]
        if c.decays { weights = weights - t[7] * weights }
        let first = c.beta1 * t[2] + (1 - c.beta1) * gradient
        let second = c.beta2 * t[3] + (1 - c.beta2) * gradient * gradient
        let scale = second.sqrt() * t[5] + c.epsilon
        return [weights - learningRate * (first * t[4]) / scale, first, second]
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
        steps = StepCounter(on: device)
        biasCorrections = [StateVar(Tensor.zeros([], on: device)), StateVar(Tensor.zeros([], on: device))]
        super.init(vars, learningRate: learningRate)
    }

    /// This step's `1 / (1 − β1ᵗ)` and `1 / √(1 − β2ᵗ)`.
    private var corrections: (first: Tensor, second: Tensor)?

    override public func beginStep() {
        steps.increment()
        for (correction, beta) in zip(biasCorrections, [beta1, beta2]) {
            correction.assign(correction.value * beta + (1 - beta))
        }
        corrections = (1 / biasCorrections[0].value, 1 / biasCorrections[1].value.sqrt())
    }

    override public func apply(index: Int, gradient: Tensor, learningRate: Double) {
        let weights = refs[index].value
        let (firstCorrection, secondCorrection) = corrections ?? {
            let one = Tensor.constant(1, on: steps.value.device)
            return (one, one)
        }()
        let scalar = { (value: Double) in Tensor.constant(value, dtype: weights.dtype, on: weights.device) }
        // Detached: an optimizer step is not differentiated (PyTorch runs it under
        // no_grad), and a jitted function given tensors with history runs uninlined.
        let inputs = [weights, gradient, m[index].value, v[index].value, firstCorrection, secondCorrection, scalar(learningRate), scalar(learningRate * weightDecay)]
        let updated = update(
            inputs.map { $0.detach() },
            static: UpdateConstants(beta1: beta1, beta2: beta2, epsilon: epsilon, decays: weightDecay != 0))
        m[index].assign(updated[1])
        v[index].assign(updated[2])
        refs[index].value = updated[0]
    }
}

/// AdamW: Adam with decoupled weight decay (default λ = 0.01).
public final class AdamW: Adam, @unchecked Sendable {
    /// AdamW over `vars`.
    override public init(_ vars: VarCollection, learningRate: Double = 0.001, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0.01) {
        super.init(vars, learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay)
    }
}
