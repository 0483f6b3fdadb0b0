import Adjoint
import Foundation

/// Functional layers and losses (Objax's `objax.functional`).
public enum Functional {
    /// Gaussian error linear unit, tanh approximation.
    public static func gelu(_ x: Tensor) -> Tensor {
        0.5 * x * (1 + (Foundation.sqrt(2 / Double.pi) * (x + 0.044715 * x * x * x)).tanh())
    }

    /// One-hot float encoding of int32 labels: shape `labels.shape + [classes]`.
    public static func oneHot(_ labels: Tensor, classes: Int, dtype: DType = .float32) -> Tensor {
        let positions = Tensor.arange(0, Double(classes), dtype: .int32, on: labels.device)
        return Tensor.where(labels.unsqueezed(axis: -1) .== positions, 1, 0, dtype: dtype)
    }
}

/// `max(x, 0)`.
public func gelu(_ x: Tensor) -> Tensor { Functional.gelu(x) }
/// Softmax over the last axis.
public func softmax(_ x: Tensor, axis: Int = -1) -> Tensor { x.softmax(axis: axis) }
/// Log-softmax over the last axis.
public func logSoftmax(_ x: Tensor, axis: Int = -1) -> Tensor { x.logSoftmax(axis: axis) }
/// One-hot encoding of int32 labels.
public func oneHot(_ labels: Tensor, classes: Int) -> Tensor { Functional.oneHot(labels, classes: classes) }

/// Losses, each returning one value per example (take `.mean()` for the batch loss), as
/// Objax's losses do.
public enum Loss {
    /// Softmax cross-entropy from logits `[..., classes]` and either int32 class labels
    /// `[...]` or dense (one-hot or soft) labels `[..., classes]`.
    public static func crossEntropyLogits(_ logits: Tensor, _ labels: Tensor, file: StaticString = #fileID, line: UInt = #line) -> Tensor {
        guard logits.rank >= 1 else {
            fatalError("AdjointNN.crossEntropyLogits: logits must have a class axis, got shape \(logits.shape) (at \(file):\(line))")
        }
        if labels.dtype == .int32 {
            guard labels.shape == Array(logits.shape.dropLast()) else {
                fatalError("AdjointNN.crossEntropyLogits: integer labels of shape \(labels.shape) do not match logits \(logits.shape) (at \(file):\(line))")
            }
            return SoftmaxCrossEntropy.loss(logits, labels)
        }
        guard labels.shape == logits.shape else {
            fatalError("AdjointNN.crossEntropyLogits: dense labels of shape \(labels.shape) do not match logits \(logits.shape) (at \(file):\(line))")
        }
        return -(logits.logSoftmax(axis: -1) * labels).sum(axes: [-1])
    }

    /// Mean squared error over all but the first axis.
    public static func meanSquaredError(_ predictions: Tensor, _ targets: Tensor) -> Tensor {
        let squared = (predictions - targets).squared()
        return squared.rank <= 1 ? squared : squared.mean(axes: Array(1..<squared.rank))
    }

    /// Sigmoid cross-entropy from logits, elementwise, computed stably:
    /// `max(x, 0) − x·y + log(1 + e^−|x|)`.
    public static func binaryCrossEntropyLogits(_ logits: Tensor, _ labels: Tensor) -> Tensor {
        logits.relu() - logits * labels + (1 + (-logits.abs()).exp()).log()
    }
}

/// Softmax cross-entropy per example (see `Loss.crossEntropyLogits`).
public func crossEntropyLogits(_ logits: Tensor, _ labels: Tensor) -> Tensor { Loss.crossEntropyLogits(logits, labels) }
/// Mean squared error per example.
public func mse(_ predictions: Tensor, _ targets: Tensor) -> Tensor { Loss.meanSquaredError(predictions, targets) }
/// Sigmoid cross-entropy from logits, elementwise.
public func binaryCrossEntropyLogits(_ logits: Tensor, _ labels: Tensor) -> Tensor { Loss.binaryCrossEntropyLogits(logits, labels) }
