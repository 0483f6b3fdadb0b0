import Adjoint

/// Cross-entropy from logits and int32 class labels with a hand-written gradient,
/// `g·(softmax(logits) − onehot(labels))`, its forward and its gradient each one jitted
/// function: an eager step runs the loss's row work as a few fused launches (one or two
/// on GPUs, where jit makes row kernels) instead of some twenty, as PyTorch's fused
/// `cross_entropy` does. The gradient is written with Tensor ops, so it differentiates
/// again (Hessians, `jvp`); with inputs that carry history, or batched by `vmap`, or
/// inside a trace, the jitted functions run as plain code. Each keeps up to 256 programs
/// (one per shape of logits), as the library's own jitted pullbacks do.
enum SoftmaxCrossEntropy {
    /// The forward's log-sum-exp per example, which the gradient reads instead of
    /// reducing the logits again.
    private final class Saved: @unchecked Sendable {
        var logSumExp: Tensor?
    }

    /// `1` where the label picks the class: `[..., classes]` bool.
    private static func hits(_ labels: Tensor, classes: Int, on device: Device) -> Tensor {
        labels.unsqueezed(axis: -1) .== Tensor.indices(classes, on: device)
    }

    /// Per example: `logsumexp(logits) − logits[label]`, and the log-sum-exp. The label's
    /// logit is a one-hot select summed over the classes (exact: the other terms are
    /// zeros) rather than a gather, so compare, select and sum fuse with the reductions
    /// around them.
    private static let forward = jit(name: "crossEntropyLogits", capacity: 256) { (t: [Tensor]) -> [Tensor] in
        let logits = t[0], zero = Tensor.constant(0, dtype: logits.dtype, on: logits.device)
        let total = logits.logSumExp(axes: [-1])
        let picked = Tensor.where(hits(t[1], classes: logits.shape.last!, on: logits.device), logits, zero).sum(axes: [-1])
        return [total - picked, total]
    }

    /// The gradient with respect to the logits, from (logits, labels, log-sum-exp, the
    /// loss's cotangent).
    private static let pullback = jit(name: "crossEntropyLogits.pullback", capacity: 256) { (t: [Tensor]) -> Tensor in
        let logits = t[0]
        let softmax = (logits - t[2].unsqueezed(axis: -1)).exp()
        let target = hits(t[1], classes: logits.shape.last!, on: logits.device).cast(to: logits.dtype)
        return t[3].unsqueezed(axis: -1) * (softmax - target)
    }

    /// The loss per example of `logits` `[..., classes]` and `labels` `[...]`.
    static func loss(_ logits: Tensor, _ labels: Tensor) -> Tensor {
        let saved = Saved()
        let differentiable = customVJP({ inputs in
            let results = forward([inputs[0], labels])
            saved.logSumExp = results[1]
            return results[0]
        }, vjp: { inputs, _, cotangent in
            // Recording (`createGraph`), the log-sum-exp is recomputed from the logits so
            // that it differentiates; otherwise nothing records, and the saved logits (a
            // leaf that requires gradients, say) run the compiled program without history.
            guard !isGradEnabled, let logSumExp = saved.logSumExp else {
                return [pullback([inputs[0], labels, inputs[0].logSumExp(axes: [-1]), cotangent])]
            }
            return [pullback([inputs[0].detach(), labels, logSumExp, cotangent.detach()])]
        }, name: "CrossEntropyLogits")
        return differentiable([logits])
    }
}
