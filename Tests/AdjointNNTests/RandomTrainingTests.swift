import Adjoint
import AdjointNN
import AdjointTestSupport
import Foundation
import Testing

/// Random models (dense or convolutional, with batch normalization, dropout and several
/// activations), losses and optimizers, drawn from a seed, trained a few steps with the
/// whole step compiled by `Jit` against the same steps run eagerly: losses, weights,
/// optimizer state and running statistics must agree, on every device.
/// `ADJOINT_RANDOM_MODELS=N` trains N models per device (12 by default).
@Suite struct RandomTrainingTests {
    /// A model, its loss and optimizer, and its data, all made from one seed.
    struct Recipe: CustomStringConvertible {
        let seed: UInt64
        let image: Bool
        let features: Int
        let classes: Int
        let loss: String
        let optimizer: String
        var layers: [String] = []
        let batch = 6

        init(seed: UInt64) {
            var draw = TestData(seed: seed &+ 0xA11)
            func pick<T>(_ values: [T]) -> T { values[Swift.min(Int(draw.uniform() * Double(values.count)), values.count - 1)] }
            self.seed = seed
            image = draw.uniform() < 0.35
            features = pick([5, 12])
            classes = pick([3, 5])
            loss = pick(["crossEntropy", "mse", "binaryCrossEntropy"])
            optimizer = pick(["sgd", "momentum", "nesterov", "adam", "adamw"])
            if image {
                layers = ["conv \(pick([1, 2])) \(pick([0, 1]))"]
                if draw.uniform() < 0.5 { layers.append("batchNorm") }
                layers.append(pick(["relu", "tanh", "gelu"]))
                if draw.uniform() < 0.5 { layers.append("maxPool") }
            } else {
                for _ in 0..<(1 + Int(draw.uniform() * 3)) {
                    layers.append("linear \(pick([4, 16, 33]))")
                    if draw.uniform() < 0.3 { layers.append("batchNorm") }
                    layers.append(pick(["relu", "tanh", "sigmoid", "gelu"]))
                    if draw.uniform() < 0.25 { layers.append("dropout") }
                }
            }
        }

        var description: String { "model \(seed): \(image ? "images" : "features") → \(layers) → \(classes), \(loss), \(optimizer)" }

        /// The model, built on `device` (same seeds, so two builds start equal).
        func model(on device: Device) -> Sequential {
            var parts: [any Layer] = []
            var width = features, height = 8, channels = 2
            for (index, layer) in layers.enumerated() {
                let words = layer.split(separator: " ").map(String.init)
                let seed = self.seed &* 100 &+ UInt64(index)
                // No bias before a batch normalization: its gradient is zero there, and Adam
                // would turn the rounding noise of each run into steps of the full rate.
                let bias = index + 1 == layers.count || layers[index + 1] != "batchNorm"
                switch words[0] {
                case "conv":
                    let (stride, padding) = (Int(words[1])!, Int(words[2])!)
                    parts.append(Conv2d(channels, 4, kernel: 3, stride: stride, padding: padding, bias: bias, seed: seed, on: device))
                    (channels, height) = (4, (height + 2 * padding - 3) / stride + 1)
                case "maxPool":
                    parts.append(MaxPool2d(kernel: 2))
                    height /= 2
                case "linear":
                    parts.append(Linear(width, Int(words[1])!, bias: bias, seed: seed, on: device))
                    width = Int(words[1])!
                case "batchNorm": parts.append(BatchNorm(image ? channels : width, on: device))
                case "dropout": parts.append(Dropout(rate: 0.3, seed: seed))
                case "relu": parts.append(Lambda { $0.relu() })
                case "tanh": parts.append(Lambda { $0.tanh() })
                case "sigmoid": parts.append(Lambda { $0.sigmoid() })
                default: parts.append(Lambda(gelu))
                }
            }
            if image {
                parts.append(Flatten())
                width = channels * height * height
            }
            parts.append(Linear(width, classes, seed: seed &* 100 &+ 99, on: device))
            return Sequential(parts)
        }

