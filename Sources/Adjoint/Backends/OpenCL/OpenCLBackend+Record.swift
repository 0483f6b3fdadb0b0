import COpenCL
import Foundation

/// Recording launches into an `OpenCLCommandBuffer` and replaying it: jit's recorded
/// replays (`RecordingBackend`), where one enqueue runs a whole program, or, without
/// `cl_khr_command_buffer`, a launch list enqueues each kernel with nothing else to do.
extension OpenCLBackend: RecordingBackend {
    /// Every device records (a launch list where command buffers are missing), unless
    /// profiling, which times each launch.
    var canRecord: Bool { !profiling }

    /// Where launches are what costs (`launchBound`: GPUs), unless `ADJOINT_JIT_RECORD=0|1` says.
    var recordsByDefault: Bool { ProcessInfo.processInfo.environment["ADJOINT_JIT_RECORD"].map { $0 == "1" } ?? launchBound }

    /// A command buffer's replay is one submission; a launch list's enqueues each kernel,
    /// about half of what launching it costs the host (the H200's driver took ≈ 5 µs of
    /// the 8-14 per jitted launch).
    func replayCost(launches: Int) -> Double {
        commandBuffers != nil ? 1 : max(1, Double(launches) / 2)
    }

    func record(_ body: () throws -> Void) throws -> RecordedCommands {
        guard !profiling else { throw AdjointError.unsupported("recording on \(device): profiling is on") }
        lock.lock()
        defer { lock.unlock() }
        precondition(recording == nil, "OpenCLBackend.record: already recording")
        guard let api = commandBuffers else {
            let list = OpenCLCommandBuffer(buffer: nil, lock: lock)
            recording = list
            defer { recording = nil }
            try body()
            return list
        }
        var status: cl_int = CL_SUCCESS
        var queues: [cl_command_queue?] = [queue]
        var handle: OpaquePointer?
        if api.simultaneousUse {
            let properties: [cl_ulong] = [OpenCLCommandBufferAPI.flagsProperty, OpenCLCommandBufferAPI.simultaneousUseFlag, 0]
            handle = api.create(1, &queues, properties, &status)
        }
        if handle == nil { handle = api.create(1, &queues, nil, &status) }
        guard let handle, status == CL_SUCCESS else { throw OpenCLStatus.error(status, "clCreateCommandBufferKHR") }
        let commands = OpenCLCommandBuffer(buffer: (handle, api), lock: lock)
        recording = commands
        defer { recording = nil }
        try body()
        try OpenCLStatus.check(api.finalize(handle), "clFinalizeCommandBufferKHR(\(commands.commandCount) commands)")
        return commands
    }

    func replay(_ recorded: RecordedCommands) throws {
        let commands = recorded as! OpenCLCommandBuffer
        lock.lock()
        defer { lock.unlock() }
        guard let (handle, api) = commands.buffer else { return try replayList(commands) }
        if let last = commands.lastRun {
            // Without simultaneous use a command buffer runs once at a time.
            if !api.simultaneousUse { try OpenCLStatus.check(clWaitForEvents(1, [last]), "clWaitForEvents(command buffer)") }
            clReleaseEvent(last)
            commands.lastRun = nil
        }
        var event: cl_event?
        try OpenCLStatus.check(api.enqueue(0, nil, handle, 0, nil, &event), "clEnqueueCommandBufferKHR(\(commands.commandCount) commands)")
        commands.lastRun = event
        stats.recordedReplays += 1
        countLaunch(commands.commandCount)
    }

    /// Enqueues a launch list's kernels (lock held). The last one's event is kept, for the
    /// list to wait on before releasing its kernels (PoCL 3.1 does not defer releases).
    private func replayList(_ commands: OpenCLCommandBuffer) throws {
        if let last = commands.lastRun {
            clReleaseEvent(last)
            commands.lastRun = nil
        }
        let count = commands.kernels.count
        for (index, (kernel, size)) in zip(commands.kernels, commands.sizes).enumerated() {
            var event: cl_event?
            let status = index == count - 1
                ? enqueue(kernel, global: size.global, local: size.local, event: &event)
                : enqueue(kernel, global: size.global, local: size.local, event: nil)
            // Launches before a failure have run; the caller's fallback launches the whole
            // program again, which rewrites everything they wrote.
            try OpenCLStatus.check(status, "clEnqueueNDRangeKernel (launch list, command \(index) of \(count))")
            commands.lastRun = event
        }
        stats.recordedReplays += 1
        countLaunch(count)
    }

    func copy(_ source: DeviceBuffer, into target: DeviceBuffer, byteCount: Int) throws {
        guard byteCount > 0 else { return }
        let from = clBuffer(source), to = clBuffer(target)
        precondition(byteCount <= min(from.byteCount, to.byteCount), "copy: \(byteCount) bytes between buffers of \(from.byteCount) and \(to.byteCount)")
        lock.lock()
        defer { lock.unlock() }
        try requireNotRecording("copy")
        try OpenCLStatus.check(clEnqueueCopyBuffer(queue, from.mem, to.mem, 0, 0, byteCount, 0, nil, nil), "clEnqueueCopyBuffer(\(byteCount) bytes)")
    }

    /// Records one launch (lock held): a kernel object of its own, its arguments set once.
    func recordLaunch(_ kernel: Kernel, args: [OpenCLArg], global: [Int], local: [Int]?, into commands: OpenCLCommandBuffer) throws {
        var program: cl_program?
        try OpenCLStatus.check(clGetKernelInfo(kernel.handle, cl_kernel_info(CL_KERNEL_PROGRAM), MemoryLayout<cl_program?>.size, &program, nil), "clGetKernelInfo(\(kernel.name))")
        var status: cl_int = CL_SUCCESS
        guard let own = clCreateKernel(program, kernel.name, &status), status == CL_SUCCESS else {
            throw OpenCLStatus.error(status, "clCreateKernel(\(kernel.name)) for a command buffer")
        }
        commands.kernels.append(own)
        try setArgs(own, named: kernel.name, args)
        guard let (handle, api) = commands.buffer else {
            commands.sizes.append((global, local))
            return
        }
        status = global.withUnsafeBufferPointer { g in
            (local ?? []).withUnsafeBufferPointer { l in
                api.record(handle, nil, nil, own, cl_uint(g.count), nil, g.baseAddress, local == nil ? nil : l.baseAddress, 0, nil, nil, nil)
            }
        }
        try OpenCLStatus.check(status, "clCommandNDRangeKernelKHR(\(kernel.name), global \(global))")
    }

    /// Throws when a command buffer is being recorded (lock held): only launches record;
    /// reads, writes, copies and library calls run at once, out of the recorded order.
    func requireNotRecording(_ what: String) throws {
        if recording != nil { throw AdjointError.unsupported("\(what) on \(device) while recording a command buffer") }
    }
}
