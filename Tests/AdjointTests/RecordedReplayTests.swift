@testable import Adjoint
import AdjointTestSupport
import Foundation
import Testing

/// jit's recorded replays: a program recorded once as an OpenCL command buffer and
/// replayed with one submission per call (`JitOptions.recordReplays`, `RecordedReplays`),
/// against the same program launching each kernel, over the call patterns that decide
/// which memory a recording may bind: inputs that change, inputs that are the last
/// call's outputs, outputs that callers keep. PoCL records (cl_khr_command_buffer 0.9);
/// `ADJOINT_OPENCL_COMMAND_BUFFERS=0` (the test script's third pass) makes recordings
/// launch lists, as on a driver without the extension.
@Suite struct RecordedReplayTests {
    /// The OpenCL device when it records; where it does not, checks that a program asked
    /// to record says it launches its kernels instead, and returns nil.
    static func recordingDevice() -> Device? {
        guard let device = TestDevices.requireOpenCL() else { return nil }
        if (try? DeviceRegistry.shared.backend(for: device) as? RecordingBackend)?.canRecord == true { return device }
        let compiled = jit(options: JitOptions(recordReplays: true)) { (x: Tensor) in x * 2 }
        _ = compiled(Tensor([1, 2] as [Float], on: device))
        #expect(compiled.lastProgram?.recordsReplays == false)
        print("note: \(device) does not record command buffers; recorded-replay checks skipped")
        return nil
    }

    /// A product, a reduction long enough to split into partials the backend allocates
    /// while recording, fused elementwise work, an input passed through, a constant, and
    /// enough launches more (a second product, column and whole reductions) that a replay
    /// copying every input still submits fewer commands than launching.
    static func function(_ t: [Tensor]) -> [Tensor] {
        let product = t[0].matmul(t[1]).relu()
        return [product.sum(axis: 1), (t[2] * 0.5).exp().sum(), product * 2 - 1, t[1], Tensor(3 as Float, on: t[0].device),
                t[0].matmul(t[1].tanh()).max(axis: 0), t[0].tanh().sum(axis: 0), t[2].max()]
    }

    static func inputs(_ seed: UInt64, on device: Device) -> [Tensor] {
        [Tensor.randomNormal([8, 300], seed: seed, on: device), Tensor.randomNormal([300, 5], seed: seed + 1, on: device),
         Tensor.randomNormal([70_000], standardDeviation: 0.1, seed: seed + 2, on: device)]
    }

    @Test func replaysMatchLaunchingEachKernelAsInputsChange() throws {
        guard let device = Self.recordingDevice() else { return }
        let recorded = jit(options: JitOptions(recordReplays: true), Self.function)
        let launched = jit(options: JitOptions(recordReplays: false), Self.function)
        for call in 0..<5 {
            let inputs = Self.inputs(UInt64(10 * call + 1), on: device)
            let want = Self.function(inputs)
            for (index, (got, plain)) in zip(recorded(inputs), launched(inputs)).enumerated() {
                expectClose(got, try want[index].doubles(), tolerance: 1e-4, "call \(call), output \(index)")
                expectClose(got, try plain.doubles(), tolerance: 1e-6, "call \(call), output \(index) against launching each kernel")
            }
        }
        #expect(recorded.lastProgram!.recordsReplays)
        #expect(launched.lastProgram!.recordsReplays == false)
        // The first call binds the caller's buffers; the second finds them changed and
        // records with staging buffers, which every later call copies into.
        let counts = recorded.recordedReplays
        #expect(counts.replays == 5 && counts.recordings == 2, "\(counts)")
        #expect(launched.recordedReplays.replays == 0)
    }

    @Test func outputsCallersKeepAreNeverOverwritten() throws {
        guard let device = Self.recordingDevice() else { return }
        let compiled = jit(options: JitOptions(recordReplays: true), Self.function)
        let fixed = Self.inputs(40, on: device)
        var kept: [[Tensor]] = []
        var wanted: [[Double]] = []
        for call in 0..<6 {
            // One input fixed, two changing: a replay reads the fixed one where it lies.
            let inputs = [fixed[0]] + Array(Self.inputs(UInt64(50 + 10 * call), on: device)[1...])
            kept.append(compiled(inputs))
            wanted += try Self.function(inputs).map { try $0.doubles() }
        }
        for (index, got) in kept.joined().enumerated() {
            expectClose(got, wanted[index], tolerance: 1e-4, "call \(index / 5), output \(index % 5), read after every call ran")
        }
        // Kept outputs are copied out of the frame from the second call on, so frames stay free.
        let counts = compiled.recordedReplays
        #expect(counts.replays == 6 && counts.recordings <= 3, "\(counts)")
    }

