import Adjoint
import AdjointNN
import ArgumentParser
import Foundation

/// `adjoint eval`: reloads a checkpoint written by `adjoint train` and measures it.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Reload a checkpoint written by `adjoint train` and report its Fashion-MNIST test accuracy."
    )

    @Argument(help: "The model.safetensors file.")
    var checkpoint: String

    @Option(help: "Device: cpu, opencl or opencl:N.")
    var device: DeviceOption?

    @Option(name: .customLong("data-dir"), help: "Directory with the Fashion-MNIST IDX files.")
    var dataDirectory = FashionMNIST.defaultDirectory.path

    func run() throws {
        let device = try resolveDevice(device)
        let url = URL(fileURLWithPath: checkpoint)
        let metadata = try Checkpoint.metadata(url)
        guard let name = metadata["model"], let kind = Classifier.Kind(rawValue: name) else {
            throw AdjointError.file(path: url.path, reason: "no 'model' entry (mlp or cnn) in the checkpoint's metadata; was it written by adjoint train?")
        }
        let network = Classifier.make(kind, seed: 0, on: device)
        try network.load(from: url)
        let test = try FashionMNIST.load(train: false, directory: URL(fileURLWithPath: dataDirectory))
        let accuracy = try Classifier.accuracy(of: network, on: test, kind: kind, device: device)
        print(String(format: "%@ (%@, %@ epochs) on %@: test accuracy %.4f", url.lastPathComponent, name, metadata["epochs"] ?? "?", "\(device)", accuracy))
        if let recorded = metadata["accuracy"] { print("recorded at training time: \(recorded)") }
    }
}

/// `adjoint bench`: runs the benchmark suite (the adjoint-bench executable beside this one).
struct BenchForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run the benchmark workloads W1-W7 (forwards its arguments to adjoint-bench).",
        discussion: "Example: adjoint bench W1 W3 --device opencl",
        shouldDisplay: true
    )

    @Argument(parsing: .allUnrecognized, help: "Arguments for adjoint-bench (workloads, --device, --size, --repetitions).")
    var arguments: [String] = []

    func run() throws {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let bench = here.appendingPathComponent("adjoint-bench")
        guard FileManager.default.isExecutableFile(atPath: bench.path) else {
            throw AdjointError.file(path: bench.path, reason: "adjoint-bench not found next to adjoint; build it with `swift build -c release --product adjoint-bench`")
        }
        let process = Process()
        process.executableURL = bench
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        if process.terminationStatus != 0 { throw ExitCode(process.terminationStatus) }
    }
}
