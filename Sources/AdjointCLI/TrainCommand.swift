import Adjoint
import AdjointNN
import ArgumentParser
import Foundation

/// Set by the SIGINT handler; the training loop stops after the current step.
nonisolated(unsafe) var interruptRequested: sig_atomic_t = 0

/// `adjoint train`: trains a classifier on Fashion-MNIST.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train an image classifier on Fashion-MNIST and report its test accuracy.",
        discussion: """
            Reads the IDX files of Debian's dataset-fashion-mnist package (or --data-dir), trains \
            with softmax cross-entropy, evaluates on the 10,000 test images after every epoch, and \
            writes to --output: model.safetensors (after each complete epoch, atomically), \
            training.svg (loss and accuracy per epoch). Ctrl-C stops after the current step and \
            keeps the last complete checkpoint. Reload with `adjoint eval OUTPUT/model.safetensors`.
            """
    )

    @Option(help: "Model: mlp (784-256-128-10) or cnn (two 3x3 conv + pooling layers, 128-10).")
    var model: String = "mlp"

    @Option(help: "Passes over the 60,000 training images.")
    var epochs = 10

    @Option(name: .customLong("batch-size"), help: "Examples per step.")
    var batchSize = 128

    @Option(name: .customLong("lr"), help: "Learning rate.")
    var learningRate = 1e-3

    @Option(help: "Optimizer: adam, adamw, sgd or momentum.")
    var optimizer = "adam"

    @Option(help: "Seed for initialization and shuffling (same seed and device, same result).")
    var seed: UInt64 = 0

    @Option(help: "Device: cpu, opencl or opencl:N (default: ADJOINT_DEVICE, else the first OpenCL GPU, else the CPU).")
    var device: DeviceOption?

    @Option(name: .customLong("data-dir"), help: "Directory with the Fashion-MNIST IDX files (.gz or plain).")
    var dataDirectory = FashionMNIST.defaultDirectory.path

    @Option(name: .customLong("output"), help: "Directory for the checkpoint and the plot.")
    var outputDirectory = "adjoint-output"

    @Option(name: .customLong("train-limit"), help: "Use only the first N training images (quick runs).")
    var trainLimit: Int?

    @Flag(help: "Compile the training step (forward, backward, Adam update) with jit: traced once per batch shape, then replayed.")
    var jit = false

    func validate() throws {
        guard Classifier.Kind(rawValue: model) != nil else { throw ValidationError("unknown model '\(model)': use mlp or cnn") }
        guard epochs > 0, batchSize > 0, learningRate > 0 else { throw ValidationError("epochs, batch size and learning rate must be positive") }
    }

    func run() throws {
        let device = try resolveDevice(device)
        let kind = Classifier.Kind(rawValue: model)!
        let directory = URL(fileURLWithPath: dataDirectory)
        let train = try FashionMNIST.load(train: true, directory: directory).prefix(trainLimit)
        let test = try FashionMNIST.load(train: false, directory: directory)
        let network = Classifier.make(kind, seed: seed, on: device)
        guard let optimizer = Classifier.optimizer(self.optimizer, for: network, learningRate: learningRate) else {
            throw ValidationError("unknown optimizer '\(self.optimizer)': use adam, adamw, sgd or momentum")
        }
        let step = Classifier.makeStep(model: network, optimizer: optimizer, learningRate: learningRate, jitted: jit)
        let loader = DataLoader(train, batchSize: batchSize, shuffle: true, seed: seed, dropLast: true, flatten: kind.takesFlatInput, device: device)
        let output = URL(fileURLWithPath: outputDirectory)
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        let checkpoint = output.appendingPathComponent("model.safetensors")
        let deviceName = Device.available.first { $0.device == device }?.name ?? "\(device)"
        print("training \(kind.rawValue) on \(device) (\(deviceName)): \(train.count) images, batch \(batchSize), \(self.optimizer) lr \(learningRate), seed \(seed)" + (jit ? ", jit" : ""))
        fflush(nil)
        signal(SIGINT) { _ in interruptRequested = 1 }
        // A parent (a test runner, a supervisor) may have spawned us with SIGINT blocked.
        var interruptOnly = sigset_t()
        sigemptyset(&interruptOnly)
        sigaddset(&interruptOnly, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &interruptOnly, nil)

        var losses: [Double] = [], accuracies: [Double] = [], epochSeconds: [Double] = []
        epochs: for epoch in 0..<epochs {
            let started = Date()
            var progress = ProgressDisplay(total: loader.batchCount, label: "epoch \(epoch + 1)/\(epochs)")
            var lossSum = 0.0, lossSamples = 0, stepsDone = 0
            for (images, labels) in loader.batches(epoch: epoch) {
                let loss = step(images, labels)
                stepsDone += 1
                // Reading the loss synchronizes; do it only as often as the display needs.
                if stepsDone % 10 == 0 || stepsDone == loader.batchCount {
                    lossSum += try loss.item(as: Float.self).asDouble
                    lossSamples += 1
                    progress.update(step: stepsDone, examples: stepsDone * batchSize, runningLoss: lossSum / Double(lossSamples))
                }
                if interruptRequested != 0 { break epochs }
            }
            progress.finish()
            // The epoch's time is its training steps; evaluation is reported apart.
            try device.synchronize()
            epochSeconds.append(Date().timeIntervalSince(started))
            let accuracy = try Classifier.accuracy(of: network, on: test, kind: kind, device: device)
            losses.append(lossSum / Double(Swift.max(lossSamples, 1)))
            accuracies.append(accuracy)
            print(String(format: "epoch %d: loss %.4f, test accuracy %.4f (%.1f s)", epoch + 1, losses.last!, accuracy, epochSeconds.last!))
            fflush(nil)
            try Checkpoint.save(network.vars(), to: checkpoint, metadata: ["model": kind.rawValue, "epochs": "\(epoch + 1)", "accuracy": String(format: "%.4f", accuracy), "seed": "\(seed)"])
            try LossPlot.write(losses: losses, accuracies: accuracies, title: "Fashion-MNIST \(kind.rawValue) on \(device)", to: output.appendingPathComponent("training.svg"))
        }
        if interruptRequested != 0 {
            print("\ninterrupted: the last complete checkpoint is \(checkpoint.path)" + (accuracies.isEmpty ? " (none written yet)" : ""))
            throw ExitCode(130)
        }
        let mean = epochSeconds.reduce(0, +) / Double(epochSeconds.count)
        print(String(format: "done: %@ on %@, %.1f s per epoch, final test accuracy %.4f", kind.rawValue, "\(device)", mean, accuracies.last ?? 0))
        print("checkpoint: \(checkpoint.path)\nplot: \(output.appendingPathComponent("training.svg").path)")
    }
}

extension Float {
    var asDouble: Double { Double(self) }
}