    @Test func iterationsFeedingOnTheirOwnOutputsSettleOnTwoFrames() throws {
        guard let device = Self.recordingDevice() else { return }
        let step = { (t: [Tensor]) -> [Tensor] in [t[0] * 0.5 + t[1].sin(), (t[1] * 0.9 + t[0] * 0.1).tanh(), t[0].sum()] }
        let compiled = jit(options: JitOptions(recordReplays: true), step)
        var state = [Tensor.randomNormal([1000], seed: 61, on: device), Tensor.randomNormal([1000], seed: 62, on: device)]
        var eager = state
        for call in 0..<10 {
            let outputs = compiled(state)
            let want = step(eager)
            expectClose(outputs[2], try want[2].doubles(), tolerance: 1e-3, "sum, call \(call)")
            state = Array(outputs[0..<2])
            eager = Array(want[0..<2])
        }
        expectClose(state[0], try eager[0].doubles(), tolerance: 1e-5)
        expectClose(state[1], try eager[1].doubles(), tolerance: 1e-5)
        // Frames: one bound to the first state, one to its outputs, one writing into the
        // first's memory; from the fourth call on the last two alternate.
        let counts = compiled.recordedReplays
        #expect(counts.replays == 10 && counts.recordings == 3, "\(counts)")
    }