        func makeOptimizer(_ vars: VarCollection) -> Optimizer {
            switch optimizer {
            case "sgd": return SGD(vars, learningRate: learningRate)
            case "momentum": return Momentum(vars, learningRate: learningRate)
            case "nesterov": return Momentum(vars, learningRate: learningRate, nesterov: true)
            // ε 10⁻⁴, not 10⁻⁸: a gradient that is rounding noise (a ReLU unit dead for all
            // but one example a rounding from 0) would otherwise become a step of the full
            // rate, different in each run; OpenCL's eager and jitted steps, and its eager
            // steps and the CPU's, drifted apart by 10⁻² that way.
            case "adam": return Adam(vars, learningRate: learningRate, epsilon: 1e-4)
            default: return AdamW(vars, learningRate: learningRate, epsilon: 1e-4, weightDecay: 0.1)
            }
        }

        var learningRate: Double { ["sgd": 0.1, "momentum": 0.05, "nesterov": 0.05][optimizer] ?? 0.01 }

        func lossValue(_ logits: Tensor, _ targets: Tensor) -> Tensor {
            switch loss {
            case "crossEntropy": return crossEntropyLogits(logits, targets).mean()
            case "mse": return mse(logits, targets).mean()
            default: return binaryCrossEntropyLogits(logits, targets).mean()
            }
        }

        /// Inputs and targets of step `step`.
        func batch(_ step: Int, on device: Device) -> (Tensor, Tensor) {
            let dataSeed = seed &* 1_000 &+ UInt64(step) &* 2
            let x = Tensor.randomNormal(image ? [batch, 2, 8, 8] : [batch, features], seed: dataSeed, on: device)
            let targets: Tensor
            switch loss {
            case "crossEntropy": targets = Tensor.randomInt([batch], low: 0, high: classes, seed: dataSeed + 1, on: device)
            case "mse": targets = Tensor.randomNormal([batch, classes], seed: dataSeed + 1, on: device)
            default: targets = Tensor.randomUniform([batch, classes], seed: dataSeed + 1, on: device)
            }
            return (x, targets)
        }

        /// Losses of `steps` steps, then every variable's values (model and optimizer).
        func train(jitted: Bool, steps: Int, on device: Device) throws -> (losses: [Double], variables: [[Double]]) {
            let model = self.model(on: device)
            let gv = GradValues({ x, y in .single(lossValue(model(x), y)) }, vars: model.vars())
            let optimizer = makeOptimizer(model.vars())
            let step: (Tensor, Tensor) -> LossValues = { x, y in
                let (gradients, values) = gv(x, y)
                optimizer(lr: learningRate, gradients)
                return values
            }
            let compiled = Jit(step, vars: model.vars() + optimizer.vars(), name: "random model \(seed)")
            var losses: [Double] = []
            for index in 0..<steps {
                let (x, y) = batch(index, on: device)
                if case .single(let loss) = jitted ? compiled(x, y) : step(x, y) { losses.append(try loss.item()) }
            }
            if jitted { #expect(compiled.traceCount == 1, "\(self)") }
            return (losses, try (model.vars() + optimizer.vars()).tensors().map { try $0.doubles() })
        }
    }

    static var count: UInt64 { ProcessInfo.processInfo.environment["ADJOINT_RANDOM_MODELS"].flatMap { UInt64($0) } ?? 12 }

    @Test(arguments: TestDevices.all)
    func randomModelsTrainTheSameJittedAsEagerly(_ device: Device) throws {
        for seed in 0..<Self.count {
            let recipe = Recipe(seed: seed)
            let eager = try recipe.train(jitted: false, steps: 4, on: device)
            let jitted = try recipe.train(jitted: true, steps: 4, on: device)
            expectClose(jitted.losses, eager.losses, tolerance: 1e-4, "losses of \(recipe) on \(device)")
            #expect(jitted.variables.count == eager.variables.count)
            // A ReLU input a rounding from 0 may switch between the runs and change one
            // unit's gradient, which Adam turns into a step of up to the learning rate (one
            // model in 300 moved a weight by 2·10⁻⁴); a wrong gradient or a state not
            // written back moves them by the rate itself, 10⁻² and more.
            for (index, (a, e)) in zip(jitted.variables, eager.variables).enumerated() {
                expectClose(a, e, tolerance: 1e-3, "variable \(index) of \(recipe) on \(device)")
            }
        }
    }
}
