import Adjoint
import ArgumentParser
import Foundation

/// `adjoint fit`: a least-squares fit by gradient descent, printing the loss as it falls.
struct FitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fit",
        abstract: "Fit y = X·w + b to noisy synthetic data by gradient descent (a smoke test of the device and autodiff).",
        discussion: "Draws 1,024 examples with 8 features from a known linear model plus noise, then runs full-batch gradient descent on the mean squared error and prints the loss. The fitted weights should approach the true ones."
    )

    @Option(help: "Device: cpu, opencl or opencl:N (default: ADJOINT_DEVICE, else the first OpenCL GPU, else the CPU).")
    var device: DeviceOption?

    @Option(help: "Gradient-descent steps.")
    var steps = 200

    @Option(name: .customLong("lr"), help: "Learning rate.")
    var learningRate = 0.1

    @Option(help: "Random seed for the synthetic data.")
    var seed: UInt64 = 0

    func run() throws {
        let device = try resolveDevice(device)
        print("device: \(device) (\(Device.available.first { $0.device == device }?.name ?? "?"))")
        let features = 8, examples = 1024
        let trueWeights = Tensor((1...features).map { Float($0) / 4 - 1 }, shape: [features, 1], on: device)
        let x = Tensor.randomNormal([examples, features], seed: seed, on: device)
        let y = x.matmul(trueWeights) + 0.5 + 0.01 * Tensor.randomNormal([examples, 1], seed: seed + 1, on: device)
        var w = Tensor.zeros([features, 1], on: device).requiringGrad()
        var b = Tensor.zeros([1], on: device).requiringGrad()
        let start = Date()
        for step in 0...steps {
            let loss = (x.matmul(w) + b - y).squared().mean()
            if step % Swift.max(1, steps / 10) == 0 || step == steps {
                print(String(format: "step %4d  loss %.6f", step, try loss.item(as: Float.self)))
            }
            if step == steps { break }
            let (gradW, gradB) = { () -> (Tensor, Tensor) in
                let found = gradients(of: loss, wrt: [w, b])
                return (found[0], found[1])
            }()
            w = (w.detach() - learningRate * gradW).requiringGrad()
            b = (b.detach() - learningRate * gradB).requiringGrad()
        }
        let error = try (w - trueWeights).abs().max().item(as: Float.self)
        print(String(format: "fitted in %.2f s; largest weight error %.4f, bias %.4f (true 0.5)", Date().timeIntervalSince(start), error, try b.item(as: Float.self)))
        print("ledger: \(device.ledger)")
    }
}