    @Test func callsFromSeveralThreadsGetTheirOwnResults() throws {
        // One program called from four threads at once, each with its own inputs and
        // keeping its results: frames are chosen and run one call at a time.
        guard let device = Self.recordingDevice() else { return }
        let compiled = jit(options: JitOptions(recordReplays: true)) { (t: [Tensor]) -> [Tensor] in [(t[0] * 2).exp().sum(axis: 1), t[0].matmul(t[1])] }
        final class Mismatches: @unchecked Sendable {
            let lock = NSLock()
            var found: [String] = []
            func add(_ text: String) { lock.withLock { found.append(text) } }
        }
        let mismatches = Mismatches()
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for call in 0..<6 {
                let inputs = [Tensor.randomNormal([8, 16], seed: UInt64(100 * thread + call), on: device), Tensor.randomNormal([16, 4], seed: 7, on: device)]
                let got = compiled(inputs), want = [(inputs[0] * 2).exp().sum(axis: 1), inputs[0].matmul(inputs[1])]
                for (index, (a, b)) in zip(got, want).enumerated() {
                    let (x, y) = ((try? a.doubles()) ?? [], (try? b.doubles()) ?? [.nan])
                    if x.count != y.count || zip(x, y).contains(where: { abs($0 - $1) > 1e-3 * max(1, abs($1)) }) {
                        mismatches.add("thread \(thread), call \(call), output \(index)")
                    }
                }
            }
        }
        #expect(mismatches.found.isEmpty, "\(mismatches.found)")
        #expect(compiled.recordedReplays.replays > 0, "\(compiled.recordedReplays)")
    }

    @Test func edgeCasesReplayLikeLaunchedPrograms() throws {
        // A rank-0 input, an empty one, int32 and bool values, one tensor passed twice, a
        // transposed view (made contiguous per call), outputs that are an input and a
        // constant, and a program whose only kernels have nothing to do.
        guard let device = Self.recordingDevice() else { return }
        let function = { (t: [Tensor]) -> [Tensor] in
            let scaled = t[3] * t[0] + t[4]
            let counts = (t[2] .> 2).cast(to: .int32) + t[2]
            return [scaled.sum(axis: 0), t[1] * 2, counts, (t[2] .== 3), t[5].exp(), t[2], Tensor(7 as Float, on: t[0].device)]
        }
        let recorded = jit(options: JitOptions(recordReplays: true), function)
        let launched = jit(options: JitOptions(recordReplays: false), function)
        let empty = Tensor.zeros([0, 3], on: device), ints = Tensor([1, 2, 3, 4] as [Int32], on: device)
        for call in 0..<4 {
            let x = Tensor.randomNormal([6, 5], seed: UInt64(80 + call), on: device)
            let inputs = [Tensor(Float(call) + 0.5, on: device), empty, ints, x, x, Tensor.randomNormal([4, 3], seed: 90, on: device).transposed()]
            for (index, (got, want)) in zip(recorded(inputs), launched(inputs)).enumerated() {
                #expect(got.shape == want.shape && got.dtype == want.dtype, "call \(call), output \(index)")
                expectClose(got, try want.doubles(), tolerance: 1e-6, "call \(call), output \(index)")
            }
        }
        // Every call replays where a replay is one submission; a launch list, which
        // enqueues each kernel, stops once three inputs change per call (their copies cost
        // more than its launches save) and launches from then on.
        let backend = try DeviceRegistry.shared.backend(for: device) as! RecordingBackend
        let oneSubmission = backend.replayCost(launches: recorded.lastProgram!.launches) == 1
        #expect(recorded.recordedReplays.replays == (oneSubmission ? 4 : 1), "\(recorded.recordedReplays)")
        let nothing = jit(options: JitOptions(recordReplays: true)) { (t: Tensor) in t * 3 }
        for _ in 0..<2 { #expect(try nothing(empty).doubles().isEmpty) }
        #expect(nothing.recordedReplays.replays == 0, "a program with no launches has nothing to record")
    }

    @Test(arguments: TestDevices.all)
    func programsThatCannotRecordLaunchEachKernel(_ device: Device) throws {
        // Fresh random draws take new seeds per call, which recorded arguments cannot.
        let noisy = jit(options: JitOptions(recordReplays: true)) { (x: Tensor) in x + Tensor.randomNormal(x.shape, on: x.device) }
        let x = Tensor.randomNormal([100], seed: 70, on: device)
        let first = try noisy(x).doubles(), second = try noisy(x).doubles()
        #expect(first != second, "two calls drew the same numbers")
        #expect(noisy.lastProgram?.recordsReplays == false)
        // Likewise draws from a seed stream, which every call advances.
        let stream = SeedStream(seed: 5)
        let seeded = jit(options: JitOptions(recordReplays: true)) { (x: Tensor) in x * Tensor.randomUniform(x.shape, seed: stream.nextSeed(), on: x.device) }
        let drawn = try seeded(x).doubles(), again = try seeded(x).doubles()
        #expect(drawn != again && seeded.lastProgram?.recordsReplays == false)
        // Never asked to record, or on the CPU, which launches function calls.
        let plain = jit(options: JitOptions(recordReplays: false)) { (x: Tensor) in x.exp().sum() }
        _ = plain(x)
        #expect(plain.lastProgram?.recordsReplays == false)
        if device == .cpu {
            let cpu = jit(options: JitOptions(recordReplays: true)) { (x: Tensor) in x.exp().sum() }
            _ = cpu(x)
            #expect(cpu.lastProgram?.recordsReplays == false)
        }
    }


    @Test func programsWhoseInputsAllChangeStopRecordingWhenCopiesCostAsMuch() throws {
        guard let device = Self.recordingDevice() else { return }
        // An optimizer's update as eager code calls it: two launches, every input new each
        // call. A replay would copy both inputs and submit the recording: no saving.
        let update = { (t: [Tensor]) -> [Tensor] in [t[0] - 0.1 * t[1], (t[0] * t[1]).sum()] }
        let compiled = jit(options: JitOptions(recordReplays: true), update)
        for call in 0..<4 {
            let inputs = [Tensor.randomNormal([50], seed: UInt64(call), on: device), Tensor.randomNormal([50], seed: UInt64(100 + call), on: device)]
            for (got, want) in zip(compiled(inputs), update(inputs)) { expectClose(got, try want.doubles(), tolerance: 1e-5, "call \(call)") }
        }
        // The first call records against the caller's buffers and replays; the second
        // finds both inputs changed and launches from then on.
        #expect(compiled.lastProgram!.launches == 2)
        #expect(compiled.recordedReplays.replays == 1 && compiled.recordedReplays.recordings == 1, "\(compiled.recordedReplays)")
        // One input changing, one fixed: a copy and a submission against two launches.
        let fixed = Tensor.randomNormal([50], seed: 9, on: device)
        let partly = jit(options: JitOptions(recordReplays: true), update)
        for call in 0..<4 { _ = try partly([Tensor.randomNormal([50], seed: UInt64(call), on: device), fixed])[0].doubles() }
        #expect(partly.recordedReplays.replays == 1, "\(partly.recordedReplays)")
    }
    @Test func commandBuffersKeepEachLaunchsArguments() throws {
        // Two launches of one kernel with different buffers, recorded, then replayed twice
        // after the inputs change: each command reads what it was recorded with, even on
        // PoCL 3.1, which reads a kernel's arguments when the command runs.
        guard let device = Self.recordingDevice() else { return }
        let backend = try DeviceRegistry.shared.backend(for: device) as! OpenCLBackend
        let a = Tensor([1, 2, 3] as [Float], on: device), b = Tensor([10, 20, 30] as [Float], on: device)
        let outA = try backend.allocate(byteCount: 12), outB = try backend.allocate(byteCount: 12)
        let layout = Layout(contiguous: [3])
        func view(_ buffer: DeviceBuffer) -> BufferView { BufferView(buffer: buffer, layout: layout, dtype: .float32) }
        let commands = try backend.record {
            try backend.execute(.unary(.neg), inputs: [view(a.storage.buffer!)], output: view(outA))
            try backend.execute(.unary(.neg), inputs: [view(b.storage.buffer!)], output: view(outB))
            #expect(throws: AdjointError.self) { try backend.synchronize() }
        }
        #expect(commands.commandCount == 2)
        for _ in 0..<2 { try backend.replay(commands) }
        #expect(try Tensor(storage: Storage(device: device, dtype: .float32, buffer: outA), layout: layout).doubles() == [-1, -2, -3])
        #expect(try Tensor(storage: Storage(device: device, dtype: .float32, buffer: outB), layout: layout).doubles() == [-10, -20, -30])
        // A copy into a recorded input shows in the next replay.
        try backend.copy(b.storage.buffer!, into: a.storage.buffer!, byteCount: 12)
        try backend.replay(commands)
        #expect(try Tensor(storage: Storage(device: device, dtype: .float32, buffer: outA), layout: layout).doubles() == [-10, -20, -30])
    }
}
