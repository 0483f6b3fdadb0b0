import Adjoint
import Foundation

/// The image classifiers `adjoint train` offers, and the loop that trains and evaluates
/// them (shared by the command line and the tests).
public enum Classifier {
    /// The model families.
    public enum Kind: String, CaseIterable, Sendable {
        /// 784-256-128-10 with ReLU.
        case mlp
        /// Two 3×3 convolutions (32, 64 channels) with ReLU and 2×2 max pooling, then 128-10.
        case cnn

        /// Whether inputs are flat `[B, 784]` (else `[B, 1, 28, 28]`).
        public var takesFlatInput: Bool { self == .mlp }
    }

    /// A freshly initialized model of `kind` on `device`.
    public static func make(_ kind: Kind, seed: UInt64, on device: Device) -> Sequential {
        withDevice(device) {
            switch kind {
            case .mlp:
                return Sequential { Linear(784, 256, seed: seed &+ 1); relu; Linear(256, 128, seed: seed &+ 2); relu; Linear(128, 10, seed: seed &+ 3) }
            case .cnn:
                return Sequential {
                    Conv2d(1, 32, kernel: 3, padding: 1, seed: seed &+ 1); relu; MaxPool2d(kernel: 2)
                    Conv2d(32, 64, kernel: 3, padding: 1, seed: seed &+ 2); relu; MaxPool2d(kernel: 2)
                    Flatten(); Linear(64 * 7 * 7, 128, seed: seed &+ 3); relu; Linear(128, 10, seed: seed &+ 4)
                }
            }
        }
    }

    /// An optimizer by name: adam, adamw, sgd or momentum.
    public static func optimizer(_ name: String, for model: Module, learningRate: Double) -> Optimizer? {
        switch name.lowercased() {
        case "adam": return Adam(model.vars(), learningRate: learningRate)
        case "adamw": return AdamW(model.vars(), learningRate: learningRate)
        case "sgd": return SGD(model.vars(), learningRate: learningRate)
        case "momentum": return Momentum(model.vars(), learningRate: learningRate, momentum: 0.9)
        default: return nil
        }
    }

    /// One training step's gradients-and-update, returning the (lazy, on-device) loss.
    /// With `jitted`, the step is compiled with `Jit`: forward, backward and the optimizer
    /// update replay as one program per batch shape (the model's and the optimizer's
    /// variables are its inputs and outputs).
    public static func makeStep(model: Sequential, optimizer: Optimizer, learningRate: Double, jitted: Bool = false) -> (Tensor, Tensor) -> Tensor {
        let gradientValues = GradValues({ images, labels in .single(crossEntropyLogits(model(images), labels).mean()) }, vars: model.vars())
        let step = { (images: Tensor, labels: Tensor) -> Tensor in
            let (gradients, values) = gradientValues(images, labels)
            optimizer(lr: learningRate, gradients)
            guard case .single(let loss) = values else { return Tensor.zeros([]) }
            return loss
        }
        guard jitted else { return step }
        let compiled = Jit(step, vars: model.vars() + optimizer.vars(), name: "train step")
        return { images, labels in compiled(images, labels) }
    }

    /// Fraction of `data` classified correctly (evaluation mode, no gradients).
    public static func accuracy(of model: Sequential, on data: LabeledImages, kind: Kind, device: Device, batchSize: Int = 1000) throws -> Double {
        model.eval()
        defer { model.train() }
        let loader = DataLoader(data, batchSize: batchSize, shuffle: false, flatten: kind.takesFlatInput, device: device)
        var correct = 0
        for (images, labels) in loader.batches(epoch: 0) {
            let predictions = noGrad { model(images).argmax(axis: 1) }
            correct += try (predictions .== labels).cast(to: .int32).sum().item(as: Int32.self).asInt
        }
        return Double(correct) / Double(Swift.max(data.count, 1))
    }
}

extension Int32 {
    var asInt: Int { Int(self) }
}
