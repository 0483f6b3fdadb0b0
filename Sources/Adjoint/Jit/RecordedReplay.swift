import Foundation

/// Launches recorded once and replayed with one submission (an OpenCL command buffer) or
/// as a launch list (each kernel enqueued with its arguments already set).
protocol RecordedCommands: AnyObject {
    /// The kernels recorded.
    var commandCount: Int { get }
}

/// A backend that records launches to replay them with one submission: jit's recorded
/// replays, which on a GPU cost one enqueue per call where the program has dozens.
protocol RecordingBackend: Backend {
    /// Whether `record` works here (the device records and nothing, profiling say, stops it).
    var canRecord: Bool { get }
    /// Whether programs record when `JitOptions.recordReplays` is nil.
    var recordsByDefault: Bool { get }
    /// Runs `body`, whose launches are recorded instead of enqueued, and returns them
    /// ready to replay. Anything else `body` would enqueue (reads, writes, copies) throws.
    func record(_ body: () throws -> Void) throws -> RecordedCommands
    /// Enqueues the recorded launches, after everything enqueued before.
    func replay(_ commands: RecordedCommands) throws
    /// The host's cost of replaying a recording of `launches` launches, counted in
    /// launches made one by one (1: one submission).
    func replayCost(launches: Int) -> Double
    /// Enqueues a copy of the first `byteCount` bytes of `source` into `target`.
    func copy(_ source: DeviceBuffer, into target: DeviceBuffer, byteCount: Int) throws
}

/// A jitted program's recorded replays: its launches recorded against fixed memory (a
/// frame), then replayed with one submission per call, or one enqueue per kernel and
/// nothing else where the device has no command buffers.
///
/// Recorded commands read and write the buffers they were recorded with, so a frame owns
/// its intermediates and outputs, and binds each input to memory it can trust:
/// - the caller's own buffer, held by the frame, while calls keep passing that buffer
///   (a dataset tensor, weights that do not change);
/// - the output of another frame of this program (a training step's variables are the
///   last call's outputs);
/// - a staging buffer of the frame's own, which each call copies its input into, for an
///   input that changes from call to call (the next batch).
/// A frame runs only when nobody holds the outputs it handed out last time (their storages
/// are gone); an output that callers keep (a loss collected in a list) is copied out of
/// the frame from then on. A new frame takes the memory of the least recently used free
/// frame, which it replaces: so when each call feeds on the last one's outputs, two frames
/// end up alternating, each reading the memory the other writes. Up to `maxFrames` frames
/// live per program; past `maxMisses` recordings in a row without a replay the program
/// stops recording and launches its kernels one by one, as where the backend cannot record.
/// It stops too when a replay would submit as many commands as launching does: a copy
/// per input that changes between calls, and the recording.
final class RecordedReplays: @unchecked Sendable {
    private final class Frame {
        let commands: RecordedCommands
        /// Per input: the memory the commands read.
        let bindings: [DeviceBuffer]
        /// Per input: whether its binding is the frame's staging buffer.
        let staged: [Bool]
        /// Per graph buffer: the memory the commands use (nil: unused).
        let memory: [DeviceBuffer?]
        /// The storages last handed out, by output buffer id; the frame is busy while any lives.
        var handedOut: [Int: WeakStorage] = [:]
        var lastUse = 0

        init(commands: RecordedCommands, bindings: [DeviceBuffer], staged: [Bool], memory: [DeviceBuffer?]) {
            self.commands = commands
            self.bindings = bindings
            self.staged = staged
            self.memory = memory
        }

        var busy: Bool { handedOut.values.contains { $0.storage != nil } }
    }

    private struct WeakStorage {
        weak var storage: Storage?
    }

    private struct WeakBuffer {
        weak var buffer: DeviceBuffer?
    }

    static let maxFrames = 4
    static let maxMisses = 8

