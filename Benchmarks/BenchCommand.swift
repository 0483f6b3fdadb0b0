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

    @Argument(help: "Workloads to run (W1 ... W7; FM: the main job's Fashion-MNIST steps, FM-MLP or FM-CNN for one model; GEMM: the CPU float32 GEMM kernels, one thread; LAUNCH: the host's time per kernel launch; COMPILE: jit's tracing and compile times); W1-W7 when none are given.")
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

    /// Each workload's eager and jit run (nil where a mode does not apply).
    private static let runs: [String: (eager: (@Sendable (Workloads) throws -> Void)?, jit: (@Sendable (Workloads) throws -> Void)?)] = [
        "W1": ({ try $0.w1() }, { try $0.w1Jit() }),
        "W2": ({ try $0.w2() }, nil),
        "W3": ({ try $0.w3() }, { try $0.w3Jit() }),
        "W4": ({ try $0.w4() }, { try $0.w4Jit() }),
        "W5": ({ try $0.w5() }, { try $0.w5Jit() }),
        "W6": ({ try $0.w6() }, { try $0.w6Jit() }),
        "W7": ({ try $0.w7() }, nil),
        "FM": ({ try $0.fashionMNIST() }, { try $0.fashionMNIST(jitted: true) }),
        "FM-MLP": ({ try $0.fashionMNIST(kinds: [.mlp]) }, { try $0.fashionMNIST(jitted: true, kinds: [.mlp]) }),
        "FM-CNN": ({ try $0.fashionMNIST(kinds: [.cnn]) }, { try $0.fashionMNIST(jitted: true, kinds: [.cnn]) }),
        "GEMM": ({ try $0.gemmKernels() }, nil),
        "LAUNCH": ({ try $0.launchOverhead() }, nil),
        "COMPILE": ({ try $0.compileTimes() }, nil),
    ]

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
        let info = Device.available.first { $0.device == target }
        let isGPU = info?.isGPU ?? false
        let harness = Harness(device: target, repetitions: repetitions, warmup: 3)
        let suite = Workloads(harness: harness, gpuSizes: (size ?? (isGPU ? "gpu" : "cpu")) == "gpu")
        harness.emit(workload: "env", impl: "adjoint", size: NSNull(), extra: ["date": ISO8601DateFormatter().string(from: Date()), "command_buffers": info?.recordsCommands ?? false])
        let selected = workloads.isEmpty ? ["W1", "W2", "W3", "W4", "W5", "W6", "W7"] : workloads.map { $0.uppercased() }
        guard mode == "eager" || mode == "jit" else { throw ValidationError("unknown mode \(mode) (eager, jit)") }
        for workload in selected {
            guard let runs = Self.runs[workload] else {
                throw ValidationError("unknown workload \(workload) (W1 ... W7, FM, FM-MLP or FM-CNN for the main job's training steps, GEMM for the CPU GEMM kernels)")
            }
            // A workload without a jit form (W2, W7, GEMM) is skipped in jit mode.
            try (mode == "jit" ? runs.jit : runs.eager)?(suite)
        }
    }
}
