import Adjoint
import AdjointNN

/// The main job's training steps (not a shared workload): one Adam step of `adjoint
/// train`'s `mlp` and `cnn` at batch 128 on random images, eager or jitted; an epoch is
/// 468 such steps.
extension Workloads {
    func fashionMNIST(jitted: Bool = false, kinds: [Classifier.Kind] = Classifier.Kind.allCases) throws {
        for kind in kinds {
            let small = try runSteps(kind, batch: 4, steps: 3, jitted: false, on: .cpu)
            try requireClose(runSteps(kind, batch: 4, steps: 3, jitted: jitted, on: device), small, tolerance: 1e-4, "FM \(kind.rawValue) loss")
            let batch = 128
            let (step, images, labels) = Self.adamStep(kind, batch: batch, seed: 9, jitted: jitted, on: device)
            let ((median, min), ledger) = try harness.timeWithLedger(repetitions: Swift.max(10, harness.repetitions / 2)) { _ = step(images, labels) }
            harness.emit(workload: "FM-\(kind.rawValue)", impl: jitted ? jitImpl : harness.impl, size: batch, median: median, min: min,
                         extra: ledger.merging(["epoch_s_estimate": (median * 468 / 100).rounded() / 10]) { $1 })
        }
    }

    /// A fresh model's Adam step (lr 1e-3, model seed 0) and a batch of random images and
    /// labels drawn from `seed`.
    private static func adamStep(_ kind: Classifier.Kind, batch: Int, seed: UInt64, jitted: Bool, on device: Device) -> (step: (Tensor, Tensor) -> Tensor, images: Tensor, labels: Tensor) {
        let model = Classifier.make(kind, seed: 0, on: device)
        let step = Classifier.makeStep(model: model, optimizer: Classifier.optimizer("adam", for: model, learningRate: 1e-3)!, learningRate: 1e-3, jitted: jitted)
        let images = Tensor.randomUniform(kind.takesFlatInput ? [batch, 784] : [batch, 1, 28, 28], seed: seed, on: device)
        return (step, images, Tensor.randomInt([batch], low: 0, high: 10, seed: seed + 1, on: device))
    }

    /// The losses of `steps` Adam steps on fixed random data.
    private func runSteps(_ kind: Classifier.Kind, batch: Int, steps: Int, jitted: Bool, on device: Device) throws -> [Double] {
        let (step, images, labels) = Self.adamStep(kind, batch: batch, seed: 11, jitted: jitted, on: device)
        return try (0..<steps).map { _ in try step(images, labels).item(as: Float.self) }.map(Double.init)
    }
}
