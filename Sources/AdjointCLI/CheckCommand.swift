import Adjoint
import AdjointRandomPrograms
import ArgumentParser
import Foundation

/// `adjoint check`: every registered op, forward and backward (and batched under vmap),
/// on a device against the CPU backend: the agreement suite as one command, for machines
/// without a Swift toolchain (the GPU machine).
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check every op (forward, VJP, vmap) on a device against the CPU backend.",
        discussion: """
            Draws each registered op's inputs from a fixed seed, runs the op and the vector-Jacobian \
            product of every input on the CPU backend and on --device, and vmaps the op over a \
            batch of 3 on the device against the per-example results. Prints one line per op and \
            exits non-zero when any element differs by more than --tolerance (relative to max(1, |cpu|)). \
            With --random-programs N, also runs N random programs (the test suite's generator: chains, \
            reductions, products, convolutions, views; values and gradients) compiled with jit against \
            the same programs run eagerly on the device, and eagerly against the CPU, each as accurate \
            as its reference measured against float64.
            """
    )

    @Option(help: "Device to check against the CPU backend: cpu, opencl or opencl:N (default: the default device).")
    var device: DeviceOption?

    @Option(help: "Largest accepted difference, relative to max(1, |CPU value|).")
    var tolerance = 1e-4

    @Option(help: "Only ops whose name contains this text.")
    var only: String?

    @Option(help: "Random programs to run through jit and eagerly; 0 for none.")
    var randomPrograms = 0

    @Option(help: "The first random program's seed (the next ones follow it).")
    var randomProgramSeed: UInt64 = 0

    func run() throws {
        let target = try resolveDevice(device)
        let name = Device.available.first { $0.device == target }?.name ?? "\(target)"
        print("checking \(OpRegistry.all.count) ops on \(target) (\(name)) against the CPU backend, tolerance \(tolerance)")
        var passed = 0, failed = 0
        for op in OpRegistry.all where only.map({ op.name.contains($0) }) ?? true {
            var worst = 0.0, worstWhat = ""
            var sampler = InputSampler(seed: 41 &+ UInt64(op.name.utf8.count))
            for comparison in try op.comparedWithCPU(on: target, sampler: &sampler) {
                let error = Self.error(comparison.actual, comparison.expected)
                if error > worst { (worst, worstWhat) = (error, "\(comparison.shapes) \(comparison.what)") }
            }
            for shapes in op.shapes {
                let batched = try Self.batchedAgreement(op, shapes, sampler: &sampler, on: target)
                if batched > worst { (worst, worstWhat) = (batched, "\(shapes) vmap") }
            }
            let ok = worst <= tolerance
            if ok { passed += 1 } else { failed += 1 }
            let label = op.name.padding(toLength: Swift.max(24, op.name.count), withPad: " ", startingAt: 0)
            print((ok ? "ok   " : "FAIL ") + label + String(format: " worst %.2e", worst) + (ok ? "" : " at \(worstWhat)"))
        }
        print("\(passed) passed, \(failed) failed")
        let programsFailed = try checkRandomPrograms(on: target)
        if failed > 0 || programsFailed > 0 { throw ExitCode(1) }
    }

    /// Runs `randomPrograms` programs through jit against eager runs on `device`, and eager
    /// runs against the CPU's; prints each failure and a summary; returns the failures.
    func checkRandomPrograms(on device: Device) throws -> Int {
        guard randomPrograms > 0 else { return 0 }
        var failed = 0
        for seed in randomProgramSeed..<(randomProgramSeed + UInt64(randomPrograms)) {
            let program = RandomProgram(seed: seed)
            let problems = try program.jitProblems(on: device, againstCPU: device != .cpu).problems
            if !problems.isEmpty {
                failed += 1
                print("FAIL random program \(seed): " + problems.joined(separator: "; ") + "\n\(program)")
            }
        }
        print("random programs: \(randomPrograms - failed) passed, \(failed) failed")
        return failed
    }

    /// vmap of the op over a batch of 3 (every input batched on axis 0) against the stacked
    /// per-example results, both on `device`.
    static func batchedAgreement(_ op: OpInfo, _ shapes: [[Int]], sampler: inout InputSampler, on device: Device) throws -> Double {
        let examples = (0..<3).map { _ in shapes.map { sampler.values($0.reduce(1, *), domain: op.domain) } }
        let perExample = try examples.map { values in try op.apply(zip(values, shapes).map { Tensor(doubles: $0, shape: $1, dtype: .float32, on: device) }).doubles() }
        let stacked = shapes.indices.map { input in
            Tensor(doubles: examples.flatMap { $0[input] }, shape: [3] + shapes[input], dtype: .float32, on: device)
        }
        let batched = try vmap({ (inputs: [Tensor]) in op.apply(inputs) })(stacked).doubles()
        return error(batched, perExample.flatMap { $0 })
    }

    static func error(_ a: [Double], _ b: [Double]) -> Double {
        guard a.count == b.count else { return .infinity }
        return zip(a, b).map { Swift.abs($0 - $1) / Swift.max(1, Swift.abs($1)) }.max() ?? 0
    }
}