    private let lock = NSLock()
    private let backend: RecordingBackend
    private var frames: [Frame] = [] { didSet { produced = nil } }
    /// The memory the frames hand out as outputs, kept until the frames change.
    private var produced: Set<ObjectIdentifier>?
    /// Per input: whether calls have passed different buffers there (it gets staging).
    private var varies: [Bool]
    private var lastInputs: [WeakBuffer]
    /// Output buffer ids whose values callers kept; each run copies them out.
    private var copiedOut: Set<Int> = []
    /// The graph buffers a frame hands out as outputs (not inputs passed through).
    private let outputIDs: Set<Int>
    private var calls = 0
    private var replayed = 0
    private var recorded = 0
    private var misses = 0
    private var stopped = false

    init(backend: RecordingBackend, graph: JitGraph) {
        self.backend = backend
        varies = [Bool](repeating: false, count: graph.inputs.count)
        lastInputs = [WeakBuffer](repeating: WeakBuffer(), count: graph.inputs.count)
        outputIDs = Set(graph.outputs.compactMap(\.bufferID).filter { graph.buffers[$0].input == nil })
    }

    /// Calls replayed from a recording, and recordings made.
    var counts: (replays: Int, recordings: Int) { lock.withLock { (replayed, recorded) } }

    /// Replays `program` on the contiguous `inputs` with one submission, or nil when it
    /// should launch its kernels instead (no frame can run, or recording or replaying
    /// failed: then it stops recording).
    func run(_ program: JitProgram, _ inputs: [Tensor]) -> [Tensor]? {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped else { return nil }
        calls += 1
        let buffers = inputs.map { $0.storage.buffer! }
        let produced = frameOutputs()
        let fromFrame = buffers.map { produced.contains(ObjectIdentifier($0)) }
        noteVariation(buffers, fromFrame: fromFrame)
        // Inputs a new recording would stage: changing between calls, not another frame's output.
        let staging = zip(varies, fromFrame).map { $0 && !$1 }
        // A replay submits a copy per staged input and the recording; launching submits
        // each kernel. An eager helper (an optimizer's update, a loss) whose inputs are
        // new every call saves nothing, and the copies cost device time.
        let copies = staging.filter { $0 }.count
        if Double(copies) + backend.replayCost(launches: program.summary.launches) >= Double(program.summary.launches) {
            stop("each call would copy \(copies) inputs to replay \(program.summary.launches) launches")
            return nil
        }
        let frame: Frame
        if let found = bestFrame(for: buffers) {
            frame = found
            misses = 0
        } else {
            misses += 1
            if misses > RecordedReplays.maxMisses {
                stop("\(RecordedReplays.maxMisses) recordings in a row found no frame to replay")
                return nil
            }
            let donor = frames.indices.filter { !frames[$0].busy }.min { frames[$0].lastUse < frames[$1].lastUse }
            guard donor != nil || frames.count < RecordedReplays.maxFrames else { return nil }
            do {
                frame = try record(program, buffers, staging: staging, memoryOf: donor.map { frames[$0] })
            } catch {
                stop("recording failed: \(error)")
                return nil
            }
            if let donor { frames.remove(at: donor) }
            frames.append(frame)
            recorded += 1
        }
        frame.lastUse = calls
        let graph = program.graph
        var storages: [Int: Storage] = [:]
        do {
            for (index, id) in graph.inputs.enumerated() where frame.bindings[index] !== buffers[index] {
                try backend.copy(buffers[index], into: frame.bindings[index], byteCount: graph.buffers[id].byteCount)
            }
            try backend.replay(frame.commands)
            replayed += 1
            // Kept outputs (never inputs passed through: `copiedOut` holds handed-out ids).
            for id in copiedOut {
                let copy = try backend.allocate(byteCount: graph.buffers[id].byteCount)
                try backend.copy(frame.memory[id]!, into: copy, byteCount: graph.buffers[id].byteCount)
                storages[id] = Storage(device: graph.device, dtype: graph.buffers[id].dtype, buffer: copy)
            }
        } catch {
            // Nothing the caller sees was written: the kernels launch one by one instead.
            stop("replay failed: \(error)")
            return nil
        }
        frame.handedOut = [:]
        return program.outputs { id in
            if let storage = storages[id] { return storage }
            // An input passed through keeps the caller's storage.
            let input = graph.buffers[id].input
            let storage = input.map { inputs[$0].storage } ?? Storage(device: graph.device, dtype: graph.buffers[id].dtype, buffer: frame.memory[id]!)
            storages[id] = storage
            if input == nil { frame.handedOut[id] = WeakStorage(storage: storage) }
            return storage
        }
    }

