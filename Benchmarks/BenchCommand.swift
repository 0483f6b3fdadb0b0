import Adjoint
import AdjointNN
import ArgumentParser
import Foundation

/// `adjoint-bench`: the shared workloads W1-W7, one JSON line per measurement.
@main
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adjoint-bench",
        abstract: "Run the shared benchmark workloads (../shared/BENCHMARKS.md) and print one JSON line per measurement."
    )

    @Argument(help: "Workloads to run (W1 ... W7; FM: the main job's Fashion-MNIST steps, FM-MLP or FM-CNN for one model; GEMM: the CPU float32 GEMM kernels, one thread); W1-W7 when none are given.")
    var workloads: [String] = []

    @Option(help: "Device: cpu, opencl or opencl:N (default: ADJOINT_DEVICE, else the first OpenCL GPU, else the CPU).")
    var device: String?

    @Option(help: "Size class: cpu or gpu (BENCHMARKS.md's columns). Default: gpu on a GPU device, else cpu.")
    var size: String?

    @Option(help: "Timed repetitions per measurement.")
    var repetitions = 20

    @Option(help: "eager, or jit: W1, W3, W4, W5 and W6 compiled with jit (launches per step before and after fusion reported).")
    var mode = "eager"

    @Flag(help: .hidden)
    var coldStartChild = false

    /// The model of `FM-MLP` or `FM-CNN`.
    private func fashionMNISTKind(_ workload: String) -> Classifier.Kind {
        workload == "FM-CNN" ? .cnn : .mlp
    }

    func run() throws {
        let target = try device.map { text -> Device in
            guard let parsed = Device(parsing: text) else { throw ValidationError("unknown device '\(text)' (cpu, opencl, opencl:N)") }
            return parsed
        } ?? Device.resolveDefault()
        try target.validate()
        if coldStartChild {
            try Workloads.coldStartChild(device: target)
            return
        }
        let isGPU = Device.available.first { $0.device == target }?.isGPU ?? false
        let harness = Harness(device: target, repetitions: repetitions, warmup: 3)
        let suite = Workloads(harness: harness, gpuSizes: (size ?? (isGPU ? "gpu" : "cpu")) == "gpu")
        harness.emit(workload: "env", impl: "adjoint", size: NSNull(), extra: ["date": ISO8601DateFormatter().string(from: Date())])
        let selected = workloads.isEmpty ? ["W1", "W2", "W3", "W4", "W5", "W6", "W7"] : workloads.map { $0.uppercased() }
        if mode == "jit" {
            for workload in selected {
                switch workload {
                case "W1": try suite.w1Jit()
                case "W3": try suite.w3Jit()
                case "W4": try suite.w4Jit()
                case "W5": try suite.w5Jit()
                case "W6": try suite.w6Jit()
                case "FM": try suite.fashionMNIST(jitted: true)
                case "FM-MLP", "FM-CNN": try suite.fashionMNIST(jitted: true, kinds: [fashionMNISTKind(workload)])
                default: continue
                }
            }
            return
        }
        guard mode == "eager" else { throw ValidationError("unknown mode \(mode) (eager, jit)") }
        for workload in selected {
            switch workload {
            case "W1": try suite.w1()
            case "W2": try suite.w2()
            case "W3": try suite.w3()
            case "W4": try suite.w4()
            case "W5": try suite.w5()
            case "W6": try suite.w6()
            case "W7": try suite.w7()
            case "FM": try suite.fashionMNIST()
            case "FM-MLP", "FM-CNN": try suite.fashionMNIST(kinds: [fashionMNISTKind(workload)])
            case "GEMM": try suite.gemmKernels()
            default: throw ValidationError("unknown workload \(workload) (W1 ... W7, FM for the main job's training steps, GEMM for the CPU GEMM kernels)")
            }
        }
    }
}
