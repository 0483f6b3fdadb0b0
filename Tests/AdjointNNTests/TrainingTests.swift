import Adjoint
import AdjointNN
import AdjointTestSupport
import Foundation
import Testing

/// End-to-end training on every device: a small MLP learns a fixed synthetic task, with
/// the same result on the CPU and on OpenCL from the same seed.
@Suite struct TrainingTests {
    /// Three Gaussian blobs in 2-D; returns (inputs, labels).
    static func blobs(on device: Device) -> (Tensor, Tensor) {
        let perClass = 100
        let centers: [[Float]] = [[2, 0], [-1, 1.7], [-1, -1.7]]
        let noise = Tensor.randomNormal([3 * perClass, 2], standardDeviation: 0.6, seed: 77, on: device)
        let centerRows = Tensor(centers.flatMap { center in Array(repeating: center, count: perClass).flatMap { $0 } }, shape: [3 * perClass, 2], on: device)
        let labels = Tensor((0..<3).flatMap { Array(repeating: Int32($0), count: perClass) }, on: device)
        return (centerRows + noise, labels)
    }

    static func train(on device: Device) throws -> (accuracy: Double, losses: [Float]) {
        try withDevice(device) { () throws in
            let (x, y) = blobs(on: device)
            let model = Sequential { Linear(2, 16, seed: 1); relu; Linear(16, 3, seed: 2) }
            let optimizer = Adam(model.vars(), learningRate: 0.05)
            let gv = GradValues({ x, y in .single(crossEntropyLogits(model(x), y).mean()) }, vars: model.vars())
            var losses: [Float] = []
            for _ in 0..<60 {
                let (gradients, values) = gv(x, y)
                if case .single(let loss) = values { losses.append(try loss.item()) }
                optimizer(lr: 0.05, gradients)
            }
            let predictions = try model(x).argmax(axis: 1).scalars(as: Int32.self)
            let labels = try y.scalars(as: Int32.self)
            let accuracy = Double(zip(predictions, labels).filter { $0 == $1 }.count) / Double(labels.count)
            return (accuracy, losses)
        }
    }

    @Test(arguments: TestDevices.all)
    func smallMLPLearnsSyntheticClassification(device: Device) throws {
        let (accuracy, losses) = try Self.train(on: device)
        #expect(accuracy > 0.95, "accuracy \(accuracy) on \(device)")
        #expect(losses.last! < 0.3 * losses.first!)
    }

    @Test func cpuAndOpenCLTrainIdentically() throws {
        guard let openCL = TestDevices.requireOpenCL() else { return }
        let cpu = try Self.train(on: .cpu), gpu = try Self.train(on: openCL)
        expectClose(gpu.losses.map(Double.init), cpu.losses.map(Double.init), tolerance: 1e-4)
        #expect(Swift.abs(gpu.accuracy - cpu.accuracy) <= 0.01)
    }
}