    /// Marks inputs whose buffer changed since the last call, other than to a frame's output.
    private func noteVariation(_ buffers: [DeviceBuffer], fromFrame: [Bool]) {
        for (index, buffer) in buffers.enumerated() {
            if let previous = lastInputs[index].buffer, previous !== buffer, !fromFrame[index] { varies[index] = true }
            lastInputs[index] = WeakBuffer(buffer: buffer)
        }
    }

    /// The memory the frames hand out as outputs.
    private func frameOutputs() -> Set<ObjectIdentifier> {
        if let produced { return produced }
        let made = Set(frames.flatMap { frame in outputIDs.compactMap { frame.memory[$0].map(ObjectIdentifier.init) } })
        produced = made
        return made
    }

    /// The free frame that runs these inputs with the fewest copies (the latest on a tie).
    /// A frame blocked only because callers kept its outputs marks them copied-out.
    private func bestFrame(for buffers: [DeviceBuffer]) -> Frame? {
        var best: (frame: Frame, copies: Int)?
        for frame in frames {
            var copies = 0
            var matches = true
            for (index, buffer) in buffers.enumerated() where frame.bindings[index] !== buffer {
                guard frame.staged[index] else { matches = false; break }
                copies += 1
            }
            guard matches else { continue }
            if frame.busy {
                for (id, handed) in frame.handedOut where handed.storage != nil { copiedOut.insert(id) }
                continue
            }
            if best == nil || copies < best!.copies || (copies == best!.copies && frame.lastUse > best!.frame.lastUse) { best = (frame, copies) }
        }
        return best?.frame
    }

    /// Records the program against the memory of `donor` (a free frame it replaces) or
    /// fresh memory, binding inputs as the type's doc says (`staging`: per input, whether
    /// it gets a staging buffer).
    private func record(_ program: JitProgram, _ buffers: [DeviceBuffer], staging: [Bool], memoryOf donor: Frame?) throws -> Frame {
        let graph = program.graph
        var memory = [DeviceBuffer?](repeating: nil, count: graph.buffers.count)
        if let donor {
            for (id, slot) in program.plan.slotOf.enumerated() where slot != nil { memory[id] = donor.memory[id] }
        } else {
            let slots = try program.plan.slotBytes.map { try backend.allocate(byteCount: $0) }
            for (id, slot) in program.plan.slotOf.enumerated() { if let slot { memory[id] = slots[slot] } }
        }
        var bindings: [DeviceBuffer] = []
        var staged: [Bool] = []
        for (index, id) in graph.inputs.enumerated() {
            let stage = staging[index]
            let binding = stage ? try backend.allocate(byteCount: graph.buffers[id].byteCount) : buffers[index]
            bindings.append(binding)
            staged.append(stage)
            memory[id] = binding
        }
        let commands = try backend.record {
            try program.launchSteps(on: backend, freshDraws: false, seeds: []) { id in memory[id]! }
        }
        guard commands.commandCount > 0 else { throw AdjointError.unsupported("recording: the program launches nothing (empty tensors)") }
        return Frame(commands: commands, bindings: bindings, staged: staged, memory: memory)
    }

    private func stop(_ reason: String) {
        stopped = true
        frames.removeAll()
        if ProcessInfo.processInfo.environment["ADJOINT_LOG"] == "1" { print("adjoint: jit stops recorded replays on \(backend.device): \(reason)") }
    }
}
